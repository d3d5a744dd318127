"""Seed the demo city: Berlin-Adlershof's real road network, drawn districts, sensors and users.

The road network is the OpenStreetMap extract that ships inside the `eclipse-sumo` wheel
(`sumo/tools/game/DRT/osm.net.xml`), read at run time from the installed package.
Map data © OpenStreetMap contributors, ODbL 1.0.
"""

from __future__ import annotations

import importlib.util
import random
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPoint, MultiPolygon, Point, Polygon, box
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from shared.accounts.models import Role
from shared.accounts.schemas import StaffUserCreate
from shared.accounts.service import create_api_client, create_staff_user
from shared.alerts.models import AlertRule
from shared.alerts.service import ensure_default_rules
from shared.districts.models import District, Jurisdiction
from shared.geo import to_db
from shared.incidents.models import Station, Unit, UnitKind, UnitStatus
from shared.roads.models import Intersection, RoadSegment
from shared.sensing.catalogue import METRICS, METRICS_BY_TYPE, SENSOR_MODELS, unit_definition
from shared.sensing.models import (
    Datastream,
    FeatureOfInterest,
    Location,
    ObservedProperty,
    Sensor,
    SensorType,
    Thing,
)
from shared.service_requests.service import seed_service_catalogue

OSM_ATTRIBUTION = "Map data © OpenStreetMap contributors, ODbL 1.0 (via Eclipse SUMO)"
JURISDICTION_CODE = "adlershof-demo"

# Vehicle classes that make a SUMO edge part of the road graph (not footways or tram tracks).
ROAD_VCLASSES = ("passenger", "emergency", "bus", "delivery")

# Districts are not official: the network's hull cut into a 3 x 2 grid in the net's UTM metres.
DISTRICT_GRID = (
    ("nw", "North-West"), ("n", "North"), ("ne", "North-East"),
    ("sw", "South-West"), ("s", "South"), ("se", "South-East"),
)  # fmt: skip
DISTRICT_PROVENANCE = (
    "Drawn for the demo, not an official boundary: the convex hull of the imported road "
    "network, buffered by 60 m, cut into a 3 x 2 grid of equal cells in UTM zone 33N."
)
# Stations per district (in addition to one traffic detector per signalised approach).
STATIONS_PER_DISTRICT = {SensorType.air_quality: 2, SensorType.noise: 2, SensorType.weather: 1}
STATION_PREFIX = {SensorType.air_quality: "AQ", SensorType.noise: "NS", SensorType.weather: "WX"}
# Detectors sit this far upstream of the stop line, like a typical advance loop.
DETECTOR_SETBACK_M = 30.0


@dataclass
class SeedReport:
    """What the seed created, including credentials shown exactly once."""

    counts: dict[str, int] = field(default_factory=dict)
    staff_credentials: list[tuple[str, str, str]] = field(default_factory=list)
    api_key: str = ""
    already_seeded: bool = False


def adlershof_net_path() -> Path:
    """Return the path of the Adlershof SUMO network inside the installed eclipse-sumo wheel."""
    spec = importlib.util.find_spec("sumo")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the eclipse-sumo package is not installed: pip install eclipse-sumo")
    path = Path(next(iter(spec.submodule_search_locations))) / "tools/game/DRT/osm.net.xml"
    if not path.is_file():
        raise RuntimeError(f"Adlershof network not found in eclipse-sumo at {path}")
    return path


def is_seeded(*, session: Session) -> bool:
    """Return True if the demo jurisdiction exists."""
    found = session.scalar(select(Jurisdiction.id).where(Jurisdiction.code == JURISDICTION_CODE))
    return found is not None


def reset_demo(*, session: Session) -> None:
    """Delete every seeded row (the demo owns the whole database)."""
    session.execute(
        text(
            "TRUNCATE thing_location, historical_location_location, historical_location, "
            "datastream, location, feature_of_interest, thing, sensor, observed_property, "
            "road_segment, intersection, district, jurisdiction, staff_user, api_client, "
            "alert_event, alert, alert_rule, datastream_latest, dead_letter, device_credential, "
            "preemption_plan, incident, unit, station "
            "RESTART IDENTITY CASCADE"
        )
    )


def seed_demo(
    *,
    session: Session,
    net_path: Path | None = None,
    reset: bool = False,
    progress: Callable[[str], None] = lambda _m: None,
) -> SeedReport:
    """Import the Adlershof network and create districts, sensors, users and an API client."""
    if is_seeded(session=session):
        if not reset:
            return SeedReport(already_seeded=True, counts=count_rows(session=session))
        progress("resetting the demo city")
        reset_demo(session=session)
    import sumolib  # imported late: it is heavy and only the seed needs it

    path = net_path or adlershof_net_path()
    progress(f"reading {path.name} with sumolib")
    net = sumolib.net.readNet(str(path), withInternal=False)
    to_lonlat = _projector(net)

    jurisdiction = Jurisdiction(
        code=JURISDICTION_CODE,
        name="Berlin-Adlershof (demo city)",
        country_code="DE",
        timezone="Europe/Berlin",
    )
    session.add(jurisdiction)
    session.flush()

    progress("importing intersections and road segments")
    node_ids, signalised_edges = _import_roads(session=session, net=net, to_lonlat=to_lonlat)

    progress("drawing districts")
    districts = _draw_districts(
        session=session, net=net, jurisdiction=jurisdiction, to_lonlat=to_lonlat
    )

    progress("creating sensors")
    _create_sensors(
        session=session,
        districts=districts,
        signalised_edges=signalised_edges,
        to_lonlat=to_lonlat,
        node_ids=node_ids,
    )

    progress("placing emergency stations and units")
    _create_stations_and_units(session=session, districts=districts, to_lonlat=to_lonlat)

    progress("creating the default alert rules")
    ensure_default_rules(session=session)

    progress("seeding the Open311 service catalogue")
    seed_service_catalogue(session=session)

    progress("creating staff users and the Open311 API client")
    report = SeedReport()
    for role in Role:
        password = secrets.token_urlsafe(12)
        create_staff_user(
            session=session,
            data=StaffUserCreate(
                username=role.value,
                display_name=f"Demo {role.value}",
                role=role,
                password=password,
            ),
        )
        report.staff_credentials.append((role.value, password, role.value))
    report.api_key = create_api_client(
        session=session, name="Demo Open311 client", contact_email="open311@example.org"
    ).api_key
    session.flush()
    report.counts = count_rows(session=session)
    return report


def import_road_network(
    *,
    session: Session,
    net_path: Path,
    to_lonlat: Callable[[float, float], tuple[float, float]] | None = None,
) -> dict[str, int]:
    """Import a SUMO network's roads into the road graph; return junction id -> intersection id.

    ``to_lonlat`` places a network that has no map projection (default: the network's own).
    """
    import sumolib  # imported late: it is heavy and only imports need it

    net = sumolib.net.readNet(str(net_path), withInternal=False)
    node_ids, _edges = _import_roads(
        session=session, net=net, to_lonlat=to_lonlat or _projector(net)
    )
    session.flush()
    return node_ids


def count_rows(*, session: Session) -> dict[str, int]:
    """Return the row counts of the seeded city."""
    signalised = select(func.count()).where(Intersection.signalised.is_(True))
    return {
        "intersections": session.scalar(select(func.count()).select_from(Intersection)) or 0,
        "signalised_intersections": session.scalar(signalised) or 0,
        "road_segments": session.scalar(select(func.count()).select_from(RoadSegment)) or 0,
        "districts": session.scalar(select(func.count()).select_from(District)) or 0,
        "sensors": session.scalar(select(func.count()).select_from(Thing)) or 0,
        "datastreams": session.scalar(select(func.count()).select_from(Datastream)) or 0,
        "alert_rules": session.scalar(select(func.count()).select_from(AlertRule)) or 0,
        "stations": session.scalar(select(func.count()).select_from(Station)) or 0,
        "units": session.scalar(select(func.count()).select_from(Unit)) or 0,
    }


# ---------------------------------------------------------------------------------------------
# steps


def _projector(net: Any) -> Callable[[float, float], tuple[float, float]]:
    """Return net x/y (metres, offset UTM 33N) -> (lon, lat) on WGS84."""

    def to_lonlat(x: float, y: float) -> tuple[float, float]:
        lon, lat = net.convertXY2LonLat(x, y)
        return (float(lon), float(lat))

    return to_lonlat


def _is_road(edge: Any) -> bool:
    return any(edge.allows(vc) for vc in ROAD_VCLASSES)


def _tls_by_node(net: Any) -> dict[str, str]:
    """Map junction id -> traffic-light id; joined signals control several junctions."""
    out: dict[str, str] = {}
    for tls in net.getTrafficLights():
        for in_lane, _out_lane, _link in tls.getConnections():
            out[in_lane.getEdge().getToNode().getID()] = tls.getID()
    return out


def _import_roads(
    *, session: Session, net: Any, to_lonlat: Callable[[float, float], tuple[float, float]]
) -> tuple[dict[str, int], list[Any]]:
    edges = sorted((e for e in net.getEdges() if _is_road(e)), key=lambda e: e.getID())
    nodes = {e.getFromNode().getID(): e.getFromNode() for e in edges}
    nodes |= {e.getToNode().getID(): e.getToNode() for e in edges}
    tls_of = _tls_by_node(net)

    rows = []
    for node_id in sorted(nodes):
        node = nodes[node_id]
        x, y = node.getCoord()[:2]
        node_type = node.getType() or ""
        tls_id = tls_of.get(node_id)
        rows.append(
            {
                "external_id": node_id,
                "name": "",
                "signalised": tls_id is not None or node_type.startswith("traffic_light"),
                "tls_id": tls_id,
                "node_type": node_type,
                "geom": to_db(Point(to_lonlat(x, y))),
            }
        )
    result = session.execute(
        insert(Intersection).returning(Intersection.id, Intersection.external_id), rows
    )
    node_ids = {ext: pk for pk, ext in result}

    seg_rows = []
    signalised_edges = []
    for e in edges:
        shape = [to_lonlat(x, y) for x, y in (p[:2] for p in e.getShape())]
        if len(shape) < 2:
            continue
        seg_rows.append(
            {
                "external_id": e.getID(),
                "name": e.getName() or "",
                "road_class": e.getType() or "",
                "source": node_ids[e.getFromNode().getID()],
                "target": node_ids[e.getToNode().getID()],
                "length_m": float(e.getLength()),
                "speed_limit_kmh": round(float(e.getSpeed()) * 3.6, 1),
                "lanes": int(e.getLaneNumber()),
                "geom": to_db(LineString(shape)),
            }
        )
        if e.getToNode().getID() in tls_of or (e.getToNode().getType() or "").startswith(
            "traffic_light"
        ):
            signalised_edges.append(e)
    session.execute(insert(RoadSegment), seg_rows)
    return node_ids, signalised_edges


def _draw_districts(
    *,
    session: Session,
    net: Any,
    jurisdiction: Jurisdiction,
    to_lonlat: Callable[[float, float], tuple[float, float]],
) -> list[tuple[District, Polygon]]:
    pts = [n.getCoord()[:2] for n in net.getNodes()]
    hull = MultiPoint(pts).convex_hull.buffer(60.0)
    minx, miny, maxx, maxy = hull.bounds
    cols, rows = 3, 2
    w, h = (maxx - minx) / cols, (maxy - miny) / rows
    out: list[tuple[District, Polygon]] = []
    for i, (code, label) in enumerate(DISTRICT_GRID):
        row, col = divmod(i, cols)
        # Row 0 is the northern row: y grows northwards in UTM.
        cell = box(minx + col * w, maxy - (row + 1) * h, minx + (col + 1) * w, maxy - row * h)
        part = hull.intersection(cell)
        lonlat = shapely.transform(part, lambda xy: np.array([to_lonlat(x, y) for x, y in xy]))
        geom = lonlat if isinstance(lonlat, MultiPolygon) else MultiPolygon([lonlat])
        district = District(
            jurisdiction_id=jurisdiction.id,
            code=code,
            name=f"Adlershof {label} (drawn)",
            provenance=DISTRICT_PROVENANCE,
            geom=to_db(geom),
        )
        session.add(district)
        out.append((district, part))
    session.flush()
    return out


def _create_sensors(
    *,
    session: Session,
    districts: list[tuple[District, Polygon]],
    signalised_edges: list[Any],
    to_lonlat: Callable[[float, float], tuple[float, float]],
    node_ids: dict[str, int],
) -> None:
    sensors: dict[SensorType, Sensor] = {}
    for st, (name, description) in SENSOR_MODELS.items():
        sensors[st] = Sensor(name=name, description=description)
        session.add(sensors[st])
    props: dict[str, ObservedProperty] = {}
    for code, spec in METRICS.items():
        props[code] = ObservedProperty(code=code, name=spec.name, definition=spec.definition)
        session.add(props[code])
    session.flush()

    def district_of(x: float, y: float) -> District | None:
        p = Point(x, y)
        for district, cell in districts:
            if cell.covers(p):
                return district
        return None

    def add_thing(
        *,
        code: str,
        name: str,
        sensor_type: SensorType,
        xy: tuple[float, float],
        foi_geom: Any,
        foi_name: str,
        properties: dict[str, Any],
    ) -> None:
        district = district_of(*xy)
        loc = Location(name=f"{code} site", geom=to_db(Point(to_lonlat(*xy))))
        foi = FeatureOfInterest(name=foi_name, geom=to_db(foi_geom))
        thing = Thing(
            code=code,
            name=name,
            sensor_type=sensor_type,
            district_id=district.id if district else None,
            properties=properties,
            locations=[loc],
        )
        session.add_all([loc, foi, thing])
        for metric in METRICS_BY_TYPE[sensor_type]:
            spec = METRICS[metric]
            thing.datastreams.append(
                Datastream(
                    name=f"{code} {spec.name}",
                    sensor=sensors[sensor_type],
                    observed_property=props[metric],
                    feature_of_interest=foi,
                    sensor_type=sensor_type,
                    unit_name=spec.unit_name,
                    unit_symbol=spec.unit_symbol,
                    unit_definition=unit_definition(spec),
                    valid_min=spec.valid_min,
                    valid_max=spec.valid_max,
                )
            )

    # One detector per signalised approach, 30 m before the stop line.
    for n, edge in enumerate(sorted(signalised_edges, key=lambda e: e.getID()), start=1):
        line = LineString([p[:2] for p in edge.getShape()])
        at = max(0.0, line.length - DETECTOR_SETBACK_M)
        xy = line.interpolate(at).coords[0][:2]
        approach = LineString([to_lonlat(*p[:2]) for p in edge.getShape()])
        to_node = edge.getToNode().getID()
        add_thing(
            code=f"TD-{n:04d}",
            name=f"Detector {edge.getName() or edge.getID()} approach",
            sensor_type=SensorType.traffic,
            xy=(float(xy[0]), float(xy[1])),
            foi_geom=approach,
            foi_name=f"Approach {edge.getID()} to intersection {node_ids.get(to_node)}",
            properties={
                "edge_id": edge.getID(),
                "intersection_id": node_ids.get(to_node),
                "lanes": edge.getLaneNumber(),
                "free_flow_kmh": round(edge.getSpeed() * 3.6, 1),
            },
        )

    # Environmental stations at deterministic spots inside each district.
    rng = random.Random(20261123)
    counters = dict.fromkeys(STATIONS_PER_DISTRICT, 0)
    for district, cell in districts:
        for st, per in STATIONS_PER_DISTRICT.items():
            for xy in _points_in(cell, per, rng):
                counters[st] += 1
                code = f"{STATION_PREFIX[st]}-{counters[st]:02d}"
                site = Point(to_lonlat(*xy))
                add_thing(
                    code=code,
                    name=f"{SENSOR_MODELS[st][0]} {code}",
                    sensor_type=st,
                    xy=xy,
                    foi_geom=site,
                    foi_name=f"Ambient {st.value.replace('_', ' ')} at {code}",
                    properties={"district_code": district.code},
                )
    session.flush()


def _points_in(poly: Polygon, n: int, rng: random.Random) -> Iterable[tuple[float, float]]:
    """Yield n random points inside poly, kept 100 m from its edge where it is big enough."""
    inner = poly.buffer(-100.0)
    area = inner if not inner.is_empty else poly
    minx, miny, maxx, maxy = area.bounds
    made = 0
    while made < n:
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if area.contains(Point(x, y)):
            made += 1
            yield (x, y)


# Emergency stations (drawn for the demo, not the real ones): code, name, district cell, and
# the units kept there as (call sign, kind). Each sits on the road network node nearest to
# its district cell's representative point, so routing starts on the graph.
STATIONS = (
    ("FW-ADL", "Fire station Adlershof (demo)", "n",
     (("HLF-1", UnitKind.fire), ("HLF-2", UnitKind.fire), ("DLK-1", UnitKind.fire))),
    ("RW-ADL", "Ambulance station Adlershof (demo)", "sw",
     (("RTW-1", UnitKind.ambulance), ("RTW-2", UnitKind.ambulance),
      ("NEF-1", UnitKind.ambulance))),
    ("POL-ADL", "Police post Adlershof (demo)", "se",
     (("FUSTW-1", UnitKind.police), ("FUSTW-2", UnitKind.police))),
)  # fmt: skip


def _create_stations_and_units(
    *,
    session: Session,
    districts: list[tuple[District, Polygon]],
    to_lonlat: Callable[[float, float], tuple[float, float]],
) -> None:
    cells = {district.code: cell for district, cell in districts}
    for code, name, district_code, units in STATIONS:
        rep = cells[district_code].representative_point()
        lon, lat = to_lonlat(rep.x, rep.y)
        pt = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
        # Prefer a junction with both entries and exits, so the station is not on a dead end.
        node_geom = session.scalar(
            select(Intersection.geom)
            .where(
                Intersection.id.in_(select(RoadSegment.source)),
                Intersection.id.in_(select(RoadSegment.target)),
            )
            .order_by(Intersection.geom.op("<->")(pt))
            .limit(1)
        )
        station = Station(code=code, name=name, geom=node_geom)
        session.add(station)
        session.flush()
        for call_sign, kind in units:
            session.add(
                Unit(
                    code=call_sign,
                    kind=kind.value,
                    status=UnitStatus.available.value,
                    station_id=station.id,
                    position=node_geom,
                )
            )
    session.flush()
