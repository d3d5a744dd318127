"""`twin run` against the real test stack: detectors -> MQTT -> bridge -> worker -> PostGIS,
and the platform controller reading the stored values back."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text

from shared.cli import main
from shared.ingest.bridge import Bridge
from shared.stack import StackState
from shared.tasks.celery_app import ingest_sink, make_celery
from shared.twin.service import sensor_prefix
from tests.integration.conftest import WorkerProcess, worker, worker_env  # noqa: F401

pytestmark = pytest.mark.stack


@pytest.fixture
def bridge(stack: StackState) -> Iterator[Bridge]:
    b = Bridge(
        url=stack.mqtt_url,
        sink=ingest_sink(make_celery()),
        client_id="test-bridge-twin",
        group="test-twin",
    )
    b.start()
    assert b.wait_ready(10)
    yield b
    # End the session: a persistent session left behind in the shared-subscription group would
    # keep being handed its share of later tests' messages while nobody reads them.
    b.stop(end_session=True)


def test_twin_run_stores_readings_and_drives_signals_from_them(
    stack: StackState,
    engine: Engine,
    worker: WorkerProcess,  # noqa: F811
    bridge: Bridge,
    grid_cfg: Path,
) -> None:
    result = CliRunner().invoke(
        main,
        ["twin", "run", "--sumocfg", str(grid_cfg), "--end", "300", "--speed", "30", "--json"],
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    prefix = sensor_prefix(str(grid_cfg.resolve()))
    assert summary["sensor_prefix"] == prefix
    assert summary["simulated_s"] == 300
    assert summary["signals"] > 0
    # 30 publications of every detector over 300 s, each one message.
    assert summary["messages_published"] == 30 * summary["sensors"]
    # The controller saw stored values (read back from the database, not from SUMO).
    assert summary["readings_read_back"] > 0
    with engine.connect() as c:
        query = text("SELECT count(*) FROM thing WHERE code LIKE :p")
        things = c.scalar(query, {"p": prefix + "-%"})
    assert things == summary["sensors"]
    # Every message holds at least one reading (a zone's occupancy); loops send three. The last
    # batches may still be on their way through the bridge and the worker.
    deadline = time.monotonic() + 30
    while (stored := _stored(engine, prefix)) < summary["messages_published"]:
        assert time.monotonic() < deadline, (stored, summary, _dead_letters(engine, prefix))
        time.sleep(0.5)
    with engine.connect() as c:
        dead = c.execute(
            text("SELECT reason, detail FROM dead_letter WHERE sensor_code LIKE :p LIMIT 3"),
            {"p": prefix + "-%"},
        ).all()
    assert not dead


def _stored(engine: Engine, prefix: str) -> int:
    with engine.connect() as c:
        return int(
            c.scalar(
                text(
                    "SELECT count(*) FROM observation o "
                    "JOIN datastream d ON d.id = o.datastream_id "
                    "JOIN thing t ON t.id = d.thing_id WHERE t.code LIKE :p"
                ),
                {"p": prefix + "-%"},
            )
        )


def _dead_letters(engine: Engine, prefix: str) -> list[tuple[str, int]]:
    with engine.connect() as c:
        rows = c.execute(
            text("SELECT reason, count(*) FROM dead_letter WHERE sensor_code LIKE :p "
                 "GROUP BY reason"), {"p": prefix + "-%"}).all()  # fmt: skip
    return [(r[0], r[1]) for r in rows]
