"""The ingest task's order after commit: confirm to the bridge first, then fan out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
import redis
from sqlalchemy import Engine

from shared.ingest.schemas import Batch, Reading, batch_encoder, batch_packer
from shared.ingest.urgent import URGENT_LEVELS_KEY, URGENT_LEVELS_TTL_S, levels_decoder
from shared.sensing.schemas import IngestResult
from shared.stack import StackState
from shared.tasks import ingest
from shared.tasks.celery_app import payload_key


def _payload() -> tuple[str, str]:
    batch_id = uuid4().hex
    batch = Batch(batch_id=batch_id, received_at=time.time(),
                  readings=[Reading("AQ-01", "pm25", time.time(), 10.0)])  # fmt: skip
    return batch_id, batch_encoder.encode(batch).decode()


def _spy(monkeypatch: pytest.MonkeyPatch, calls: list[tuple[str, Any]]) -> None:
    def confirm(batch_id: str, to: str | None = None, key: str | None = None) -> None:
        calls.append(("confirm", batch_id) if key is None else ("confirm", batch_id, key))

    monkeypatch.setattr(ingest, "confirm_stored", confirm)
    monkeypatch.setattr(ingest, "emit_and_queue_push", lambda c: calls.append(("emit", c)))


def test_the_bridge_is_confirmed_before_the_alerts_are_emitted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, Any]] = []
    _spy(monkeypatch, calls)
    changes = ["an alert change"]

    def committed(*, batch: Batch, emit: Callable[[list[Any]], None], **_: Any) -> Any:
        calls.append(("commit", batch.batch_id))
        emit(changes)  # process_batch calls emit only after its transaction committed
        return IngestResult(batch_id=batch.batch_id), changes

    monkeypatch.setattr(ingest, "process_batch", committed)
    batch_id, payload = _payload()
    ingest.store_batch.run(payload, confirm_to="smartcity:ingest:confirm:x")
    # The bridge's next batch waits for the confirmation; the emit (Socket.IO, MQTT and one
    # push task per new alert) does not hold it up any more.
    assert calls == [("commit", batch_id), ("confirm", batch_id), ("emit", changes)]


def test_a_batch_that_did_not_commit_is_not_confirmed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, Any]] = []
    _spy(monkeypatch, calls)

    def failed(**_: Any) -> Any:
        raise RuntimeError("deadlock detected")

    monkeypatch.setattr(ingest, "process_batch", failed)
    _, payload = _payload()
    with pytest.raises(RuntimeError):
        ingest.store_batch.run(payload, confirm_to="smartcity:ingest:confirm:x")
    assert calls == []


@pytest.mark.stack
def test_a_batch_stored_in_redis_is_read_from_its_key_and_deleted_with_the_confirmation(
    monkeypatch: pytest.MonkeyPatch, stack: StackState
) -> None:
    calls: list[tuple[str, Any]] = []
    _spy(monkeypatch, calls)
    seen: list[Batch] = []

    def committed(*, batch: Batch, emit: Callable[[list[Any]], None], **_: Any) -> Any:
        seen.append(batch)
        emit([])
        return IngestResult(batch_id=batch.batch_id, stored=len(batch.readings)), []

    monkeypatch.setattr(ingest, "process_batch", committed)
    readings = [Reading("AQ-01", "pm25", 1.7e9 + i / 8, i + 0.1) for i in range(50)]
    batch = Batch(batch_id=uuid4().hex, received_at=time.time(), readings=readings)
    key = payload_key(batch.batch_id)
    client = redis.Redis.from_url(stack.redis_url)
    client.set(key, batch_packer.encode(batch), ex=60)
    out = ingest.store_batch.run(confirm_to="smartcity:ingest:confirm:x", payload_key=key)
    assert seen == [batch]  # every float as sent: MessagePack carries them as 8 bytes
    assert out["stored"] == 50
    assert calls == [("confirm", batch.batch_id, key), ("emit", [])]


@pytest.mark.stack
def test_a_task_whose_batch_is_gone_from_redis_stores_nothing_and_confirms_nothing(
    monkeypatch: pytest.MonkeyPatch, stack: StackState
) -> None:
    # Gone: deleted when it was confirmed (a redelivery after commit) or expired after the
    # bridge stopped waiting (MQTT redelivers its messages). Either way nothing must happen.
    calls: list[tuple[str, Any]] = []
    _spy(monkeypatch, calls)
    monkeypatch.setattr(ingest, "process_batch", lambda **_: calls.append(("commit", None)))
    key = payload_key(uuid4().hex)
    out = ingest.store_batch.run(confirm_to="smartcity:ingest:confirm:x", payload_key=key)
    assert out == {"payload_key": key, "missing": True}
    assert calls == []


@pytest.mark.stack
def test_the_urgent_levels_are_published_with_a_short_expiry(
    stack: StackState, engine: Engine
) -> None:
    n = ingest.publish_urgent_levels()
    client = redis.Redis.from_url(stack.redis_url)
    levels = levels_decoder.decode(client.get(URGENT_LEVELS_KEY) or b"[]")
    assert n == len(levels) > 0
    heat = [lv for lv in levels if lv.metric == "temperature" and lv.sensor_type == "weather"]
    assert [(lv.above, lv.warning, lv.critical) for lv in heat] == [(True, 32.0, 38.0)]
    # Bridges stop sending urgently within seconds of the last urgent-lane worker's end.
    assert 0 < client.ttl(URGENT_LEVELS_KEY) <= URGENT_LEVELS_TTL_S
