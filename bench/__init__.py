"""Benchmarks: each prints our figure, a baseline's, and the ratio (medians of repeated runs)."""
