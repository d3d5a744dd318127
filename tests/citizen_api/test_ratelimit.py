"""The one-round-trip sliding window (citizen_api/ratelimit.py) against limits' own
`sliding-window-counter` on the test stack's Redis: the same decisions and the same window for
the headers, with one Redis call per request instead of two."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask import Flask
from limits import parse
from limits.storage import RedisStorage, storage_from_string
from limits.strategies import STRATEGIES, SlidingWindowCounterRateLimiter

from citizen_api.ratelimit import NAME, OneTripSlidingWindow


@pytest.fixture
def storage(stack) -> RedisStorage:  # type: ignore[no-untyped-def]
    return storage_from_string(stack.redis_url)  # type: ignore[return-value]


def test_registered_for_flask_limiter() -> None:
    assert STRATEGIES[NAME] is OneTripSlidingWindow


def test_same_decisions_and_window_as_limits_own(storage: RedisStorage) -> None:
    ours, stock = OneTripSlidingWindow(storage), SlidingWindowCounterRateLimiter(storage)
    item = parse("5 per minute")
    mine, theirs = f"rl-ours-{uuid.uuid4().hex}", f"rl-stock-{uuid.uuid4().hex}"
    app = Flask(__name__)
    for i in range(8):
        with app.app_context():  # one request: the hit, then the headers' window
            got, stats = ours.hit(item, mine), ours.get_window_stats(item, mine)
        want, expected = stock.hit(item, theirs), stock.get_window_stats(item, theirs)
        assert got is want is (i < 5), i
        assert stats.remaining == expected.remaining == max(0, 4 - i), i
        # The reset is a TTL modulo the window (limits' arithmetic): keys set a few ms apart can
        # fall on either side of a wrap, so compare on the 60 s circle.
        apart = (stats.reset_time - expected.reset_time) % 60
        assert min(apart, 60 - apart) < 1.0, (i, apart)
        # The stored counters are the stock strategy's: it reads the same window from Redis.
        assert stock.get_window_stats(item, mine).remaining == stats.remaining, i


def test_one_redis_call_per_request(storage: RedisStorage) -> None:
    ours = OneTripSlidingWindow(storage)
    item = parse("100 per minute")
    app = Flask(__name__)
    with app.app_context():
        ours.hit(item, f"warm-{uuid.uuid4().hex}")  # loads the script (NOSCRIPT, SCRIPT LOAD)
    conn: Any = storage.get_connection()
    calls: list[str] = []
    real = conn.execute_command

    def counted(*args: Any, **kw: Any) -> Any:
        calls.append(str(args[0]))
        return real(*args, **kw)

    conn.execute_command = counted
    try:
        key = f"rl-{uuid.uuid4().hex}"
        with app.app_context():
            assert ours.hit(item, key)
            assert ours.get_window_stats(item, key).remaining == 99
        assert calls == ["EVALSHA"]
        # Without this request's hit at hand (another request), the window is read from Redis.
        with app.app_context():
            assert ours.get_window_stats(item, key).remaining == 99
        assert len(calls) == 2
    finally:
        del conn.execute_command
