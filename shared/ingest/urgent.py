"""Which readings take the bridge's urgent lane, and how the bridge learns it from the workers.

A reading is urgent when it would change its datastream's alert under a threshold rule on its
metric, by the worker's own state machine (shared.alerts.service), replayed on the readings
this bridge saw: from ok, reaching the warning or the critical level opens an alert; from
warning, reaching critical escalates it; from warning or critical, clearing the warning level
by the rule's hysteresis resolves it. Anything else (a value that moves about inside a band, or
drops from critical to warning, which changes no alert) takes the bulk lane, so a sensor that
stays loud for an hour, or hovers around a level, sends no stream of urgent readings. The rule
applies to the reading's sensor type (to any type when the reading does not say, as in a
gateway's SenML pack). The first reading a bridge sees of a datastream starts from ok.

Each bridge sees its share of the stream only, so it may send a reading urgently that changes
nothing (one small task) or miss a change that another bridge saw (that alert then waits for a
bulk batch); geofences are not checked here either. The lane only decides how soon; the worker
still decides what. Window, rate and stale rules are not predicted: their readings take the
bulk lane.

The workers own the rules (database, `shared.pipeline.RuleCache`); the bridge never reads the
database. So a worker serving the urgent queue writes the threshold levels to Redis
(`URGENT_LEVELS_KEY`, with a TTL) every few seconds, and each bridge polls that key
(`RedisUrgentLevels`). Until a worker has written it, or once it expired (no urgent-lane worker
has run for `URGENT_LEVELS_TTL_S`), nothing is urgent: everything takes the bulk lane.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

import msgspec

from shared.ingest.schemas import Reading

log = logging.getLogger(__name__)

URGENT_LEVELS_KEY = "smartcity:ingest:urgent-levels"
URGENT_LEVELS_TTL_S = 120  # written on every rule reload (every 15 s per worker process)
URGENT_REFRESH_S = 5.0  # how often a bridge re-reads the levels: an admin's edit applies soon


class UrgentLevel(msgspec.Struct, array_like=True, frozen=True):
    """A threshold rule's levels, as the bridge needs them."""

    sensor_type: str
    metric: str
    above: bool  # the rule fires at or above its levels (Direction.above), else at or below
    warning: float | None
    critical: float | None
    hysteresis: float = 0.0  # an alert resolves once the value clears `warning` by this much


levels_encoder = msgspec.json.Encoder()
levels_decoder = msgspec.json.Decoder(list[UrgentLevel])

OK, WARNING, CRITICAL = 0, 1, 2
_Check = tuple[str, bool, float | None, float | None, float]
MAX_TRACKED = 1_000_000  # datastreams whose alert states are remembered (then start afresh)


class UrgentLevels:
    """A predicate on readings: True if a reading would open, escalate or resolve an alert.

    Stateful: call it once per reading, in the order of receipt (the bridge's network thread).
    """

    def __init__(self, levels: Iterable[UrgentLevel] = ()) -> None:
        self._by_metric: dict[str, tuple[_Check, ...]] = {}
        # (sensor, metric) -> the state under each of the metric's checks, in their order
        self._states: dict[tuple[str, str], list[int]] = {}
        self.set(levels)

    def set(self, levels: Iterable[UrgentLevel]) -> None:
        """Replace the levels (one assignment: the bridge's threads see old or new, never half)."""
        by_metric: dict[str, list[_Check]] = {}
        for lv in levels:
            by_metric.setdefault(lv.metric, []).append(
                (lv.sensor_type, lv.above, lv.warning, lv.critical, lv.hysteresis)
            )
        self._states = {}  # states refer to the old checks' order
        self._by_metric = {m: tuple(v) for m, v in by_metric.items()}

    @property
    def count(self) -> int:
        """Return how many levels are set."""
        return sum(len(v) for v in self._by_metric.values())

    def __call__(self, reading: Reading) -> bool:
        checks = self._by_metric.get(reading.metric)
        if not checks:
            return False
        key = (reading.sensor, reading.metric)
        states = self._states.get(key)
        if states is None:
            if len(self._states) >= MAX_TRACKED:
                self._states.clear()
            states = self._states[key] = [OK] * len(checks)
        value = reading.value
        kind = reading.sensor_type
        changed = False
        for i, (sensor_type, above, warning, critical, hysteresis) in enumerate(checks):
            if kind and kind != sensor_type:
                continue
            state = states[i]
            new = state
            if critical is not None and (value >= critical if above else value <= critical):
                new = CRITICAL  # opens, or escalates a warning
            elif (
                state == OK
                and warning is not None
                and (value >= warning if above else value <= warning)
            ):
                new = WARNING
            elif state != OK:
                # As RuleSpec.clears: resolved only once clear of `warning` by the hysteresis.
                level = warning if warning is not None else critical
                assert level is not None
                if value < level - hysteresis if above else value > level + hysteresis:
                    new = OK
            if new != state:
                states[i] = new
                changed = True
        return changed


class RedisUrgentLevels(UrgentLevels):
    """UrgentLevels kept up to date from Redis by a daemon thread (the bridge's side)."""

    def __init__(self, redis_url: str, *, refresh_s: float = URGENT_REFRESH_S) -> None:
        import redis

        super().__init__()
        self._redis = redis.Redis.from_url(redis_url)
        self._refresh_s = refresh_s
        self._stop = threading.Event()
        self._loaded = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="urgent-levels", daemon=True)
        self._thread.start()

    def wait_loaded(self, timeout: float) -> bool:
        """Wait for the first poll (whatever it found); False on timeout."""
        return self._loaded.wait(timeout)

    def refresh(self) -> None:
        """Read the levels now (nothing urgent if the key is missing or unreadable)."""
        raw = self._redis.get(URGENT_LEVELS_KEY)
        try:
            levels = levels_decoder.decode(raw) if raw else []
        except msgspec.DecodeError:
            log.warning("unreadable urgent levels in %s; urgent lane off", URGENT_LEVELS_KEY)
            levels = []
        self.set(levels)

    def close(self) -> None:
        """Stop polling."""
        self._stop.set()
        self._thread.join()
        self._redis.close()

    def _poll(self) -> None:
        while True:
            try:
                self.refresh()
            except Exception:  # Redis away: keep the last levels, try again later
                log.warning("could not read urgent levels from Redis", exc_info=True)
            self._loaded.set()
            if self._stop.wait(self._refresh_s):
                return
