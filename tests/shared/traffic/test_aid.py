"""Incident detection: the California #7 + speed logic, a short SUMO run with a scripted
incident (and one without), and the service over detector pairs of the seeded city."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from shared.sensing.service import ensure_observation_partitions
from shared.traffic.aid import (
    CALIFORNIA7,
    DEFAULT_AID,
    INCIDENT,
    TENTATIVE,
    AidParams,
    aid_states,
    alarm_spans,
    detect_incidents,
    detector_pairs,
)
from shared.traffic.evaluation import AidCase, score_aid, simulate_case

FREE_FLOW = 80.0


def _series(n: int, value: float) -> np.ndarray:
    return np.full(n, value)


def test_queue_upstream_with_free_road_downstream_alarms_and_clears() -> None:
    up, down, speed = _series(12, 8.0), _series(12, 8.0), _series(12, 70.0)
    up[4:9], speed[4:9] = 45.0, 12.0  # a queue over the upstream loop for five minutes
    down[4:9] = 4.0  # the road past the incident empties
    states = aid_states(up, down, speed, free_flow_kmh=FREE_FLOW)
    assert list(states) == [0, 0, 0, 0, 2, 2, 2, 2, 2, 0, 0, 0]
    assert [(s.start, s.end) for s in alarm_spans(states)] == [(4, 9)]
    # The published #7 needs a second interval to confirm: tentative first.
    base = aid_states(up, down, speed, free_flow_kmh=FREE_FLOW, params=CALIFORNIA7)
    assert base[4] == TENTATIVE and base[5] == INCIDENT


def test_dense_moving_traffic_and_compression_waves_do_not_alarm() -> None:
    up, down = _series(10, 8.0), _series(10, 8.0)
    # Long lorries at speed: occupancy jumps upstream only, speed stays high.
    up[3:6] = 30.0
    assert not aid_states(up, down, _series(10, 70.0), free_flow_kmh=FREE_FLOW).any()
    # ...which the occupancy-only #7 does flag once it persists.
    assert (aid_states(up, down, _series(10, 70.0), free_flow_kmh=FREE_FLOW,
                       params=CALIFORNIA7) == INCIDENT).any()  # fmt: skip
    # A queue that also covers the downstream loop (recurrent congestion): DOCC test holds it.
    slow = _series(10, 15.0)
    assert not aid_states(_series(10, 45.0), _series(10, 40.0), slow, free_flow_kmh=80.0).any()


def test_missing_intervals_hold_the_state() -> None:
    up = np.array([45.0, np.nan, 45.0, 8.0])
    down = np.array([4.0, 4.0, 4.0, 8.0])
    speed = np.array([10.0, np.nan, np.nan, 70.0])  # no speed in a standing queue: a drop
    assert list(aid_states(up, down, speed, free_flow_kmh=FREE_FLOW)) == [2, 2, 2, 0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"occdf_min": -1.0}, "occdf_min"),
        ({"occrdf_min": 1.5}, "occrdf_min"),
        ({"docc_max": 0.0}, "docc_max"),
        ({"speed_drop": 1.0}, "speed_drop"),
        ({"persistence": 0}, "persistence"),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AidParams(**kwargs)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="expected 3"):
        aid_states([1.0, 2.0, 3.0], [1.0], [1.0, 2.0, 3.0], free_flow_kmh=FREE_FLOW)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        aid_states([120.0], [1.0], [50.0], free_flow_kmh=FREE_FLOW)
    with pytest.raises(ValueError, match="free_flow_kmh"):
        aid_states([1.0], [1.0], [50.0], free_flow_kmh=0.0)
    with pytest.raises(ValueError, match="incident_at_m"):
        AidCase(seed=1, demand_vph=2000, stations=3, incident_at_m=100.0)


def test_sumo_run_with_a_stopped_vehicle_is_detected_and_a_clean_run_is_quiet() -> None:
    # Three stations 500 m apart; a vehicle stops on lane 0 400 m past the first one (section 0)
    # for ten minutes in heavy traffic (2,900 veh/h on two lanes).
    incident = AidCase(seed=7, demand_vph=2900, stations=3, end_s=1500, incident_at_m=650.0,
                       incident_lane=0, incident_depart_s=660, incident_duration_s=600)  # fmt: skip
    clean = AidCase(seed=8, demand_vph=2900, stations=3, end_s=1500)
    hit = simulate_case(incident)
    assert hit.incident_start_s is not None and hit.incident_end_s is not None
    assert hit.incident_end_s - hit.incident_start_s == pytest.approx(600, abs=1)
    score = score_aid([hit], DEFAULT_AID)
    assert score.detected == 1 and score.false_alarms == 0
    assert score.mean_time_to_detect_s is not None and 0 < score.mean_time_to_detect_s <= 420

    quiet = simulate_case(clean)
    assert quiet.incident_start_s is None
    assert all(s.vehicles[10:].sum() > 200 for s in quiet.stations)  # traffic really flowed
    assert score_aid([quiet], DEFAULT_AID).false_alarms == 0


# --------------------------------------------------------------------------------------------
# service on the seeded city


@pytest.mark.stack
def test_seeded_detectors_pair_downstream_along_the_same_road(db_session: Session) -> None:
    pairs = detector_pairs(session=db_session)
    assert pairs, "the seeded city should have detector pairs along named roads"
    for p in pairs:
        assert p.upstream_code != p.downstream_code
        assert 0 < p.gap_m <= 1500
        assert p.free_flow_kmh > 0
    with pytest.raises(ValueError, match="max_gap_m"):
        detector_pairs(session=db_session, max_gap_m=0)


@pytest.mark.stack
def test_detect_incidents_flags_the_pair_with_an_upstream_queue(db_session: Session) -> None:
    pairs = detector_pairs(session=db_session)
    # Two pairs with four distinct detectors: one gets an incident, the other normal traffic.
    hit = pairs[0]
    calm = next(
        p for p in pairs
        if {p.upstream_code, p.downstream_code}.isdisjoint({hit.upstream_code,
                                                            hit.downstream_code})
    )  # fmt: skip
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    ensure_observation_partitions(
        session=db_session, first_day=(now - timedelta(hours=1)).date(), last_day=now.date()
    )
    rows = []
    for minute in range(1, 16):
        t = now - timedelta(minutes=minute)
        queued = minute <= 5  # the last five minutes: queue upstream, empty road downstream
        for ds, value in (
            (hit.up_occupancy_ds, 48.0 if queued else 9.0),
            (hit.up_speed_ds, 8.0 if queued else 0.8 * hit.free_flow_kmh),
            (hit.down_occupancy_ds, 3.0 if queued else 9.0),
            (calm.up_occupancy_ds, 9.0),
            (calm.up_speed_ds, 0.8 * calm.free_flow_kmh),
            (calm.down_occupancy_ds, 9.0),
        ):
            rows.append({"d": ds, "t": t, "v": value})
    db_session.execute(
        text("DELETE FROM observation WHERE datastream_id = ANY(:ids)"),
        {"ids": sorted({r["d"] for r in rows})},
    )
    db_session.execute(text("INSERT INTO observation VALUES (:d, :t, :v)"), rows)

    found = detect_incidents(session=db_session, now=now)
    ours = [d for d in found if d.upstream_code == hit.upstream_code]
    assert [(d.downstream_code, d.state) for d in ours] == [(hit.downstream_code, "incident")]
    assert ours[0].up_occupancy_pct == 48.0 and ours[0].up_speed_kmh == 8.0
    minute = timedelta(minutes=1)
    assert now - 6 * minute <= ours[0].first_seen <= now - 4 * minute
    assert ours[0].confirmed_at == ours[0].first_seen  # persistence 1
    assert not [d for d in found if d.upstream_code == calm.upstream_code]
    with pytest.raises(ValueError, match="interval_s"):
        detect_incidents(session=db_session, interval_s=5)


@pytest.mark.stack
def test_cli_lists_incidents_and_refuses_unknown_sensors(engine: object) -> None:
    import json

    from click.testing import CliRunner

    from shared.cli import main

    runner = CliRunner()
    listed = runner.invoke(main, ["traffic", "incidents", "--json", "--window", "5"])
    assert listed.exit_code == 0, listed.output
    assert isinstance(json.loads(listed.output), list)
    missing = runner.invoke(main, ["traffic", "forecast", "NO-SUCH-SENSOR"])
    assert missing.exit_code == 1
    assert "no vehicle_count datastream for sensor 'NO-SUCH-SENSOR'" in missing.output
    bad = runner.invoke(main, ["traffic", "incidents", "--interval", "5"])
    assert bad.exit_code == 2 and "--interval" in bad.output
