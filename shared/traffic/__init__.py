"""Traffic measures derived from detector and probe data."""
