"""`python -m bench.api`: the citizen API under 500 concurrent clients, against a bare baseline."""
