"""The alert state machine: open, escalate, resolve with hysteresis, stale sensors, audit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session

from shared.alerts.models import Alert, AlertEvent, AlertStatus, Severity
from shared.alerts.schemas import AlertChange
from shared.alerts.service import (
    Observed,
    RuleSpec,
    acknowledge_alert,
    apply_observations,
    load_rules,
    resolve_alert,
)
from shared.ingest.schemas import Batch, Reading
from shared.pipeline import RuleCache, process_batch, run_stale_check, sync_window_sums
from shared.sensing.flows import DatastreamIndex
from shared.sensing.models import Datastream, DatastreamLatest, Thing
from shared.sensing.schemas import DatastreamKey


def _send(session: Session, readings: list[Reading], **kw) -> list:  # type: ignore[no-untyped-def]
    batch = Batch(batch_id=uuid4().hex, received_at=time.time(), readings=readings)
    _result, changes = process_batch(
        batch=batch, engine=session.get_bind(), index=kw["index"], rules=kw["rules"]
    )
    return changes


def test_threshold_opens_escalates_and_resolves_one_alert(db_session: Session) -> None:
    index, rules = DatastreamIndex(), RuleCache()
    now = time.time()
    kw = {"index": index, "rules": rules}
    # PM2.5: warning 35.5, critical 55.5, hysteresis 2 (default rules of the demo seed).
    changes = _send(db_session, [Reading("AQ-03", "pm25", now - 40, 40.0)], **kw)
    opened = [c for c in changes if c.alert.rule_name == "PM2.5 high"]
    assert [(c.event, c.action, c.alert.severity) for c in opened] == [
        ("alert.raised", "opened", Severity.warning)
    ]
    alert_id = opened[0].alert.id

    changes = _send(db_session, [Reading("AQ-03", "pm25", now - 30, 45.0)], **kw)
    assert [c for c in changes if c.alert.rule_name == "PM2.5 high"] == []  # still warning
    value = db_session.scalar(select(Alert.value).where(Alert.id == alert_id))
    assert value == 45.0  # an alert that stays as it is still shows the latest value

    changes = _send(db_session, [Reading("AQ-03", "pm25", now - 20, 60.0)], **kw)
    esc = [c for c in changes if c.alert.rule_name == "PM2.5 high"]
    assert [(c.event, c.action, c.alert.id, c.alert.severity) for c in esc] == [
        ("alert.updated", "escalated", alert_id, Severity.critical)
    ]

    # 34.0 is below warning but inside the 2.0 hysteresis band: stays open.
    changes = _send(db_session, [Reading("AQ-03", "pm25", now - 10, 34.0)], **kw)
    assert [c for c in changes if c.alert.rule_name == "PM2.5 high"] == []
    value = db_session.scalar(select(Alert.value).where(Alert.id == alert_id))
    assert value == 34.0
    changes = _send(db_session, [Reading("AQ-03", "pm25", now - 5, 20.0)], **kw)
    res = [c for c in changes if c.alert.rule_name == "PM2.5 high"]
    assert [(c.action, c.alert.status) for c in res] == [("resolved", AlertStatus.resolved)]

    db_session.expire_all()
    alert = db_session.get(Alert, alert_id)
    assert alert is not None and alert.resolved_by == "system"
    assert [e.action for e in alert.events] == ["opened", "escalated", "resolved"]
    n = db_session.scalars(
        select(Alert).where(Alert.thing_id == alert.thing_id, Alert.rule_id == alert.rule_id)
    )
    assert len(n.all()) == 1


def test_a_spike_that_clears_within_one_batch_opens_and_resolves_its_alert(
    db_session: Session,
) -> None:
    kw = {"index": DatastreamIndex(), "rules": RuleCache()}
    now = time.time()
    # One batch (given out of time order): 20, then a 60 spike (critical), then 40 (warning),
    # then 20 again. The newest reading alone (20) would hide the spike.
    readings = [
        Reading("AQ-04", "pm25", now - 7, 40.0),
        Reading("AQ-04", "pm25", now - 9, 20.0),
        Reading("AQ-04", "pm25", now - 5, 20.0),
        Reading("AQ-04", "pm25", now - 8, 60.0),
        Reading("AQ-04", "pm25", now - 6, 40.0),
    ]
    changes = [c for c in _send(db_session, readings, **kw) if c.alert.rule_name == "PM2.5 high"]
    assert [(c.action, c.alert.severity, c.alert.value) for c in changes] == [
        ("opened", Severity.critical, 60.0),
        ("resolved", Severity.critical, 20.0),
    ]
    # A late batch with an older spike changes nothing: the sensor has moved on.
    late = _send(db_session, [Reading("AQ-04", "pm25", now - 30, 80.0)], **kw)
    assert [c for c in late if c.alert.rule_name == "PM2.5 high"] == []


def test_low_is_bad_for_traffic_speed(db_session: Session) -> None:
    kw = {"index": DatastreamIndex(), "rules": RuleCache()}
    changes = _send(db_session, [Reading("TD-0002", "speed", time.time(), 3.0)], **kw)
    congested = [c for c in changes if c.alert.rule_name == "Traffic congested"]
    assert len(congested) == 1 and congested[0].alert.severity == Severity.critical


def test_operators_acknowledge_and_resolve_with_an_audit_trail(db_session: Session) -> None:
    kw = {"index": DatastreamIndex(), "rules": RuleCache()}
    changes = _send(db_session, [Reading("NS-02", "laeq", time.time(), 85.0)], **kw)
    alert_id = next(c.alert.id for c in changes if c.alert.rule_name == "Noise loud")
    acknowledge_alert(session=db_session, alert_id=alert_id, actor="operator", note="crew sent")
    resolve_alert(session=db_session, alert_id=alert_id, actor="operator", reason="roadworks ended")
    events = db_session.scalars(
        select(AlertEvent).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)
    ).all()
    assert [(e.action, e.actor, e.note) for e in events] == [
        ("opened", "system", ""),
        ("acknowledged", "operator", "crew sent"),
        ("resolved", "operator", "roadworks ended"),
    ]
    assert all(e.at is not None for e in events)


def test_a_silent_sensor_raises_a_stale_alert_and_recovers(db_session: Session) -> None:
    index, rules = DatastreamIndex(), RuleCache()
    now = time.time()
    _send(db_session, [Reading("WX-01", "temperature", now - 1, 12.0)], index=index, rules=rules)
    thing_id = db_session.scalar(select(Thing.id).where(Thing.code == "WX-01"))
    # Pretend the station went quiet 20 minutes ago (the default stale rule allows 15).
    db_session.execute(
        update(DatastreamLatest)
        .where(
            DatastreamLatest.datastream_id.in_(
                select(Datastream.id).where(Datastream.thing_id == thing_id)
            )
        )
        .values(updated_at=datetime.now(UTC) - timedelta(minutes=20))
    )
    changes = run_stale_check(engine=db_session.get_bind(), index=index, rules=rules)
    mine = [c for c in changes if c.alert.thing_id == thing_id]
    assert [(c.action, c.alert.rule_name) for c in mine] == [("opened", "Weather sensor silent")]
    assert "silent for 20 min" in mine[0].alert.message
    again = run_stale_check(engine=db_session.get_bind(), index=index, rules=rules)
    assert [c for c in again if c.alert.thing_id == thing_id] == []  # one alert, not two

    _send(
        db_session, [Reading("WX-01", "temperature", time.time(), 12.5)], index=index, rules=rules
    )
    changes = run_stale_check(engine=db_session.get_bind(), index=index, rules=rules)
    assert [(c.action) for c in changes if c.alert.thing_id == thing_id] == ["resolved"]
    resolved = next(c.alert for c in changes if c.alert.thing_id == thing_id)
    db_session.expire_all()
    alert = db_session.get(Alert, resolved.id)
    assert alert is not None and alert.resolve_reason == "sensor reporting again"
    assert [(e.action, e.note) for e in alert.events][-1] == ("resolved", "sensor reporting again")


def test_rate_of_change_is_per_minute_over_at_least_a_minute(db_session: Session) -> None:
    kw = {"index": DatastreamIndex(), "rules": RuleCache()}
    now = time.time()
    _send(db_session, [Reading("NS-06", "laeq", now - 300, 50.0)], **kw)
    # +10 dB in 2 s is "10 dB/min" here (not 300): below the 15 dB/min warning level.
    changes = _send(db_session, [Reading("NS-06", "laeq", now - 298, 60.0)], **kw)
    assert [c for c in changes if c.alert.rule_name == "Noise jump"] == []
    # +32 dB within a minute crosses the 30 dB/min critical level.
    changes = _send(db_session, [Reading("NS-06", "laeq", now - 290, 92.0)], **kw)
    jump = [c for c in changes if c.alert.rule_name == "Noise jump"]
    assert [(c.action, c.alert.severity) for c in jump] == [("opened", Severity.critical)]


def test_sustained_mean_over_the_window_raises_an_alert(db_session: Session) -> None:
    # PM2.5 24-h mean: warning 35.5. Readings of 30 for hours, then 60s: the mean crosses later
    # than the instantaneous value, and the window query is throttled between batches.
    rules = RuleCache()
    kw = {"index": DatastreamIndex(), "rules": rules}
    now = time.time()
    history = [Reading("AQ-04", "pm25", now - 3600 * h, 30.0) for h in range(20, 0, -1)]
    _send(db_session, history, **kw)
    changes = _send(db_session, [Reading("AQ-04", "pm25", now - 60, 40.0)], **kw)
    assert [c for c in changes if c.alert.rule_name == "PM2.5 24-h mean high"] == []  # mean ~30.5
    rules.sustained_seen.clear()
    spike = [Reading("AQ-04", "pm25", now - 50 + i, 200.0) for i in range(10)]
    changes = _send(db_session, spike, **kw)
    sustained = [c for c in changes if c.alert.rule_name == "PM2.5 24-h mean high"]
    # (20 x 30 + 40 + 10 x 200) / 31 = 85.2 >= 55.5: critical.
    assert [(c.action, c.alert.severity) for c in sustained] == [("opened", Severity.critical)]
    assert "24 h mean" in sustained[0].alert.message


def test_sustained_mean_reads_the_per_minute_sums_once_synced(db_session: Session) -> None:
    rules = RuleCache()
    kw = {"index": DatastreamIndex(), "rules": rules}
    counts = sync_window_sums(engine=db_session.get_bind())
    # Every PM2.5 datastream (the seeded 24-h rule watches them all) is marked and rebuilt.
    pm25 = db_session.scalar(
        text(
            "SELECT count(*) FROM datastream d JOIN observed_property p "
            "ON p.id = d.observed_property_id WHERE p.code = 'pm25'"
        )
    )
    assert counts["streams"] == pm25 > 0 and counts["pending"] == 0
    now = time.time()
    history = [Reading("AQ-09", "pm25", now - 3600 * h, 30.0) for h in range(20, 0, -1)]
    _send(db_session, history, **kw)
    key = kw["index"].get(session=db_session, sensor="AQ-09", metric="pm25")
    # Drop the raw rows: a mean that still sees the history came from the sums.
    db_session.execute(text("DELETE FROM observation WHERE datastream_id = :ds"),
                       {"ds": key.datastream_id})  # fmt: skip
    rules.sustained_seen.clear()
    changes = _send(db_session, [Reading("AQ-09", "pm25", now - 30, 200.0)], **kw)
    sustained = [c for c in changes if c.alert.rule_name == "PM2.5 24-h mean high"]
    # (20 x 30 + 200) / 21 = 38.1: a warning (the raw rows alone would say 200: critical).
    assert [(c.action, c.alert.severity) for c in sustained] == [("opened", Severity.warning)]
    assert sustained[0].alert.value == pytest.approx(800 / 21)


@contextmanager
def _pm25_high(engine: Engine, sensor: str) -> Iterator[tuple[DatastreamKey, RuleSpec]]:
    """The sensor's PM2.5 datastream and the "PM2.5 high" rule; their alerts deleted after."""
    with Session(engine) as s:
        key = DatastreamIndex().get(session=s, sensor=sensor, metric="pm25")
        rule = next(r for r in load_rules(session=s) if r.name == "PM2.5 high")
    assert key is not None
    try:
        yield key, rule
    finally:
        with engine.begin() as c:  # committed on purpose: leave nothing for other tests
            c.execute(
                text("DELETE FROM alert WHERE rule_id = :r AND thing_id = :t"),
                {"r": rule.id, "t": key.thing_id},
            )


def _race(
    engine: Engine, first: Callable[[Session], object], observed: Observed, now: datetime
) -> list[AlertChange]:
    """A runs `first` and holds its transaction open; B applies `observed` meanwhile and must
    wait for A's commit (a lock or the unique index); return B's changes."""
    got: list[AlertChange] = []
    with Session(engine) as a, Session(engine) as b:

        def run_b() -> None:
            got.extend(apply_observations(session=b, observed=[observed], now=now))
            b.commit()

        first(a)
        other = threading.Thread(target=run_b)
        other.start()
        time.sleep(0.3)
        assert other.is_alive()  # B waits for A
        a.commit()
        other.join(10)
    return got


def test_two_workers_open_one_alert_and_the_later_escalates_it(engine: Engine) -> None:
    # Two batches of one sensor in flight at once (several per bridge, two worker processes):
    # A opens a warning and has not committed when B sees a critical value. B waits on the
    # unique index for A's commit; it must then escalate A's alert, not drop its reading.
    now = datetime.now(UTC)
    with _pm25_high(engine, "AQ-06") as (key, rule):
        opened: list[AlertChange] = []

        def a_opens(a: Session) -> None:
            opened.extend(
                apply_observations(session=a, observed=[Observed(rule, key, 40.0)], now=now)
            )
            assert [(c.action, c.alert.severity) for c in opened] == [("opened", Severity.warning)]

        got = _race(engine, a_opens, Observed(rule, key, 60.0), now)  # B: the unique index
        assert [(c.action, c.alert.id, c.alert.severity) for c in got] == [
            ("escalated", opened[0].alert.id, Severity.critical)
        ]
        with Session(engine) as s:
            alerts = s.scalars(
                select(Alert).where(Alert.rule_id == rule.id, Alert.thing_id == key.thing_id)
            ).all()
            assert [(x.status, x.severity) for x in alerts] == [
                (AlertStatus.open, Severity.critical)
            ]


def test_a_transition_that_lost_the_race_follows_the_alert_as_it_now_is(engine: Engine) -> None:
    # B read the alert (unlocked) as a warning and wants to escalate it, but another worker's
    # escalation committed first. The UPDATE re-checks the row once it holds the lock: B must
    # not audit a second escalation; it keeps the alert's value current instead.
    now = datetime.now(UTC)
    with _pm25_high(engine, "AQ-05") as (key, rule):
        with Session(engine) as s:
            opened = apply_observations(session=s, observed=[Observed(rule, key, 40.0)], now=now)
            s.commit()
        alert_id = opened[0].alert.id

        def a_escalates(a: Session) -> None:
            first = apply_observations(session=a, observed=[Observed(rule, key, 60.0)], now=now)
            assert [c.action for c in first] == ["escalated"]  # A holds the row lock

        assert _race(engine, a_escalates, Observed(rule, key, 70.0), now) == []
        with Session(engine) as s:
            alert = s.get(Alert, alert_id)
            assert alert is not None
            assert (alert.severity, alert.status, alert.value) == (
                Severity.critical, AlertStatus.open, 70.0,
            )  # fmt: skip
            assert [e.action for e in alert.events] == ["opened", "escalated"]

        # An operator resolves it by hand while B, which read it as open, resolves it too
        # (20 clears the level): one resolution, the operator's, and no event from B.
        def ops_resolves(a: Session) -> None:
            resolve_alert(session=a, alert_id=alert_id, actor="ops", reason="checked on site")

        assert _race(engine, ops_resolves, Observed(rule, key, 20.0), now) == []
        with Session(engine) as s:
            alert = s.get(Alert, alert_id)
            assert alert is not None
            assert (alert.status, alert.resolved_by) == (AlertStatus.resolved, "ops")
            assert [(e.action, e.actor) for e in alert.events] == [
                ("opened", "system"), ("escalated", "system"), ("resolved", "ops"),
            ]  # fmt: skip


def test_a_late_older_reading_does_not_undo_the_verdict_on_a_newer_one(
    db_session: Session,
) -> None:
    # With batches in flight at once, a batch holding an older reading can commit after one
    # holding a newer reading of the same sensor: it stores its reading but judges nothing.
    kw = {"index": DatastreamIndex(), "rules": RuleCache()}
    now = time.time()
    changes = _send(db_session, [Reading("AQ-04", "pm25", now - 2, 60.0)], **kw)
    opened = [c for c in changes if c.alert.rule_name == "PM2.5 high"]
    assert [(c.action, c.alert.severity) for c in opened] == [("opened", Severity.critical)]

    changes = _send(db_session, [Reading("AQ-04", "pm25", now - 5, 10.0)], **kw)
    assert [c for c in changes if c.alert.rule_name == "PM2.5 high"] == []
    alert = db_session.get(Alert, opened[0].alert.id)
    db_session.refresh(alert)
    assert alert is not None and alert.status == AlertStatus.open and alert.value == 60.0

    changes = _send(db_session, [Reading("AQ-04", "pm25", now - 1, 10.0)], **kw)  # newer: clears
    assert [c.action for c in changes if c.alert.rule_name == "PM2.5 high"] == ["resolved"]
