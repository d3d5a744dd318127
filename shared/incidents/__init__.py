"""Incidents, emergency units, dispatch routing and signal pre-emption plans."""
