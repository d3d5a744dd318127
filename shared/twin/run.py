"""`smartcity twin run`: a scenario in step with the platform.

Every detector of the scenario is a registered traffic sensor. Each ``publish_every_s``
simulated seconds the twin publishes its readings over MQTT on
``city/<district>/traffic/<code>`` into the real ingestion path (bridge -> Celery -> worker ->
PostGIS). The platform controller reads the stored latest values back from the database, as it
would read a real city's detectors, and its signal states go back into SUMO. The run also
follows the platform's decisions (shared/twin/live.py): approved pre-emption plans drive a unit
through the simulation with their green windows, and pushed signal plans become SUMO programs.

What the controller gets from a queue zone is its occupancy (% of the zone covered by vehicles)
and mean speed: vehicles in the zone = occupancy x zone length / 5 m (SUMO's passenger car
length), all of them standing if the mean speed is under 5 km/h.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
import paho.mqtt.client as mqtt

from shared.db import session_scope
from shared.ingest.topics import sensor_topic
from shared.traffic.adaptive import DetectorReading
from shared.twin.controllers import Controller, PlatformControl
from shared.twin.engine import running
from shared.twin.evaluate import open_scenario, sumo_args
from shared.twin.live import LiveFollower, SignalOwners
from shared.twin.service import TwinSensor, latest_readings, register_twin_sensors, sensor_prefix

__all__ = ["RunSummary", "run_twin"]

_CAR_LENGTH_M = 5.0
_STANDING_KMH = 5.0
# The worker looks unknown sensors up again at most every 5 s (DatastreamCache.miss_refresh_s).
_NEW_SENSOR_WAIT_S = 6.0


@dataclass(frozen=True)
class RunSummary:
    """What a `twin run` did."""

    scenario: str
    sensor_prefix: str
    sensors: int
    sensors_new: int
    signals: int
    simulated_s: float
    wall_s: float
    messages_published: int
    readings_read_back: int
    signal_decisions: int
    # What the twin followed from the platform (shared/twin/live.py).
    preemption_runs: list[dict[str, Any]] = field(default_factory=list)
    signal_plans_applied: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the summary as a plain dict (JSON-ready)."""
        return asdict(self)


def _mqtt_client(url: str) -> mqtt.Client:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise ValueError(f"not an mqtt:// URL: {url!r}")
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311,
                         client_id=f"smartcity-twin-{int(time.time() * 1000) % 10**9}")  # fmt: skip
    if parts.username:
        client.username_pw_set(unquote(parts.username), unquote(parts.password or ""))
    client.max_queued_messages_set(0)
    client.connect(parts.hostname, parts.port or 1883, keepalive=60)
    client.loop_start()
    return client


class _Publisher:
    """Collects detector readings between publications and sends them as JSON readings."""

    def __init__(self, sim: Any, sensors: list[TwinSensor], client: mqtt.Client) -> None:
        self._sim, self._client = sim, client
        self._zones = [s for s in sensors if s.detector.kind == "e2"]
        self._loops = [s for s in sensors if s.detector.kind == "e1"]
        self._seen: dict[str, set[str]] = {s.detector.id: set() for s in self._loops}
        self._occ: dict[str, float] = dict.fromkeys(self._seen, 0.0)
        self._speed: dict[str, list[float]] = {k: [] for k in self._seen}
        self._steps = 0
        self.published = 0
        self.last: mqtt.MQTTMessageInfo | None = None

    def sample(self) -> None:
        """Accumulate the loops' vehicles, occupancy and speeds over the interval."""
        loop = self._sim.inductionloop
        for s in self._loops:
            det = s.detector.id
            self._seen[det].update(loop.getLastStepVehicleIDs(det))
            self._occ[det] += loop.getLastStepOccupancy(det)
            v = loop.getLastStepMeanSpeed(det)
            if v >= 0:
                self._speed[det].append(v)
        self._steps += 1

    def publish(self) -> None:
        """Send one reading per sensor, stamped now (the platform's receive-time window)."""
        ts = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        area = self._sim.lanearea
        for s in self._zones:
            det = s.detector.id
            payload: dict[str, Any] = {
                "ts": ts,
                "occupancy": round(area.getLastStepOccupancy(det), 2),
            }
            speed = area.getLastStepMeanSpeed(det)
            if speed >= 0 and area.getLastStepVehicleNumber(det) > 0:
                payload["speed"] = round(speed * 3.6, 1)
            self._send(s, payload)
        for s in self._loops:
            det = s.detector.id
            payload = {
                "ts": ts,
                "vehicle_count": len(self._seen[det]),
                "occupancy": round(self._occ[det] / max(1, self._steps), 2),
            }
            if self._speed[det]:
                payload["speed"] = round(sum(self._speed[det]) / len(self._speed[det]) * 3.6, 1)
            self._send(s, payload)
            self._seen[det].clear()
            self._occ[det] = 0.0
            self._speed[det].clear()
        self._steps = 0

    def _send(self, s: TwinSensor, payload: dict[str, Any]) -> None:
        topic = sensor_topic(district=s.district, sensor_type="traffic", sensor_id=s.code)
        self.last = self._client.publish(topic, orjson.dumps(payload), qos=1)
        self.published += 1


class _StoredReadings:
    """The controller's view: latest stored readings of the queue zones, refreshed on demand."""

    def __init__(self, sensors: list[TwinSensor], prefix: str) -> None:
        self._prefix = prefix
        self._by_code = {s.code: s.detector for s in sensors if s.detector.kind == "e2"}
        self.readings: dict[str, DetectorReading] = {}
        self.read_back = 0

    def refresh(self) -> None:
        with session_scope() as session:
            rows = latest_readings(session=session, prefix=self._prefix)
        occupancy: dict[str, float] = {}
        speed: dict[str, float] = {}
        for r in rows:
            if r.code in self._by_code:
                (occupancy if r.metric == "occupancy" else speed)[r.code] = r.value
        fresh: dict[str, DetectorReading] = {}
        for code, occ in occupancy.items():
            det = self._by_code[code]
            vehicles = occ / 100.0 * det.length / _CAR_LENGTH_M
            standing = vehicles if speed.get(code, 0.0) < _STANDING_KMH else 0.0
            fresh[det.id] = DetectorReading(det.id, vehicles, det.length, standing)
        self.readings = fresh
        self.read_back += len(fresh)

    def __call__(self) -> dict[str, DetectorReading]:
        return self.readings


def run_twin(
    *,
    sumocfg: str | Path,
    mqtt_url: str,
    speed: float = 1.0,
    end: float | None = None,
    seed: int = 42,
    publish_every_s: float = 10.0,
    read_every_s: float = 5.0,
    progress: Callable[[str], None] | None = None,
    emit: Callable[[str, dict[str, Any]], None] | None = None,
) -> RunSummary:
    """Run the scenario paced at ``speed`` x real time (0: as fast as possible) with the platform.

    Approved pre-emption plans and pushed signal plans are followed in the simulation
    (shared/twin/live.py); ``emit`` sends the twin's events to the consoles.

    Raises:
        ValueError: a bad speed, interval or MQTT URL.
    """
    if not math.isfinite(speed) or speed < 0:
        raise ValueError(f"--speed must be a number >= 0, got {speed!r}")
    if publish_every_s <= 0 or read_every_s <= 0:
        raise ValueError("publish and read intervals must be positive")
    say = progress or (lambda _msg: None)
    scenario, net, files = open_scenario(sumocfg)
    stop = float(end if end is not None else scenario.end or 3600.0)
    detectors = net.detectors()
    with session_scope() as session:
        sensors, created = register_twin_sensors(
            session=session, scenario_name=str(scenario.sumocfg), net=net, detectors=detectors
        )
    prefix = sensor_prefix(str(scenario.sumocfg))
    say(f"{len(sensors)} detectors registered as {prefix}-NNNN ({created} new)")
    if created:
        time.sleep(_NEW_SENSOR_WAIT_S)
    client = _mqtt_client(mqtt_url)
    stored = _StoredReadings(sensors, prefix)
    decisions = 0
    started = time.perf_counter()
    args = sumo_args(files, controller=Controller.platform, end=stop, seed=seed,
                     begin=scenario.begin)  # fmt: skip
    try:
        with running(args) as sim:
            publisher = _Publisher(sim, sensors, client)
            control = PlatformControl(sim, net, readings=stored)
            follower = LiveFollower(sim, net, owners=SignalOwners(control), emit=emit, say=say)
            follower.poll(force=True)
            begin = sim.simulation.getTime()
            next_publish, next_read, next_decision = begin + publish_every_s, begin, begin
            while sim.simulation.getTime() < stop:
                now = sim.simulation.getTime()
                if now >= next_read:
                    stored.refresh()
                    next_read = now + read_every_s
                follower.poll()
                if now >= next_decision:
                    control.step()
                    decisions += 1
                    next_decision = math.floor(now) + 1.0
                sim.simulationStep()
                follower.step()
                publisher.sample()
                now = sim.simulation.getTime()
                if now >= next_publish:
                    publisher.publish()
                    next_publish = now + publish_every_s
                    say(f"t={now:.0f} s: {publisher.published} readings published, "
                        f"{len(stored.readings)} zones read back")  # fmt: skip
                if speed > 0:
                    ahead = (now - begin) / speed - (time.perf_counter() - started)
                    if ahead > 0:
                        time.sleep(ahead)
            simulated = sim.simulation.getTime() - begin
            followed = follower.summary()
            if publisher.last is not None:
                publisher.last.wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()
    return RunSummary(
        scenario=str(scenario.sumocfg),
        sensor_prefix=prefix,
        sensors=len(sensors),
        sensors_new=created,
        signals=len(control.signal_ids),
        simulated_s=simulated,
        wall_s=round(time.perf_counter() - started, 2),
        messages_published=publisher.published,
        readings_read_back=stored.read_back,
        signal_decisions=decisions,
        **followed,
    )
