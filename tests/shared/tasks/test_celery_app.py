"""The bridge's Celery sink against the real (private) Redis: confirmations matched by batch id
in any order, one confirmer connection, and a timeout for a batch nobody confirms."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from uuid import uuid4

import pytest
import redis

from shared.config import get_settings
from shared.ingest.bridge import AsyncSink
from shared.ingest.schemas import Batch, Reading, batch_unpacker
from shared.stack import StackState
from shared.tasks.celery_app import (
    PAYLOAD_TTL_MARGIN_S,
    BatchNotConfirmed,
    ConfirmedSink,
    ingest_sink,
    make_celery,
    payload_key,
)
from shared.tasks.ingest import confirm_stored

pytestmark = pytest.mark.stack


def _batch() -> Batch:
    return Batch(batch_id=uuid4().hex, received_at=time.time(),
                 readings=[Reading("AQ-01", "pm25", time.time(), 10.0)])  # fmt: skip


@pytest.fixture
def sink(stack: StackState) -> Iterator[ConfirmedSink]:
    # A broker database no worker reads, so that only the test confirms (as the worker would).
    broker = stack.redis_url.rsplit("/", 1)[0] + "/9"
    redis.Redis.from_url(broker).flushdb()
    app = make_celery(get_settings().model_copy(update={"redis_url": broker}))
    made = ingest_sink(app, redis_url=stack.redis_url, confirm_timeout_s=1.0)
    assert isinstance(made, ConfirmedSink) and isinstance(made, AsyncSink)
    yield made
    made.close()


def test_confirmations_are_matched_by_batch_id_and_late_ones_time_out(
    stack: StackState, sink: ConfirmedSink
) -> None:
    settled: list[tuple[str, BaseException | None]] = []
    done = threading.Condition()

    def on_done_for(batch: Batch):  # type: ignore[no-untyped-def]
        def on_done(error: BaseException | None) -> None:
            with done:
                settled.append((batch.batch_id, error))
                done.notify_all()

        return on_done

    batches = [_batch() for _ in range(3)]
    started = time.monotonic()
    for batch in batches:
        sink.submit(batch, on_done_for(batch))
    broker = redis.Redis.from_url(stack.redis_url.rsplit("/", 1)[0] + "/9")
    assert broker.llen("ingest") == 3  # sent at once, none waited for
    assert sink.pending == 3

    confirm_stored(batches[2].batch_id, sink.confirm_to)  # out of order, as the worker may
    confirm_stored(batches[0].batch_id, sink.confirm_to)
    with done:
        assert done.wait_for(lambda: len(settled) == 2, timeout=0.9)
    assert settled == [(batches[2].batch_id, None), (batches[0].batch_id, None)]

    with done:
        assert done.wait_for(lambda: len(settled) == 3, timeout=5)
    batch_id, error = settled[2]
    assert batch_id == batches[1].batch_id and isinstance(error, BatchNotConfirmed)
    assert time.monotonic() - started >= 1.0
    confirm_stored(batches[1].batch_id, sink.confirm_to)  # too late: ignored, not settled twice
    time.sleep(0.5)
    assert len(settled) == 3 and sink.pending == 0


def test_calling_the_sink_waits_for_the_confirmation(sink: ConfirmedSink) -> None:
    batch = _batch()
    threading.Timer(0.2, confirm_stored, args=(batch.batch_id, sink.confirm_to)).start()
    t0 = time.monotonic()
    sink(batch)
    assert 0.15 < time.monotonic() - t0 < 1.0
    with pytest.raises(BatchNotConfirmed):
        sink(_batch())  # nobody confirms


def test_an_urgent_batch_goes_to_the_urgent_queue(stack: StackState, sink: ConfirmedSink) -> None:
    broker = redis.Redis.from_url(stack.redis_url.rsplit("/", 1)[0] + "/9")
    settled: list[BaseException | None] = []
    urgent, bulk = _batch(), _batch()
    sink.submit(urgent, settled.append, urgent=True)
    sink.submit(bulk, settled.append)
    assert (broker.llen("urgent"), broker.llen("ingest")) == (1, 1)
    # Routed by queue only: the task and its confirmation work as for any batch.
    (message,) = broker.lrange("urgent", 0, -1)
    assert urgent.batch_id.encode() in message and b"ingest.store_batch" in message
    confirm_stored(urgent.batch_id, sink.confirm_to)
    deadline = time.monotonic() + 5
    while not settled and time.monotonic() < deadline:
        time.sleep(0.01)
    assert settled == [None] and sink.pending == 1


def test_the_batch_waits_in_redis_and_the_task_carries_only_its_key(
    stack: StackState, sink: ConfirmedSink
) -> None:
    broker = redis.Redis.from_url(stack.redis_url.rsplit("/", 1)[0] + "/9")
    client = redis.Redis.from_url(stack.redis_url)
    batch = _batch()
    settled: list[BaseException | None] = []
    sink.submit(batch, settled.append)
    (message,) = broker.lrange("ingest", 0, -1)
    key = payload_key(batch.batch_id)
    assert key.encode() in message and b"AQ-01" not in message  # the readings are not inline
    assert batch_unpacker.decode(client.get(key) or b"") == batch
    # It outlives the sink's wait (1 s here), so a task that finds it gone knows the bridge
    # gave up on it; then it expires.
    assert 1 + PAYLOAD_TTL_MARGIN_S - 2 <= client.ttl(key) <= 1 + PAYLOAD_TTL_MARGIN_S
    confirm_stored(batch.batch_id, sink.confirm_to, key)  # as the worker does after commit
    assert client.exists(key) == 0
    deadline = time.monotonic() + 5
    while not settled and time.monotonic() < deadline:
        time.sleep(0.01)
    assert settled == [None]
