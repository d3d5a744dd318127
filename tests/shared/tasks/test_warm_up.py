"""A worker's pool process at start: connections and caches warmed, then its heap frozen."""

from __future__ import annotations

import gc
import logging

import pytest
from celery.signals import worker_process_init
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import shared.tasks.celery_app as celery_app_module
from shared.pipeline import RuleCache, warm_up_pipeline
from shared.sensing.flows import DatastreamIndex
from shared.sensing.service import load_datastream_keys


def test_a_pool_process_runs_its_warm_ups_then_freezes_its_heap(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise ConnectionError("database away")

    def fine() -> None:
        ran.append("fine")

    monkeypatch.setattr(celery_app_module, "PROCESS_WARM_UPS", [broken, fine])
    gc.unfreeze()
    try:
        with caplog.at_level(logging.INFO, logger=celery_app_module.__name__):
            worker_process_init.send(sender=None)
        assert ran == ["fine"]  # a failing warm-up is logged and does not stop the others
        assert "worker warm-up broken failed" in caplog.text
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


@pytest.mark.stack
def test_the_pipeline_warm_up_loads_the_sensor_index(engine: Engine) -> None:
    index, rules = DatastreamIndex(), RuleCache()
    with Session(engine) as s:
        key = load_datastream_keys(session=s, thing_codes=["AQ-01"])[0]
    assert index.by_id(key.datastream_id) is None
    warm_up_pipeline(engine=engine, index=index, rules=rules)
    assert index.by_id(key.datastream_id) == key
