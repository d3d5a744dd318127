"""Evaluations with known answers: flow forecasts on held-out real counts, incident detection on
SUMO runs with scripted incidents.

Forecasts: `traffic_anomaly`'s `sample_counts.parquet` (Oregon DOT, 22 detectors, 15-min counts,
2024-04-18..05-13, read from the installed package). The last `test_days` days are held out per
detector. At every origin in the test span each method forecasts 1, 2 and 4 bins ahead from data
up to that origin; our model is refitted at each test midnight on the data before it. Scores are
MASE with the in-sample (pre-test) weekly seasonal-naive MAE as scale (Hyndman & Koehler 2006),
one per detector and horizon, summarised by the median over detectors.

Incident detection: a straight two-lane road (80 km/h) with a loop station on both lanes every
500 m, simulated by Eclipse SUMO (the installed `eclipse-sumo` wheel) in a temporary folder.
An incident is a vehicle stopped on one lane for several minutes (a `<stop>` in the route file,
as a breakdown would be); SUMO's stop output gives when it really stood. Incident-free runs at
the same demands measure false alarms. Demand, incident place, lane, start and duration come
from a seeded RNG; thresholds were set on calibration seeds (`CALIBRATION_SEEDS`) and the figures
come from other seeds. 10 % of vehicles are lorries. The corridor has no recurrent bottleneck, so
its false alarms come from driver noise, lorries and incident queues only: an optimistic setting
for false alarms compared with a real network's merges and signals.
"""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from shared.traffic.aid import CALIFORNIA7, DEFAULT_AID, AidParams, aid_states, alarm_spans
from shared.traffic.forecast import (
    DAY_BINS,
    WEEK_BINS,
    fit_flow_model,
    forecast_paths,
    horizon_steps,
    mase,
    prepare_counts,
    seasonal_naive_paths,
)

__all__ = [
    "AidCase",
    "AidEvaluation",
    "AidScore",
    "CaseResult",
    "ForecastEvaluation",
    "StationSeries",
    "aid_cases",
    "aid_table",
    "evaluate_aid",
    "evaluate_forecasts",
    "forecast_table",
    "load_sample_counts",
    "score_aid",
    "simulate_case",
    "sumo_binary",
]

# ---------------------------------------------------------------------------------------------
# Forecasts


def load_sample_counts() -> pd.DataFrame:
    """Return the Oregon sample counts as a wide frame: 15-min bin start x detector, vehicles."""
    from shared.simulate.sources import package_file

    path = package_file(
        package="traffic_anomaly", relative="data/sample_counts.parquet", install="traffic-anomaly"
    )
    df = pd.read_parquet(path, columns=["timestamp", "detector", "total"])
    # `timestamp` opens a 15-minute bin in local (Pacific) time; `total` is vehicles in it.
    return df.pivot_table(index="timestamp", columns="detector", values="total", aggfunc="sum")


@dataclass
class ForecastEvaluation:
    """MASE per horizon: median over detectors, for our model and the two seasonal-naive ones."""

    horizons_min: list[int]
    detectors: int
    test_days: int
    test_start: str
    median_mase: dict[str, dict[int, float]]
    # Share of detectors where ours has a lower MASE than weekly seasonal-naive.
    share_better: dict[int, float]
    per_detector: dict[str, dict[str, dict[int, float]]] = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (horizon keys as strings)."""
        out = asdict(self)
        out["median_mase"] = {
            m: {str(h): v for h, v in d.items()} for m, d in self.median_mase.items()
        }
        out["share_better"] = {str(h): v for h, v in self.share_better.items()}
        out["per_detector"] = {
            det: {m: {str(h): v for h, v in d.items()} for m, d in ms.items()}
            for det, ms in self.per_detector.items()
        }
        return out


METHODS: Final[tuple[str, ...]] = ("ours", "seasonal_naive_week", "seasonal_naive_day")


def evaluate_forecasts(
    counts: pd.DataFrame | None = None,
    *,
    test_days: int = 14,
    horizons: Sequence[int] = (15, 30, 60),
    detectors: Sequence[Any] | None = None,
) -> ForecastEvaluation:
    """Score our model and seasonal-naive (week, day) on the last `test_days` days per detector."""
    steps = horizon_steps(horizons)
    wide = load_sample_counts() if counts is None else counts
    cols = list(wide.columns if detectors is None else detectors)
    if not cols:
        raise ValueError("no detectors to evaluate")
    per: dict[str, dict[str, dict[int, float]]] = {}
    test_start = None
    for det in cols:
        y = prepare_counts(wide[det])
        split = y.index[-1].normalize() - pd.Timedelta(days=test_days - 1)
        split_pos = int(y.index.searchsorted(split))
        if split_pos <= WEEK_BINS:
            raise ValueError(
                f"detector {det}: need more than one week before the {test_days}-day test span"
            )
        test_start = split
        n = len(y)
        preds: dict[str, list[np.ndarray]] = {m: [] for m in METHODS}
        actual: list[np.ndarray] = []
        days = pd.date_range(split, y.index[-1].normalize(), freq="D")
        for day in days:
            train = y[y.index < day]
            model = fit_flow_model(train)
            lo = int(y.index.searchsorted(day))
            hi = int(y.index.searchsorted(day + pd.Timedelta(days=1)))
            origins = np.arange(lo, min(hi, n - max(steps)))
            if not len(origins):
                continue
            # The level must see the origin's own bin: forecast on the series up to day's end.
            upto = y.iloc[: min(hi, n)]
            preds["ours"].append(forecast_paths(upto, model, origins, steps))
            preds["seasonal_naive_week"].append(seasonal_naive_paths(y, origins, steps, WEEK_BINS))
            preds["seasonal_naive_day"].append(seasonal_naive_paths(y, origins, steps, DAY_BINS))
            actual.append(np.stack([y.to_numpy()[origins + h] for h in steps], axis=1))
        act = np.concatenate(actual)
        train_vals = y.to_numpy()[:split_pos]
        per[str(det)] = {
            m: {
                h * 15: mase(act[:, j], np.concatenate(preds[m])[:, j], train_vals, WEEK_BINS)
                for j, h in enumerate(steps)
            }
            for m in METHODS
        }
    hmins = [h * 15 for h in steps]
    median = {m: {h: float(np.median([per[d][m][h] for d in per])) for h in hmins} for m in METHODS}
    better = {
        h: float(np.mean([per[d]["ours"][h] < per[d]["seasonal_naive_week"][h] for d in per]))
        for h in hmins
    }
    return ForecastEvaluation(
        horizons_min=hmins,
        detectors=len(per),
        test_days=test_days,
        test_start=str(test_start),
        median_mase=median,
        share_better=better,
        per_detector=per,
    )


# ---------------------------------------------------------------------------------------------
# Incident detection on SUMO

STATION_SPACING_M: Final[float] = 500.0
CORRIDOR_LANES: Final[int] = 2
CORRIDOR_SPEED_MS: Final[float] = 22.22  # 80 km/h
# Loops report every 30 s; scoring pools them into the algorithm's interval (60 s by default,
# as the California algorithms used, or 30 s for the faster, noisier variant).
PERIOD_S: Final[int] = 30
INTERVAL_S: Final[int] = 60
WARMUP_S: Final[int] = 600
CALIBRATION_SEEDS: Final[tuple[int, ...]] = tuple(range(1, 11))
EVALUATION_SEEDS: Final[tuple[int, ...]] = tuple(range(101, 131))
DEMANDS_VPH: Final[tuple[int, ...]] = (1500, 2200, 2900, 3600)
# A detection counts if confirmed between the incident's start and this long after it ends
# (the queue it left behind is still the incident's).
MATCH_AFTER_END_S: Final[int] = 300


@dataclass(frozen=True)
class AidCase:
    """One SUMO run: demand, and an optional scripted incident (a vehicle stopped on a lane)."""

    seed: int
    demand_vph: int
    stations: int = 8
    end_s: int = 3000
    incident_at_m: float | None = None
    incident_lane: int = 0
    incident_depart_s: int = 0
    incident_duration_s: int = 0

    def __post_init__(self) -> None:
        if self.stations < 2:
            raise ValueError(f"need at least two detector stations, got {self.stations}")
        if self.demand_vph <= 0:
            raise ValueError(f"demand_vph must be positive, got {self.demand_vph}")
        if self.incident_at_m is not None:
            lo, hi = STATION_SPACING_M / 2, (self.stations - 0.5) * STATION_SPACING_M
            if not lo < self.incident_at_m < hi:
                raise ValueError(f"incident_at_m must lie between the first and last station "
                                 f"({lo:.0f}..{hi:.0f} m), got {self.incident_at_m}")  # fmt: skip
            if not 0 <= self.incident_lane < CORRIDOR_LANES:
                raise ValueError(f"incident_lane must be 0..{CORRIDOR_LANES - 1}")


def aid_cases(seeds: Sequence[int], *, with_incident: bool, end_s: int = 3000) -> list[AidCase]:
    """Return reproducible cases: demand, incident place, lane, start and duration per seed."""
    cases = []
    for seed in seeds:
        rng = random.Random(seed * 7919 + int(with_incident))
        demand = DEMANDS_VPH[seed % len(DEMANDS_VPH)]
        if not with_incident:
            cases.append(AidCase(seed=seed, demand_vph=demand, end_s=end_s))
            continue
        stations = 8
        cases.append(
            AidCase(
                seed=seed,
                demand_vph=demand,
                stations=stations,
                end_s=end_s,
                incident_at_m=rng.uniform(1.0, stations - 2.0) * STATION_SPACING_M
                + rng.uniform(-200.0, 200.0),
                incident_lane=rng.randrange(CORRIDOR_LANES),
                incident_depart_s=rng.randrange(WARMUP_S + 60, end_s // 2),
                incident_duration_s=rng.choice((300, 600, 900)),
            )
        )
    return cases


def sumo_binary(name: str) -> Path:
    """Return the path of a SUMO binary from the installed eclipse-sumo wheel."""
    try:
        import sumo
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise RuntimeError("the eclipse-sumo package is not installed") from exc
    path = Path(sumo.SUMO_HOME) / "bin" / name
    if not path.is_file():
        raise RuntimeError(f"SUMO binary {name!r} not found at {path}")
    return path


def _sumo_env() -> dict[str, str]:
    import sumo

    return {**os.environ, "SUMO_HOME": str(sumo.SUMO_HOME)}


def _build_corridor(folder: Path, stations: int) -> Path:
    """Write a straight corridor (one 500 m edge per station) and return the .net.xml path."""
    nodes = "".join(
        f'<node id="n{i}" x="{i * STATION_SPACING_M:.1f}" y="0"/>' for i in range(stations + 1)
    )
    edges = "".join(
        f'<edge id="e{i}" from="n{i}" to="n{i + 1}" numLanes="{CORRIDOR_LANES}" '
        f'speed="{CORRIDOR_SPEED_MS}"/>'
        for i in range(stations)
    )
    (folder / "c.nod.xml").write_text(f"<nodes>{nodes}</nodes>")
    (folder / "c.edg.xml").write_text(f"<edges>{edges}</edges>")
    net = folder / "c.net.xml"
    subprocess.run(
        [str(sumo_binary("netconvert")), "-n", "c.nod.xml", "-e", "c.edg.xml", "-o", net.name,
         "--no-turnarounds", "--no-warnings"],
        cwd=folder, check=True, capture_output=True, env=_sumo_env(),
    )  # fmt: skip
    return net


@dataclass
class StationSeries:
    """Per-interval station data (lanes pooled): occupancy %, mean speed km/h, vehicles."""

    occupancy: np.ndarray
    speed_kmh: np.ndarray
    vehicles: np.ndarray


@dataclass
class CaseResult:
    """What one SUMO run produced: station series and when the incident vehicle really stood."""

    case: AidCase
    stations: list[StationSeries]
    incident_start_s: float | None
    incident_end_s: float | None


def simulate_case(case: AidCase, *, folder: Path | None = None) -> CaseResult:
    """Run one case in SUMO and return its 30-s station series and the real incident times."""
    with tempfile.TemporaryDirectory(prefix="smartcity-aid-") as tmp:
        work = folder or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        net = _build_corridor(work, case.stations)
        loops = "".join(
            f'<inductionLoop id="s{i}_{lane}" lane="e{i}_{lane}" pos="{STATION_SPACING_M / 2}" '
            f'period="{PERIOD_S}" file="loops.xml"/>'
            for i in range(case.stations)
            for lane in range(CORRIDOR_LANES)
        )
        (work / "c.add.xml").write_text(f"<additional>{loops}</additional>")
        route = " ".join(f"e{i}" for i in range(case.stations))
        incident = ""
        if case.incident_at_m is not None:
            edge = int(case.incident_at_m // STATION_SPACING_M)
            pos = max(10.0, case.incident_at_m - edge * STATION_SPACING_M)
            incident = (
                f'<vehicle id="incident" type="car" route="r" depart="{case.incident_depart_s}" '
                f'departLane="{case.incident_lane}">'
                f'<stop lane="e{edge}_{case.incident_lane}" endPos="{pos:.1f}" '
                f'duration="{case.incident_duration_s}"/></vehicle>'
            )
        # sigma 0.5: SUMO's default driver imperfection, so dense traffic forms its own waves.
        # 10 % lorries (16.5 m, 90 km/h cap, slow to accelerate) add the long-vehicle occupancy
        # spikes and slow platoons that trip occupancy-only detectors on real roads.
        flows = (
            f'<vType id="car" sigma="0.5"/>'
            f'<vType id="lorry" vClass="truck" length="16.5" maxSpeed="25" accel="0.8" '
            f'sigma="0.5"/><route id="r" edges="{route}"/>'
            f'<flow id="f" type="car" route="r" begin="0" end="{case.end_s}" '
            f'vehsPerHour="{case.demand_vph * 0.9:.0f}" departLane="best" departSpeed="max"/>'
            f'<flow id="g" type="lorry" route="r" begin="0" end="{case.end_s}" '
            f'vehsPerHour="{case.demand_vph * 0.1:.0f}" departLane="best" departSpeed="max"/>'
        )
        (work / "c.rou.xml").write_text(f"<routes>{flows}{incident}</routes>")
        subprocess.run(
            [str(sumo_binary("sumo")), "-n", net.name, "-r", "c.rou.xml", "-a", "c.add.xml",
             "--end", str(case.end_s), "--seed", str(case.seed), "--stop-output", "stops.xml",
             "--no-step-log", "--no-warnings", "--time-to-teleport", "-1"],
            cwd=work, check=True, capture_output=True, env=_sumo_env(),
        )  # fmt: skip
        intervals = case.end_s // PERIOD_S
        occ = np.zeros((case.stations, intervals))
        spd_sum = np.zeros((case.stations, intervals))
        veh = np.zeros((case.stations, intervals))
        for iv in ET.parse(work / "loops.xml").getroot().iter("interval"):
            station = int(iv.get("id", "s0_0")[1:].split("_")[0])
            t = int(float(iv.get("begin", "0")) // PERIOD_S)
            if t >= intervals:
                continue
            n = int(iv.get("nVehContrib", "0"))
            occ[station, t] += float(iv.get("occupancy", "0")) / CORRIDOR_LANES
            if n:
                spd_sum[station, t] += float(iv.get("speed", "0")) * 3.6 * n
            veh[station, t] += n
        with np.errstate(invalid="ignore", divide="ignore"):
            speed = np.where(veh > 0, spd_sum / veh, np.nan)
        start = end = None
        stops = work / "stops.xml"
        if stops.is_file():
            for s in ET.parse(stops).getroot().iter("stopinfo"):
                if s.get("id") == "incident":
                    start, end = float(s.get("started", "nan")), float(s.get("ended", "nan"))
    return CaseResult(
        case=case,
        stations=[StationSeries(occ[i], speed[i], veh[i]) for i in range(case.stations)],
        incident_start_s=start,
        incident_end_s=end,
    )


@dataclass
class AidScore:
    """Detection figures of one parameter set over a set of runs."""

    interval_s: int
    incidents: int
    detected: int
    detection_rate: float
    false_alarms: int
    # Of the false alarms, those raised during an incident on another section (queue spill-back
    # or lane-change zones): a real incident placed on the wrong section.
    wrong_section: int
    decisions: int
    false_alarm_rate: float
    false_alarms_per_pair_hour: float
    mean_time_to_detect_s: float | None
    median_time_to_detect_s: float | None


def _pool(series: StationSeries, k: int) -> StationSeries:
    """Pool k consecutive loop periods: mean occupancy, vehicle-weighted mean speed."""
    n = len(series.occupancy) // k
    occ = series.occupancy[: n * k].reshape(n, k).mean(axis=1)
    veh = series.vehicles[: n * k].reshape(n, k)
    moved = np.nan_to_num(series.speed_kmh[: n * k].reshape(n, k)) * veh
    with np.errstate(invalid="ignore", divide="ignore"):
        speed = np.where(veh.sum(axis=1) > 0, moved.sum(axis=1) / veh.sum(axis=1), np.nan)
    return StationSeries(occ, speed, veh.sum(axis=1))


def score_aid(
    results: Sequence[CaseResult], params: AidParams, *, interval_s: int = INTERVAL_S
) -> AidScore:
    """Score one parameter set: detection rate, false alarm rate (per decision), time to detect."""
    if interval_s % PERIOD_S or interval_s <= 0:
        raise ValueError(f"interval_s must be a positive multiple of {PERIOD_S} s")
    free_flow_kmh = CORRIDOR_SPEED_MS * 3.6
    incidents = detected = false = wrong = decisions = 0
    ttd: list[float] = []
    first_t = WARMUP_S // interval_s
    for res in results:
        st = [_pool(s, interval_s // PERIOD_S) for s in res.stations]
        section = None
        if res.case.incident_at_m is not None and res.incident_start_s is not None:
            incidents += 1
            # Station i sits mid-edge i; the incident lies between the last station before it
            # and the next one.
            section = int((res.case.incident_at_m - STATION_SPACING_M / 2) // STATION_SPACING_M)
        hit = False
        for i in range(len(st) - 1):
            states = aid_states(st[i].occupancy, st[i + 1].occupancy, st[i].speed_kmh,
                                free_flow_kmh=free_flow_kmh, params=params)  # fmt: skip
            decisions += len(states) - first_t
            for span in alarm_spans(states):
                if span.start < first_t:
                    continue
                at = (span.start + 1) * interval_s  # data for an interval exist at its end
                during = (
                    res.incident_start_s is not None
                    and res.incident_end_s is not None
                    and res.incident_start_s <= at <= res.incident_end_s + MATCH_AFTER_END_S
                )
                if during and i == section:
                    if not hit:
                        hit = True
                        ttd.append(at - res.incident_start_s)  # type: ignore[operator]
                else:
                    false += 1
                    wrong += int(during)
        detected += int(hit)
    pair_hours = decisions * interval_s / 3600.0
    return AidScore(
        interval_s=interval_s,
        incidents=incidents,
        detected=detected,
        detection_rate=detected / incidents if incidents else float("nan"),
        false_alarms=false,
        wrong_section=wrong,
        decisions=decisions,
        false_alarm_rate=false / decisions if decisions else float("nan"),
        false_alarms_per_pair_hour=false / pair_hours if pair_hours else float("nan"),
        mean_time_to_detect_s=float(np.mean(ttd)) if ttd else None,
        median_time_to_detect_s=float(np.median(ttd)) if ttd else None,
    )


@dataclass
class AidEvaluation:
    """Ours (California #7 + speed drop) and the baseline (#7 as published) on the same runs."""

    runs_with_incident: int
    runs_without: int
    simulated_hours: float
    sumo_wall_s: float
    ours: AidScore
    baseline: AidScore
    params: dict[str, Any]
    # The same runs scored with 30-s intervals: faster, but noisier occupancy.
    ours_30s: AidScore
    baseline_30s: AidScore

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return asdict(self)


def evaluate_aid(
    *,
    seeds: Sequence[int] = EVALUATION_SEEDS,
    free_seeds: Sequence[int] | None = None,
    end_s: int = 3000,
    params: AidParams = DEFAULT_AID,
    baseline: AidParams = CALIFORNIA7,
) -> AidEvaluation:
    """Simulate incident and incident-free runs in SUMO and score ours against the baseline."""
    import time

    free_seeds = seeds[: max(1, len(seeds) // 2)] if free_seeds is None else free_seeds
    cases = aid_cases(seeds, with_incident=True, end_s=end_s)
    cases += aid_cases(free_seeds, with_incident=False, end_s=end_s)
    t0 = time.perf_counter()
    results = [simulate_case(c) for c in cases]
    wall = time.perf_counter() - t0
    return AidEvaluation(
        runs_with_incident=len(seeds),
        runs_without=len(free_seeds),
        simulated_hours=sum(c.end_s for c in cases) / 3600.0,
        sumo_wall_s=wall,
        ours=score_aid(results, params),
        baseline=score_aid(results, baseline),
        params=asdict(params),
        ours_30s=score_aid(results, params, interval_s=30),
        baseline_30s=score_aid(results, baseline, interval_s=30),
    )


# ---------------------------------------------------------------------------------------------
# Tables


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or not np.isfinite(a) or not np.isfinite(b) or b == 0:
        return "n/a"
    return f"{a / b:.2f}"


def forecast_table(ev: ForecastEvaluation) -> str:
    """Return the forecast evaluation as a plain-text table."""
    lines = [
        f"Flow forecasts, MASE (median over {ev.detectors} detectors; scale: in-sample weekly "
        f"seasonal-naive MAE); held out: last {ev.test_days} days from {ev.test_start}",
        f"{'horizon':>8} {'ours':>7} {'sn-week':>8} {'sn-day':>7} {'ours/sn-week':>13} "
        f"{'detectors ours better':>22}",
    ]
    for h in ev.horizons_min:
        ours = ev.median_mase["ours"][h]
        week = ev.median_mase["seasonal_naive_week"][h]
        day = ev.median_mase["seasonal_naive_day"][h]
        lines.append(
            f"{h:>5} min {ours:>7.3f} {week:>8.3f} {day:>7.3f} {_ratio(ours, week):>13} "
            f"{ev.share_better[h]:>21.0%}"
        )
    return "\n".join(lines)


def _aid_rows(o: AidScore, b: AidScore) -> list[str]:
    def fmt(v: float | None, spec: str) -> str:
        return "n/a" if v is None or not np.isfinite(v) else format(v, spec)

    rows = [
        ("detection rate", fmt(o.detection_rate, ".0%"), fmt(b.detection_rate, ".0%"),
         _ratio(o.detection_rate, b.detection_rate)),
        ("false alarm rate (per decision)", fmt(o.false_alarm_rate, ".4%"),
         fmt(b.false_alarm_rate, ".4%"), _ratio(o.false_alarm_rate, b.false_alarm_rate)),
        ("false alarms", str(o.false_alarms), str(b.false_alarms), ""),
        ("  of which wrong section, during", str(o.wrong_section), str(b.wrong_section), ""),
        ("false alarms per pair-hour", fmt(o.false_alarms_per_pair_hour, ".3f"),
         fmt(b.false_alarms_per_pair_hour, ".3f"), ""),
        ("mean time to detect (s)", fmt(o.mean_time_to_detect_s, ".0f"),
         fmt(b.mean_time_to_detect_s, ".0f"),
         _ratio(o.mean_time_to_detect_s, b.mean_time_to_detect_s)),
        ("median time to detect (s)", fmt(o.median_time_to_detect_s, ".0f"),
         fmt(b.median_time_to_detect_s, ".0f"),
         _ratio(o.median_time_to_detect_s, b.median_time_to_detect_s)),
    ]  # fmt: skip
    head = f"{o.interval_s}-s intervals ({o.decisions} pair-interval decisions)"
    out = [f"{head:40} {'ours (#7+speed)':>16} {'California #7':>14} {'ratio':>6}"]
    out += [f"  {name:38} {a:>16} {c:>14} {r:>6}" for name, a, c, r in rows]
    return out


def aid_table(ev: AidEvaluation) -> str:
    """Return the incident-detection evaluation as a plain-text table."""
    lines = [
        f"Incident detection on SUMO: {ev.runs_with_incident} runs with one incident, "
        f"{ev.runs_without} without; {ev.simulated_hours:.1f} simulated hours; "
        f"SUMO wall {ev.sumo_wall_s:.0f} s",
        *_aid_rows(ev.ours, ev.baseline),
        *_aid_rows(ev.ours_30s, ev.baseline_30s),
    ]
    return "\n".join(lines)
