"""Which readings take the bridge's urgent lane, and how the bridge learns it from the workers.

A reading is urgent when it may open, escalate or resolve an alert under a threshold rule on its
metric (for its sensor type; any type when the reading does not say, as in a gateway's SenML
pack):

* it is at or beyond the rule's warning or critical level (it may open or escalate one), or
* it is not, and it follows such a reading of its datastream that this bridge saw: the
  reading right after one, or any within `STICKY_S` of one by the sensor's own clock (it may
  resolve one).

Each bridge sees only its share of the stream (an MQTT shared subscription deals messages out
in turn), so the test cannot rest on what this bridge saw before, as a replay of the worker's
state machine would: with two bridges, a sensor's readings alternate between them, and a
reading that opens an alert would go to the bulk lane whenever the other bridge had seen its
previous one (measured: a replay sent a third of the bench's probes to the bulk lane, where
they waited behind, and held locks against, the urgent ones). Level tests need no history; the
window catches the resolving reading of a sensor that reports often, and the bridge's own last
reading that of one that reports rarely. A sensor that stays at alert level sends all its
readings urgently; the worker still decides what each changes, so the lane only decides how
soon. Geofences, hysteresis, and window, rate and stale rules are not checked here: their
readings take the bulk lane unless a level test picks them.

The workers own the rules (database, `shared.pipeline.RuleCache`); the bridge never reads the
database. So a worker serving the urgent queue writes the threshold levels to Redis
(`URGENT_LEVELS_KEY`, with a TTL) every few seconds, and each bridge polls that key
(`RedisUrgentLevels`). Until a worker has written it, or once it expired (no urgent-lane worker
has run for `URGENT_LEVELS_TTL_S`), nothing is urgent: everything takes the bulk lane.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence

import msgspec

from shared.ingest.schemas import Reading

log = logging.getLogger(__name__)

URGENT_LEVELS_KEY = "smartcity:ingest:urgent-levels"
# Short-lived on purpose: once the last urgent-lane worker is gone, bridges must stop sending to
# a queue nobody serves (each such batch holds its acks until the confirmation timeout).
URGENT_LEVELS_TTL_S = 6  # rewritten every URGENT_PUBLISH_S (shared.tasks.ingest) by each one
URGENT_REFRESH_S = 1.0  # how often a bridge re-reads the levels (one GET)


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

STICKY_S = 5.0  # seconds (sensor clock) after an alert-level reading when any reading is urgent
MAX_TRACKED = 100_000  # datastreams with a recent alert-level reading remembered at once
_Check = tuple[str, bool, float]  # sensor type, above, the lower of the rule's two levels


class UrgentLevels:
    """A predicate on readings: True if a reading may open, escalate or resolve an alert.

    Stateful: call it once per reading, in the order of receipt (the bridge's network thread).
    """

    def __init__(self, levels: Iterable[UrgentLevel] = (), *, sticky_s: float = STICKY_S) -> None:
        self._by_metric: dict[str, tuple[_Check, ...]] = {}
        self.sticky_s = sticky_s
        # (sensor, metric) -> (time of its last alert-level reading, was its last reading one)
        self._hot: dict[tuple[str, str], tuple[float, bool]] = {}
        self.set(levels)

    def set(self, levels: Iterable[UrgentLevel]) -> None:
        """Replace the levels (one assignment: the bridge's threads see old or new, never half)."""
        by_metric: dict[str, list[_Check]] = {}
        for lv in levels:
            # The warning level is the nearer one; a rule may have only a critical level.
            level = lv.warning if lv.warning is not None else lv.critical
            if level is not None:
                by_metric.setdefault(lv.metric, []).append((lv.sensor_type, lv.above, level))
        self._by_metric = {m: tuple(v) for m, v in by_metric.items()}

    @property
    def count(self) -> int:
        """Return how many levels are set."""
        return sum(len(v) for v in self._by_metric.values())

    def at_level(self, reading: Reading) -> bool:
        """Tell whether some rule's warning (or critical) level is reached."""
        return _at_level(self._by_metric.get(reading.metric, ()), reading)

    def __call__(self, reading: Reading) -> bool:
        return self.flags((reading,))[0]

    def flags(self, readings: Sequence[Reading]) -> list[bool]:
        """Return the predicate of each reading, in order (the bridge calls it once a message:
        one call per reading cost about half of the predicate's 1 us a reading)."""
        by_metric = self._by_metric
        hot = self._hot
        sticky_s = self.sticky_s
        out: list[bool] = []
        for reading in readings:
            checks = by_metric.get(reading.metric)
            if checks is None:
                out.append(False)
                continue
            key = (reading.sensor, reading.metric)
            if _at_level(checks, reading):
                if key not in hot and len(hot) >= MAX_TRACKED:
                    hot.clear()
                hot[key] = (reading.ts, True)
                out.append(True)
                continue
            seen = hot.get(key)
            if seen is None:
                out.append(False)
                continue
            last_hot, was_hot = seen
            if reading.ts - last_hot > sticky_s:
                del hot[key]  # forgotten: the dict holds only datastreams near alert level
                out.append(was_hot)
                continue
            hot[key] = (last_hot, False)
            out.append(True)
        return out


def _at_level(checks: tuple[_Check, ...], reading: Reading) -> bool:
    value = reading.value
    kind = reading.sensor_type
    for sensor_type, above, level in checks:
        if (not kind or kind == sensor_type) and (value >= level if above else value <= level):
            return True
    return False


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
