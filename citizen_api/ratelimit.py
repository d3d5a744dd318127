"""A sliding-window-counter limiter that costs one Redis round trip per request, not two.

flask-limiter hits the limit before the view (one Lua script) and, for the `X-RateLimit-*`
headers, reads the window again after it (a second script). Here the hit's script also returns
the window it left behind, kept for the rest of the request, so the headers need no second
call. Counting, keys and expiries are those of limits' `sliding-window-counter` on Redis (the
same keys: the two can run side by side during a deploy).
"""

from __future__ import annotations

import time
from math import floor, inf
from typing import Any

from flask import g, has_app_context
from limits import RateLimitItem
from limits.storage import RedisStorage
from limits.strategies import STRATEGIES, SlidingWindowCounterRateLimiter
from limits.util import WindowStats

NAME = "sliding-window-counter-1rt"

# limits' acquire_sliding_window.lua, returning {acquired, previous count, previous TTL, current
# count, current TTL} (TTLs in ms, 0 when absent) instead of a bare boolean.
ACQUIRE_AND_READ = """
local limit = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2]) * 1000
local amount = tonumber(ARGV[3])

local current_ttl = tonumber(redis.call('pttl', KEYS[2]))
if current_ttl > 0 and current_ttl < expiry then
    -- Current window expired, shift it to the previous window
    redis.call('rename', KEYS[2], KEYS[1])
    redis.call('set', KEYS[2], 0, 'PX', current_ttl + expiry)
end

local previous_count = tonumber(redis.call('get', KEYS[1])) or 0
local previous_ttl = tonumber(redis.call('pttl', KEYS[1])) or 0
local current_count = tonumber(redis.call('get', KEYS[2])) or 0
current_ttl = tonumber(redis.call('pttl', KEYS[2])) or 0
if previous_ttl <= 0 then previous_ttl = 0 end
if current_ttl <= 0 then current_ttl = 0 end

local acquired = 0
local weighted_count = math.floor(previous_count * previous_ttl / expiry) + current_count
if amount <= limit and weighted_count + amount <= limit then
    if redis.call('exists', KEYS[2]) == 1 then
        current_count = redis.call('incrby', KEYS[2], amount)
    else
        redis.call('set', KEYS[2], amount, 'PX', expiry * 2)
        current_count = amount
    end
    current_ttl = tonumber(redis.call('pttl', KEYS[2]))
    acquired = 1
end
return {acquired, previous_count, previous_ttl, current_count, current_ttl}
"""

Window = tuple[int, float, int, float]  # previous count, its TTL s, current count, its TTL s


class OneTripSlidingWindow(SlidingWindowCounterRateLimiter):
    """`sliding-window-counter` whose hit also reads the window (Redis storage only)."""

    def __init__(self, storage: Any) -> None:
        super().__init__(storage)
        self._script = (
            storage.get_connection().register_script(ACQUIRE_AND_READ)
            if isinstance(storage, RedisStorage)
            else None
        )

    def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        """Consume `cost` from the limit; keep the window it leaves for this request's headers."""
        if self._script is None:
            return super().hit(item, *identifiers, cost=cost)
        storage: RedisStorage = self.storage  # type: ignore[assignment]
        key = item.key_for(*identifiers)
        keys = [
            storage.prefixed_key(storage._previous_window_key(key)),
            storage.prefixed_key(storage._current_window_key(key)),
        ]
        acquired, prev_n, prev_ttl, cur_n, cur_ttl = self._script(
            keys, [item.amount, item.get_expiry(), cost]
        )
        if has_app_context():
            window = (int(prev_n), prev_ttl / 1000, int(cur_n), cur_ttl / 1000)
            g.setdefault("_rate_windows", {})[key] = window
        return bool(acquired)

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        """The window this request's hit left (no round trip), else read from Redis."""
        windows: dict[str, Window] | None = g.get("_rate_windows") if has_app_context() else None
        key = item.key_for(*identifiers)
        if not windows or key not in windows:
            return super().get_window_stats(item, *identifiers)
        return self._stats(item, windows.pop(key))

    def _stats(self, item: RateLimitItem, window: Window) -> WindowStats:
        # SlidingWindowCounterRateLimiter.get_window_stats' arithmetic on a window at hand.
        previous_count, previous_expires_in, current_count, current_expires_in = window
        weighted = self._weighted_count(item, previous_count, previous_expires_in, current_count)
        remaining = max(0, item.amount - floor(weighted))
        now = time.time()
        if not (previous_count or current_count):
            return WindowStats(now, remaining)
        expiry = item.get_expiry()
        previous_reset_in, current_reset_in = inf, inf
        if previous_count:
            previous_reset_in = previous_expires_in % (expiry / previous_count)
        if current_count:
            current_reset_in = current_expires_in % expiry
        return WindowStats(now + min(previous_reset_in, current_reset_in), remaining)


STRATEGIES[NAME] = OneTripSlidingWindow  # type: ignore[assignment]
