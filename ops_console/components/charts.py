"""Plotly figures with one calm, legible style (large type for wall displays)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import plotly.graph_objects as go

BAND_WARNING = "rgba(179, 89, 0, 0.12)"
BAND_CRITICAL = "rgba(194, 31, 31, 0.12)"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', 'Noto Sans Arabic', sans-serif"


def _base(title: str, rtl: bool = False, wall: bool = False) -> go.Figure:
    fig = go.Figure()
    ink, paper, grid = (
        ("#ffffff", "#0b0b0b", "#30363d") if wall else ("#1f2328", "white", "#eaeef2")
    )
    fig.update_layout(
        title={"text": title, "x": 0.99 if rtl else 0.01, "xanchor": "right" if rtl else "left"},
        font={"family": FONT, "size": 22 if wall else 15, "color": ink},
        margin={"l": 56, "r": 24, "t": 48, "b": 40},
        paper_bgcolor=paper,
        plot_bgcolor=paper,
        height=420 if wall else 320,
        legend={"orientation": "h", "y": -0.2},
        hovermode="x unified",
    )
    fig.update_xaxes(showgrid=True, gridcolor=grid)
    fig.update_yaxes(showgrid=True, gridcolor=grid, zeroline=False)
    return fig


def time_series(
    *,
    title: str,
    unit: str,
    raw: list[tuple[datetime, float]],
    hourly: list[tuple[datetime, float, float, float]],
    warning: float | None,
    critical: float | None,
    below: bool,
    labels: dict[str, str],
    rtl: bool = False,
    wall: bool = False,
) -> go.Figure:
    """Raw readings and hourly means (min-max band) with the rule's warning/critical bands."""
    fig = _base(title, rtl, wall)
    if hourly:
        xs = [h[0] for h in hourly]
        fig.add_scatter(
            x=xs + xs[::-1],
            y=[h[3] for h in hourly] + [h[2] for h in hourly][::-1],
            fill="toself",
            fillcolor="rgba(9, 105, 218, 0.12)",
            line={"width": 0},
            name=labels["range"],
            hoverinfo="skip",
        )
        fig.add_scatter(
            x=xs,
            y=[h[1] for h in hourly],
            mode="lines+markers",
            line={"color": "#0969da", "width": 3},
            name=labels["hourly"],
        )
    if raw:
        fig.add_scatter(
            x=[r[0] for r in raw],
            y=[r[1] for r in raw],
            mode="lines",
            line={"color": "#57606a", "width": 1.5},
            name=labels["raw"],
        )
    values = [r[1] for r in raw] + [h[3] for h in hourly] + [h[2] for h in hourly]
    top = max([*values, critical or 0, warning or 0, 1.0]) * 1.15
    bottom = min([*values, 0.0])
    if warning is not None:
        lo, hi = (bottom, warning) if below else (warning, critical if critical else top)
        fig.add_hrect(
            y0=lo,
            y1=hi,
            fillcolor=BAND_WARNING,
            line_width=0,
            layer="below",
            annotation_text=labels["warning"],
            annotation_position="top left",
        )
    if critical is not None:
        lo, hi = (bottom, critical) if below else (critical, top)
        fig.add_hrect(
            y0=lo,
            y1=hi,
            fillcolor=BAND_CRITICAL,
            line_width=0,
            layer="below",
            annotation_text=labels["critical"],
            annotation_position="top left",
        )
    fig.update_yaxes(title_text=unit, range=[bottom, top])
    return fig


def bars(
    *,
    title: str,
    x: list[str],
    y: list[Any],
    colours: list[str],
    rtl: bool = False,
    y_title: str = "",
    wall: bool = False,
) -> go.Figure:
    """A simple labelled bar chart (values printed on the bars, not only by height)."""
    fig = _base(title, rtl, wall)
    fig.add_bar(
        x=x,
        y=y,
        marker_color=colours,
        text=[str(v) for v in y],
        textposition="outside",
        cliponaxis=False,
    )
    fig.update_layout(showlegend=False)
    # Counts are whole numbers: no 0.2-alert ticks when every bar is zero.
    top = max([float(v) for v in y] + [0.0])
    fig.update_yaxes(
        title_text=y_title, rangemode="tozero", tickformat="d", range=[0, max(top * 1.2, 5)]
    )
    if rtl:
        fig.update_xaxes(autorange="reversed")
    return fig
