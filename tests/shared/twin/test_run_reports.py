"""The consoles' memory of the twin's runs: each run's latest progress report, kept in Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis import Redis

from shared.stack import StackState
from shared.twin.service import RUN_REPORTS_KEY, recent_run_reports, remember_run_report

pytestmark = pytest.mark.stack


@pytest.fixture
def redis(stack: StackState) -> Iterator[Redis]:
    client = Redis.from_url(stack.redis_url)
    client.delete(RUN_REPORTS_KEY)
    yield client
    client.delete(RUN_REPORTS_KEY)
    client.close()


def test_the_latest_report_of_each_run_is_kept_and_old_ones_are_dropped(redis: Redis) -> None:
    remember_run_report(redis=redis, report={"plan_id": 7, "status": "en_route"}, now=1000.0)
    remember_run_report(redis=redis, report={"plan_id": 7, "status": "arrived"}, now=1010.0)
    remember_run_report(redis=redis, report={"plan_id": 8, "status": "en_route"}, now=100.0)

    # Plan 8 last reported 910 s before: older than the 900 s kept, so it goes.
    runs = recent_run_reports(redis=redis, now=1010.0)
    assert runs == {"7": {"plan_id": 7, "status": "arrived"}}
    assert redis.hkeys(RUN_REPORTS_KEY) == [b"7"]
    assert 0 < redis.ttl(RUN_REPORTS_KEY) <= 900
    assert recent_run_reports(redis=redis, now=1010.0 + 901.0) == {}
