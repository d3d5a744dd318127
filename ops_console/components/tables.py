"""A console table in its scroll box: keyboard-reachable and named, as axe requires."""

from __future__ import annotations

from typing import Any

from dash import html


def data_table(head: list[str], rows: list[Any], label: str, *, caption: bool = True) -> html.Div:
    """Return a table with column headers in a focusable, labelled scroll region."""
    parts: list[Any] = [html.Caption(label)] if caption else []
    return html.Div(
        html.Table(
            [
                *parts,
                html.Thead(html.Tr([html.Th(h, scope="col") for h in head])),
                html.Tbody(rows),
            ],
            className="table",
        ),
        className="table-wrap",
        # A scroll box must be reachable by keyboard (axe: scrollable-region-focusable).
        tabIndex="0",
        role="region",
        **{"aria-label": label},
    )
