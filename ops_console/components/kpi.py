"""KPI tiles: a label, a big value, and an optional icon so status never rests on colour."""

from __future__ import annotations

from dash import html


def tile(
    label: str, value: str, cls: str = "", icon: str = "", note: str = "", text: bool = False
) -> html.Div:
    """Return one KPI tile; `text` sets a word (not a number) in smaller type."""
    return html.Div(
        [
            html.P(label, className="tile-label"),
            html.P(
                [html.Span(icon + " ", **{"aria-hidden": "true"}) if icon else None, value],
                className="tile-value tile-text" if text else "tile-value",
            ),
            html.P(note, className="tile-note") if note else None,
        ],
        className=f"tile {cls}",
    )
