"""bench/routing: time to route a unit to an incident on the seeded city, against plain Dijkstra.

Run with `.venv/bin/python -m bench.routing [--pairs N] [--reps R]`; see README.md here.
"""
