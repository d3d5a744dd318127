"""Reading any SUMO scenario: its configuration, network facts, signals and our detector layout.

Nothing is written into the user's scenario folder: the sanitised configuration, the detector
file and the actuated programs go to a cache folder (``.twin-cache/`` in the project, or
``SMARTCITY_TWIN_CACHE``), one sub-folder per scenario.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from xml.sax.saxutils import quoteattr

from shared.config import project_root

__all__ = [
    "DETECTOR_ZONE_M",
    "LOOP_SETBACK_M",
    "Detector",
    "Link",
    "Network",
    "Phase",
    "Program",
    "Scenario",
    "ScenarioError",
    "cache_root",
    "load_scenario",
    "prepare_files",
    "read_network",
]

# A queue zone covers the last 50 m before the stop line (about 7 queued cars per lane), the
# reach of a typical stop-line camera; the receiving side gets the same length from its start.
DETECTOR_ZONE_M = 50.0
# Counting loops sit 30 m before the stop line, as the city's own approach detectors do.
LOOP_SETBACK_M = 30.0
_MIN_LANE_M = 2.0
_SHORT_LANE_M = 10.0
_INTERNAL_LANE_M = 20.0


class ScenarioError(Exception):
    """The scenario cannot be used; the message says why in one line."""


def cache_root() -> Path:
    """Return the folder that holds generated scenario files (created on demand)."""
    root = Path(os.environ.get("SMARTCITY_TWIN_CACHE") or project_root() / ".twin-cache")
    root.mkdir(parents=True, exist_ok=True)
    return root


@dataclass(frozen=True)
class Scenario:
    """A SUMO configuration and the files it names, with absolute paths."""

    sumocfg: Path
    net_file: Path
    route_files: tuple[Path, ...]
    additional_files: tuple[Path, ...]
    begin: float
    end: float | None
    step_length: float
    name: str

    @property
    def key(self) -> str:
        """A short stable id of this scenario's inputs (path and modification times)."""
        h = hashlib.sha1()
        for p in (self.sumocfg, self.net_file, *self.route_files, *self.additional_files):
            h.update(str(p).encode())
            h.update(str(p.stat().st_mtime_ns).encode())
        return f"{re.sub(r'[^A-Za-z0-9_.-]', '_', self.name)}-{h.hexdigest()[:10]}"

    def cache_dir(self) -> Path:
        """Return (and create) this scenario's cache folder."""
        path = cache_root() / self.key
        path.mkdir(parents=True, exist_ok=True)
        return path


def _values(root: ET.Element, tag: str) -> list[str]:
    return [el.get("value", "") for el in root.iter(tag) if el.get("value")]


def _files(base: Path, value: str) -> tuple[Path, ...]:
    return tuple((base / v.strip()).resolve() for v in value.split(",") if v.strip())


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read a .sumocfg; raise ScenarioError if it or a file it names cannot be used."""
    cfg = Path(path).expanduser()
    if not cfg.is_file():
        raise ScenarioError(f"no such SUMO configuration: {cfg}")
    try:
        root = ET.parse(cfg).getroot()
    except ET.ParseError as exc:
        raise ScenarioError(f"{cfg} is not valid XML: {exc}") from exc
    if root.tag not in ("configuration", "sumoConfiguration"):
        raise ScenarioError(f"{cfg} is not a SUMO configuration (root element <{root.tag}>)")
    base = cfg.resolve().parent
    nets = _values(root, "net-file")
    if not nets:
        raise ScenarioError(f"{cfg} names no net-file")
    net = _files(base, nets[0])[0]
    routes = tuple(p for v in _values(root, "route-files") for p in _files(base, v))
    if not routes:
        raise ScenarioError(f"{cfg} names no route-files: the twin needs traffic demand")
    adds = tuple(p for v in _values(root, "additional-files") for p in _files(base, v))
    for p in (net, *routes, *adds):
        if not p.is_file():
            raise ScenarioError(f"{cfg} names a file that does not exist: {p}")
    begin = float((_values(root, "begin") or ["0"])[0])
    end_values = _values(root, "end")
    step = float((_values(root, "step-length") or ["1"])[0])
    return Scenario(
        sumocfg=cfg.resolve(),
        net_file=net,
        route_files=routes,
        additional_files=adds,
        begin=begin,
        end=float(end_values[0]) if end_values else None,
        step_length=step,
        name=cfg.name.removesuffix(".sumocfg"),
    )


# ---------------------------------------------------------------------------------------------
# network facts


@dataclass(frozen=True)
class Phase:
    """One phase of a signal program."""

    duration: float
    state: str
    min_dur: float | None = None
    max_dur: float | None = None

    @property
    def is_green(self) -> bool:
        """A green stage: some link has green and none shows yellow."""
        return any(c in "Gg" for c in self.state) and not any(c in "yYu" for c in self.state)


@dataclass(frozen=True)
class Program:
    """A signal program as loaded (from the net or an additional file)."""

    tls_id: str
    program_id: str
    type: str
    offset: str
    phases: tuple[Phase, ...]


@dataclass(frozen=True)
class Link:
    """A signal-controlled connection: link index of the tls, from lane, to lane."""

    index: int
    from_edge: str
    from_lane: str
    to_edge: str
    to_lane: str


@dataclass(frozen=True)
class Detector:
    """A detector we add: a queue zone (E2) or a counting loop (E1)."""

    id: str
    kind: str  # "e2" or "e1"
    role: str  # "in" (approach, at the stop line) or "out" (receiving lane)
    tls_id: str
    lane: str
    pos: float
    length: float  # zone length (E2) or 0 (E1)


@dataclass
class Network:
    """What the twin needs to know about a network, read once with a streaming parser."""

    lane_length: dict[str, float] = field(default_factory=dict)
    lane_speed: dict[str, float] = field(default_factory=dict)
    lane_shape: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    edge_lanes: dict[str, list[str]] = field(default_factory=dict)
    edge_to_node: dict[str, str] = field(default_factory=dict)
    links: dict[str, list[Link]] = field(default_factory=dict)  # tls id -> links
    predecessors: dict[str, list[str]] = field(default_factory=dict)  # lane -> lanes feeding it
    programs: dict[str, Program] = field(default_factory=dict)  # tls id -> active program
    location: dict[str, str] = field(default_factory=dict)
    node_type: dict[str, str] = field(default_factory=dict)  # junction id -> SUMO type
    # Junction id -> the junctions its road edges (as the seed imports them) lead to or come
    # from: what the ETA model (shared.traffic.eta) tells a bend from a junction by.
    node_neighbours: dict[str, set[str]] = field(default_factory=dict)

    def internal_lanes(self, tls_id: str) -> set[str]:
        """Short lanes between two junctions of one joined signal.

        Vehicles reach them only through the same signal's green, and the program's phases
        already pair those greens, so they are not approaches of their own.
        """
        links = self.links[tls_id]
        inbound = {ln.from_lane for ln in links}
        outbound = {ln.to_lane for ln in links}
        return {
            lane
            for lane in inbound & outbound
            if self.lane_length.get(lane, 0.0) < _INTERNAL_LANE_M
        }

    def _feeder(self, lane: str, hops: int = 4) -> str | None:
        """Return the nearest upstream lane of at least 10 m feeding ``lane`` (longest first)."""
        frontier = [lane]
        for _ in range(hops):
            feeders = sorted(
                {f for ln in frontier for f in self.predecessors.get(ln, [])},
                key=lambda ln: (-self.lane_length.get(ln, 0.0), ln),
            )
            if not feeders:
                return None
            if self.lane_length.get(feeders[0], 0.0) >= _SHORT_LANE_M:
                return feeders[0]
            frontier = feeders
        return None

    def position(self, lane: str, pos: float) -> tuple[float, float] | None:
        """Return the network x/y (m) of a position along a lane, or None if unknown."""
        shape = self.lane_shape.get(lane) or []
        if not shape:
            return None
        left = max(0.0, pos)
        for (x0, y0), (x1, y1) in itertools.pairwise(shape):
            seg = ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5
            if left <= seg and seg > 0:
                f = left / seg
                return (x0 + f * (x1 - x0), y0 + f * (y1 - y0))
            left -= seg
        return shape[-1]

    def to_lonlat(self, xy: tuple[float, float]) -> tuple[float, float] | None:
        """Return WGS84 lon/lat of a network x/y, or None for a network without projection."""
        proj = self.location.get("projParameter", "!")
        if proj in ("", "!"):
            return None
        import pyproj  # imported late: only sensor registration needs it

        ox, oy = (float(v) for v in self.location.get("netOffset", "0,0").split(","))
        lon, lat = pyproj.Proj(proj)(xy[0] - ox, xy[1] - oy, inverse=True)
        return (float(lon), float(lat))

    def detectors(self) -> list[Detector]:
        """Return the detector layout: queue zones and loops on every signalised approach."""
        out: list[Detector] = []
        for tls_id in sorted(self.links):
            inbound = sorted({ln.from_lane for ln in self.links[tls_id]})
            outbound = sorted({ln.to_lane for ln in self.links[tls_id]})
            internal = self.internal_lanes(tls_id)
            for lane in inbound:
                if lane in internal:
                    continue
                length = self.lane_length.get(lane, 0.0)
                if length < _SHORT_LANE_M:
                    # A stub lane (netconvert leaves some of a few dm): vehicles queue on the
                    # lane feeding it, so the queue zone goes there; the id stays this lane's.
                    up = self._feeder(lane)
                    if up is not None:
                        up_len = self.lane_length[up]
                        zone = min(DETECTOR_ZONE_M, up_len - 0.5)
                        out.append(
                            Detector(
                                detector_id(tls_id, lane, "in"),
                                "e2",
                                "in",
                                tls_id,
                                up,
                                up_len - 0.1 - zone,
                                zone,
                            )
                        )
                        continue
                if length < _MIN_LANE_M:
                    continue
                zone = min(DETECTOR_ZONE_M, length - 0.5)
                out.append(
                    Detector(
                        detector_id(tls_id, lane, "in"),
                        "e2",
                        "in",
                        tls_id,
                        lane,
                        length - 0.1 - zone,
                        zone,
                    )
                )
                out.append(
                    Detector(
                        detector_id(tls_id, lane, "loop"),
                        "e1",
                        "in",
                        tls_id,
                        lane,
                        max(0.5, length - min(LOOP_SETBACK_M, length / 2)),
                        0.0,
                    )
                )
            for lane in outbound:
                length = self.lane_length.get(lane, 0.0)
                if length < _MIN_LANE_M:
                    continue
                zone = min(DETECTOR_ZONE_M, length - 0.5)
                out.append(
                    Detector(detector_id(tls_id, lane, "out"), "e2", "out", tls_id, lane, 0.1, zone)
                )
        return out  # fmt: skip


def detector_id(tls_id: str, lane: str, role: str) -> str:
    """Return our detector id for a lane of a signal (role: in, out, loop)."""
    return f"twin_{role}_{tls_id}_{lane}"


def _open(path: Path) -> IO[bytes]:
    with path.open("rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else path.open("rb")


# The vehicle classes whose edges the seed imports as roads (shared.seed.demo.ROAD_VCLASSES).
_ROAD_VCLASSES = ("passenger", "emergency", "bus", "delivery")


def _road_lane(lane: ET.Element) -> bool:
    """Whether a lane admits one of the road vehicle classes (SUMO's allow/disallow rules)."""
    allow, disallow = lane.get("allow"), lane.get("disallow")
    if allow is not None:
        allowed = set(allow.split())
        return "all" in allowed or any(v in allowed for v in _ROAD_VCLASSES)
    banned = set((disallow or "").split())
    return "all" not in banned and any(v not in banned for v in _ROAD_VCLASSES)


def _iter_elements(path: Path, tags: set[str]) -> Iterator[ET.Element]:
    with _open(path) as fh:
        for _event, el in ET.iterparse(fh, events=("end",)):
            if el.tag in tags:
                yield el
                if el.tag != "phase":
                    el.clear()


def _program(el: ET.Element) -> Program:
    phases = tuple(
        Phase(
            duration=float(p.get("duration", "0")),
            state=p.get("state", ""),
            min_dur=float(p.get("minDur")) if p.get("minDur") else None,
            max_dur=float(p.get("maxDur")) if p.get("maxDur") else None,
        )
        for p in el.findall("phase")
    )
    return Program(
        tls_id=el.get("id", ""),
        program_id=el.get("programID", "0"),
        type=el.get("type", "static"),
        offset=el.get("offset", "0"),
        phases=phases,
    )


def read_network(scenario: Scenario) -> Network:
    """Read lanes, signal links and the programs active at start from the net and additionals."""
    net = Network()
    first_program: dict[str, Program] = {}
    try:
        tags = {"edge", "connection", "tlLogic", "location", "junction"}
        for el in _iter_elements(scenario.net_file, tags):
            if el.tag == "location":
                net.location = dict(el.attrib)
            elif el.tag == "junction" and el.get("type") != "internal":
                net.node_type[el.get("id", "")] = el.get("type", "")
            elif el.tag == "edge" and el.get("function") != "internal":
                eid = el.get("id", "")
                if not el.get("function") and any(_road_lane(ln) for ln in el.findall("lane")):
                    a, b = el.get("from", ""), el.get("to", "")
                    net.node_neighbours.setdefault(a, set()).add(b)
                    net.node_neighbours.setdefault(b, set()).add(a)
                net.edge_lanes[eid] = [ln.get("id", "") for ln in el.findall("lane")]
                net.edge_to_node[eid] = el.get("to", "")
                for ln in el.findall("lane"):
                    net.lane_length[ln.get("id", "")] = float(ln.get("length", "0"))
                    net.lane_speed[ln.get("id", "")] = float(ln.get("speed", "13.89"))
                    net.lane_shape[ln.get("id", "")] = [
                        (float(x), float(y))
                        for x, y, *_ in (pt.split(",") for pt in ln.get("shape", "").split())
                    ]
            elif el.tag == "connection" and not el.get("from", ":").startswith(":"):
                f, t = el.get("from", ""), el.get("to", "")
                net.predecessors.setdefault(f"{t}_{el.get('toLane')}", []).append(
                    f"{f}_{el.get('fromLane')}"
                )
                if not el.get("tl"):
                    continue
                net.links.setdefault(el.get("tl", ""), []).append(
                    Link(
                        index=int(el.get("linkIndex", "-1")),
                        from_edge=f,
                        from_lane=f"{f}_{el.get('fromLane')}",
                        to_edge=t,
                        to_lane=f"{t}_{el.get('toLane')}",
                    )
                )
            elif el.tag == "tlLogic":
                prog = _program(el)
                # SUMO runs the first program it loads from the net, then any loaded later
                # from additional files replaces it.
                first_program.setdefault(prog.tls_id, prog)
    except ET.ParseError as exc:
        raise ScenarioError(f"{scenario.net_file} is not a readable SUMO network: {exc}") from exc
    net.programs.update(first_program)
    for add in scenario.additional_files:
        try:
            for el in _iter_elements(add, {"tlLogic"}):
                prog = _program(el)
                if prog.phases:
                    net.programs[prog.tls_id] = prog
        except ET.ParseError as exc:
            raise ScenarioError(f"{add} is not readable XML: {exc}") from exc
    net.links = {tls: links for tls, links in net.links.items() if tls in net.programs}
    net.programs = {tls: prog for tls, prog in net.programs.items() if tls in net.links}
    if not net.links:
        raise ScenarioError(f"{scenario.net_file} has no traffic lights: nothing to control")
    return net


# ---------------------------------------------------------------------------------------------
# generated files


@dataclass(frozen=True)
class PreparedFiles:
    """The files a run needs, all inside the scenario's cache folder."""

    sumocfg: Path
    detectors: Path
    fixed: Path
    actuated: Path
    extra_additionals: tuple[Path, ...]  # the scenario's own additionals plus our detectors


def _write_detectors(path: Path, detectors: list[Detector]) -> None:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<additional>"]
    for d in detectors:
        if d.kind == "e2":
            lines.append(
                f"    <laneAreaDetector id={quoteattr(d.id)} lane={quoteattr(d.lane)} "
                f'pos="{d.pos:.2f}" length="{d.length:.2f}" period="60" file="NUL"/>'
            )
        else:
            lines.append(
                f"    <inductionLoop id={quoteattr(d.id)} lane={quoteattr(d.lane)} "
                f'pos="{d.pos:.2f}" period="60" file="NUL"/>'
            )
    lines.append("</additional>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# netconvert's defaults for actuated programs (--tls.min-dur 5, --tls.max-dur 50).
_ACTUATED_MIN_S = 5.0
_ACTUATED_MAX_S = 50.0
FIXED_PROGRAM = "twin_fixed"
ACTUATED_PROGRAM = "twin_actuated"


def _write_programs(path: Path, net: Network, *, actuated: bool) -> None:
    """Write a copy of every active program as fixed-time (static) or actuated.

    A program loaded from an additional file becomes the active one, so loading this file
    switches every signal. The phases and their order stay the network's own.
    """
    program_id = ACTUATED_PROGRAM if actuated else FIXED_PROGRAM
    kind = "actuated" if actuated else "static"
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<additional>"]
    for prog in net.programs.values():
        lines.append(
            f"    <tlLogic id={quoteattr(prog.tls_id)} programID={quoteattr(program_id)} "
            f"type={quoteattr(kind)} offset={quoteattr(prog.offset)}>"
        )
        for ph in prog.phases:
            attrs = f'duration="{ph.duration:g}" state={quoteattr(ph.state)}'
            if actuated and ph.is_green:
                lo = ph.min_dur if ph.min_dur is not None else min(ph.duration, _ACTUATED_MIN_S)
                hi = ph.max_dur if ph.max_dur is not None else max(ph.duration, _ACTUATED_MAX_S)
                attrs += f' minDur="{lo:g}" maxDur="{hi:g}"'
            lines.append(f"        <phase {attrs}/>")
        lines.append("    </tlLogic>")
    lines.append("</additional>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# Sections and options that make sense only in a GUI, or that we set ourselves.
_DROP_SECTIONS = {"gui_only", "output"}
_DROP_OPTIONS = {"tls.all-off", "game", "game.mode", "start", "quit-on-end", "osg-view",
                 "gui-settings-file", "additional-files", "route-files", "net-file",
                 "tripinfo-output", "statistic-output", "summary-output"}  # fmt: skip


def _write_sumocfg(path: Path, scenario: Scenario, extra_additionals: list[Path]) -> None:
    root = ET.parse(scenario.sumocfg).getroot()
    for section in list(root):
        if section.tag in _DROP_SECTIONS:
            root.remove(section)
            continue
        for opt in list(section):
            if opt.tag in _DROP_OPTIONS:
                section.remove(opt)
    inputs = root.find("input")
    if inputs is None:
        inputs = ET.SubElement(root, "input")
    ET.SubElement(inputs, "net-file", value=str(scenario.net_file))
    ET.SubElement(inputs, "route-files", value=",".join(str(p) for p in scenario.route_files))
    adds = [*scenario.additional_files, *extra_additionals]
    ET.SubElement(inputs, "additional-files", value=",".join(str(p) for p in adds))
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def prepare_files(scenario: Scenario, net: Network) -> PreparedFiles:
    """Write the detector file, the actuated programs and a sanitised configuration."""
    folder = scenario.cache_dir()
    detectors = folder / "twin.det.add.xml"
    fixed = folder / "twin.fixed.add.xml"
    actuated = folder / "twin.actuated.add.xml"
    cfg = folder / "twin.sumocfg"
    _write_detectors(detectors, net.detectors())
    _write_programs(fixed, net, actuated=False)
    _write_programs(actuated, net, actuated=True)
    _write_sumocfg(cfg, scenario, [detectors])
    return PreparedFiles(
        sumocfg=cfg,
        detectors=detectors,
        fixed=fixed,
        actuated=actuated,
        extra_additionals=(*scenario.additional_files, detectors),
    )
