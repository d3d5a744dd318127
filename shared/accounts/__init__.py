"""Staff users, citizens and API clients."""
