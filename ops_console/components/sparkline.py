"""A tiny SVG sparkline for map popups: fetched only when a popup opens (an <img> in it).

Plotly in a Leaflet popup would cost a graph per click; a 2-kB SVG drawn on the server keeps
the popup instant and still shows the trend.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

WIDTH, HEIGHT, PAD = 160, 40, 3


def sparkline_svg(points: list[tuple[datetime, float]], *, title: str) -> str:
    """Return an SVG polyline of the values (time-scaled), or a flat 'no data' line."""
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img"><title>{escape(title)}</title>'
    )
    if len(points) < 2:
        mid = HEIGHT // 2
        return head + (
            f'<line x1="0" y1="{mid}" x2="{WIDTH}" y2="{mid}" stroke="#8a949e" '
            'stroke-dasharray="3 3"/></svg>'
        )
    t0, t1 = points[0][0].timestamp(), points[-1][0].timestamp()
    values = [v for _t, v in points]
    lo, hi = min(values), max(values)
    span_t, span_v = (t1 - t0) or 1.0, (hi - lo) or 1.0
    coords = " ".join(
        f"{PAD + (t.timestamp() - t0) / span_t * (WIDTH - 2 * PAD):.1f},"
        f"{HEIGHT - PAD - (v - lo) / span_v * (HEIGHT - 2 * PAD):.1f}"
        for t, v in points
    )
    return head + (
        f'<polyline points="{coords}" fill="none" stroke="#0550ae" stroke-width="2" '
        'stroke-linejoin="round"/></svg>'
    )
