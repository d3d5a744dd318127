"""Which readings take the bridge's urgent lane, and how the bridge learns it from the workers.

A reading is urgent when it moves its datastream into another band of a threshold rule on its
metric (ok / warning / critical, for its sensor type; any type when the reading does not say,
as in a gateway's SenML pack), compared with the last reading of that datastream this bridge
saw: a reading that may open, escalate or resolve an alert. Readings that stay in their band
take the bulk lane, so a sensor that stays loud for an hour sends one urgent reading, not every
one. The first reading a bridge sees of a datastream counts as a change if it is outside the
ok band. Each bridge sees its share of the stream only, so it may send a reading urgently that
changes nothing (one small task) or miss a change that another bridge saw (that alert then
waits for a bulk batch); geofences and hysteresis are not checked here, for the same reason:
the lane only decides how soon, the worker still decides what. Window, rate and stale rules are
not predicted: their readings take the bulk lane.

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


levels_encoder = msgspec.json.Encoder()
levels_decoder = msgspec.json.Decoder(list[UrgentLevel])

_Check = tuple[str, bool, float | None, float | None]
MAX_TRACKED = 1_000_000  # datastreams whose last band is remembered (then start afresh)


class UrgentLevels:
    """A predicate on readings: True if a reading moves its datastream to another band.

    Stateful: call it once per reading, in the order of receipt (the bridge's network thread).
    """

    def __init__(self, levels: Iterable[UrgentLevel] = ()) -> None:
        self._by_metric: dict[str, tuple[_Check, ...]] = {}
        self._band: dict[tuple[str, str], int] = {}  # (sensor, metric) -> 0 ok, 1, 2
        self.set(levels)

    def set(self, levels: Iterable[UrgentLevel]) -> None:
        """Replace the levels (one assignment: the bridge's threads see old or new, never half)."""
        by_metric: dict[str, list[_Check]] = {}
        for lv in levels:
            by_metric.setdefault(lv.metric, []).append(
                (lv.sensor_type, lv.above, lv.warning, lv.critical)
            )
        self._by_metric = {m: tuple(v) for m, v in by_metric.items()}

    @property
    def count(self) -> int:
        """Return how many levels are set."""
        return sum(len(v) for v in self._by_metric.values())

    def band(self, reading: Reading) -> int:
        """Return 2 if a rule would call the reading critical, 1 if warning, else 0."""
        value = reading.value
        kind = reading.sensor_type
        band = 0
        for sensor_type, above, warning, critical in self._by_metric.get(reading.metric, ()):
            if kind and kind != sensor_type:
                continue
            if critical is not None and (value >= critical if above else value <= critical):
                return 2
            if warning is not None and (value >= warning if above else value <= warning):
                band = 1
        return band

    def __call__(self, reading: Reading) -> bool:
        if reading.metric not in self._by_metric:
            return False
        band = self.band(reading)
        key = (reading.sensor, reading.metric)
        bands = self._band
        before = bands.get(key, 0)
        if len(bands) >= MAX_TRACKED:
            bands.clear()
        bands[key] = band
        return band != before


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
