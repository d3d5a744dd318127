"""Reusable pieces of the console's pages."""
