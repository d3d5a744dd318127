"""Duplicate detection measured on generated reports with a known answer (prints P/R)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from shared.service_requests.models import ServiceRequest
from shared.service_requests.schemas import RequestCreate
from shared.service_requests.service import create_request, find_duplicates, get_service

SERVICES = ["pothole", "graffiti", "blocked_drain", "streetlight_out"]
ATTRS = {
    "pothole": {"size": "small"},
    "graffiti": {},
    "blocked_drain": {"flooding": "no"},
    "streetlight_out": {"problem": "off"},
}
# Adlershof demo city, roughly.
BOX = (13.525, 52.418, 13.565, 52.445)


def _offset(lon: float, lat: float, metres: float, rng: random.Random) -> tuple[float, float]:
    ang = rng.uniform(0, 2 * math.pi)
    dlat = metres * math.cos(ang) / 111_320
    dlon = metres * math.sin(ang) / (111_320 * math.cos(math.radians(lat)))
    return lon + dlon, lat + dlat


def test_duplicate_precision_recall(catalogue: Session) -> None:
    rng = random.Random(5)
    now = datetime.now(UTC)
    incidents: list[tuple[str, float, float, int]] = []  # service, lon, lat, first request id
    tp = fp = fn = tn = 0
    for _ in range(300):
        dup = incidents and rng.random() < 0.4
        if dup:
            code, lon0, lat0, truth = rng.choice(incidents)
            # Phone GPS error: mostly 5-25 m, sometimes worse (a long tail past the radius).
            lon, lat = _offset(lon0, lat0, abs(rng.gauss(0, 20)), rng)
        else:
            code = rng.choice(SERVICES)
            lon, lat = rng.uniform(BOX[0], BOX[2]), rng.uniform(BOX[1], BOX[3])
            truth = None
        svc = get_service(session=catalogue, code=code)
        matches = find_duplicates(
            session=catalogue,
            service_id=svc.id,
            lon=lon,
            lat=lat,
            at=now,
            radius_m=50,
            window=timedelta(hours=72),
        )
        guess = matches[0][0].id if matches else None
        if truth is not None:
            tp += guess == truth
            fn += guess != truth
            fp += guess is not None and guess != truth
        else:
            fp += guess is not None
            tn += guess is None
        if truth is None:
            req = create_request(
                session=catalogue,
                actor="gen",
                data=RequestCreate(service_code=code, lat=lat, long=lon, attributes=ATTRS[code]),
            )
            incidents.append((code, lon, lat, req.id))
    precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
    print(
        f"\nduplicate detection (radius 50 m, 72 h; 300 reports, {len(incidents)} incidents): "
        f"precision {precision:.3f}, recall {recall:.3f} (tp {tp}, fp {fp}, fn {fn}, tn {tn})"
    )
    assert catalogue.query(ServiceRequest).count() >= len(incidents)
    assert precision >= 0.9 and recall >= 0.8
