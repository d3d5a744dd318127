"""Jurisdictions and their districts."""
