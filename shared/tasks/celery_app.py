"""The Celery application: Redis broker, late acks, one queue per concern, beat schedule."""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from celery import Celery
from celery.signals import worker_process_init, worker_ready

from shared.config import Settings, get_settings
from shared.ingest.schemas import Batch, batch_encoder, batch_packer

log = logging.getLogger(__name__)

QUEUES = ("ingest", "urgent", "alerts", "maintenance", "push")
# Batches of readings that may raise an alert (the bridge's urgent lane): a worker of their own
# (`smartcity worker --queues urgent --pool solo`) takes them past the bulk batches.
URGENT_QUEUE = "urgent"
WORKER_QUEUES_ENV = "SMARTCITY_WORKER_QUEUES"  # set by `smartcity worker` for its processes


def serves_queue(name: str) -> bool:
    """Tell whether this process is a worker started to consume the queue `name`."""
    return name in os.environ.get(WORKER_QUEUES_ENV, "").split(",")


def make_celery(settings: Settings | None = None) -> Celery:
    """Return a Celery app configured from settings."""
    settings = settings or get_settings()
    app = Celery("smartcity", broker=settings.redis_url or "memory://")
    app.conf.update(
        # At-least-once: a task is acknowledged only after it finished, and a worker killed
        # mid-task gives the message back. The batch work is idempotent, so redelivery is safe.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=4,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        # A pool process warms up (PROCESS_WARM_UPS: connections, caches) before it reports up;
        # ~0.9 s at load 5 here, and Celery's 4 s default would kill and restart it, in a loop,
        # on a busy box or a slow database.
        worker_proc_alive_timeout=60.0,
        # kombu sweeps for abandoned (unacknowledged) messages only every interval x throttle
        # seconds, 100 s by default; sweep at least every half visibility timeout instead.
        broker_transport_options={
            "visibility_timeout": settings.ingest_visibility_timeout_s,
            "unacked_restore_interval": max(1, min(10, settings.ingest_visibility_timeout_s // 2)),
            "unacked_restore_throttle": 1,
        },
        task_routes={
            "ingest.*": {"queue": "ingest"},
            "alerts.*": {"queue": "alerts"},
            "maintenance.*": {"queue": "maintenance"},
            "notify.*": {"queue": "push"},
        },
        task_default_queue="maintenance",
        beat_schedule={
            "stale-sensors": {"task": "alerts.check_stale", "schedule": 30.0},
            "window-sums": {"task": "alerts.sync_window_sums", "schedule": 60.0},
            "partitions-ahead": {"task": "maintenance.ensure_partitions", "schedule": 3600.0},
            "roll-ups": {"task": "maintenance.roll_up", "schedule": 300.0},
            "retention": {"task": "maintenance.apply_retention", "schedule": 86_400.0},
        },
        include=[
            "shared.tasks.ingest",
            "shared.tasks.alerts",
            "shared.tasks.maintenance",
            "shared.notifications.tasks",
        ],
    )
    return app


celery_app = make_celery()

# What a task module wants ready in each pool process before its first task (connections,
# caches); run once per process at start, each failure logged and left to the first task.
PROCESS_WARM_UPS: list[Callable[[], None]] = []


def freeze_heap() -> None:
    """Collect once, then move the start-up heap out of the collector's reach (gc.freeze)."""
    # Everything built so far (Celery, kombu, SQLAlchemy, Flask-SocketIO, pydantic, our modules:
    # about 200,000 objects the collector tracks) lives as long as the process. Frozen, a full
    # collection no longer walks it: 136-300 ms instead of under 1 ms measured here, a pause
    # that lands on whichever batch, and so on whichever alert, is in the process at the time.
    gc.collect()
    gc.freeze()


@worker_process_init.connect
def _prepare_pool_process(**_kwargs: Any) -> None:
    """Warm up a new pool process, then freeze its start-up heap."""
    t0 = time.perf_counter()
    for warm_up in PROCESS_WARM_UPS:
        try:
            warm_up()
        except Exception:  # a cold first batch is slower, not wrong
            log.exception("worker warm-up %s failed", getattr(warm_up, "__name__", warm_up))
    freeze_heap()
    log.info("pool process ready in %.0f ms, %d objects frozen",
             (time.perf_counter() - t0) * 1e3, gc.get_freeze_count())  # fmt: skip


@worker_ready.connect
def _freeze_main_process(**_kwargs: Any) -> None:
    """Freeze the main process's heap too: it takes every task off Redis for the pool."""
    freeze_heap()


def stored_key(batch_id: str) -> str:
    """Return the Redis list the worker pushes to once a batch is committed (no confirm_to)."""
    return f"smartcity:ingest:stored:{batch_id}"


PAYLOAD_PREFIX = "smartcity:ingest:batch:"
# A stored batch outlives its bridge's wait for the confirmation by this much (seconds): a task
# that finds its batch gone knows the bridge gave up on it, and MQTT redelivers its messages.
PAYLOAD_TTL_MARGIN_S = 60


def payload_key(batch_id: str) -> str:
    """Return the Redis key that holds a batch the bridge's sink sent (see ConfirmedSink)."""
    return f"{PAYLOAD_PREFIX}{batch_id}"


CONFIRM_PREFIX = "smartcity:ingest:confirm:"
CONFIRM_KEY_TTL_S = 300  # the worker's pushes expire if their bridge is gone
CONFIRMER_IDLE_S = 5.0  # the confirmer thread ends after this long with nothing pending


class BatchNotConfirmed(RuntimeError):
    """The worker did not confirm a batch in time; the bridge lets MQTT redeliver it."""


class ConfirmedSink:
    """The bridge's sink: one `ingest.store_batch` task per batch, confirmed through Redis.

    The bridge acknowledges MQTT messages only once the worker says their batch is committed.
    Celery on Redis alone is not enough: a worker killed between taking a task off the queue
    and recording it as unacknowledged loses that task (kombu's BRPOP window). `submit` sends
    the task and returns; the worker pushes the batch id to this sink's own list (`confirm_to`)
    after commit, and one confirmer thread on one Redis connection BLPOPs that list and calls
    each batch's `on_done`, so a bridge can keep several batches in flight (`AsyncSink` of
    shared.ingest.bridge). A batch not confirmed within `timeout_s` gets BatchNotConfirmed.
    Calling the sink instead (`sink(batch)`) sends and waits, one batch at a time.

    The batch itself does not travel in the task: `submit` stores it as MessagePack under
    `payload_key(batch_id)` and the task carries the key. Inline, Celery's JSON serializer
    escaped the batch's JSON text, the Redis transport base64-encoded it, and the worker paid
    for all of it again to decode it and to copy the message into kombu's unacknowledged hash
    (acks_late): 9-15 ms of the worker's CPU per batch of 5,000 beside a task body of about 40,
    and 7 ms of the bridge's (bench/ingest/README.md). The worker deletes the key in the
    transaction that confirms the batch; otherwise it expires `PAYLOAD_TTL_MARGIN_S` after this
    sink stopped waiting, when MQTT redelivers the batch's messages anyway. Workers must be
    upgraded before bridges: an older worker does not know the key.
    """

    def __init__(self, app: Celery, *, redis_url: str, timeout_s: float) -> None:
        import redis

        self._app = app
        self._redis = redis.Redis.from_url(redis_url)
        self.timeout_s = timeout_s
        self.payload_ttl_s = int(timeout_s) + PAYLOAD_TTL_MARGIN_S
        self.confirm_to = f"{CONFIRM_PREFIX}{uuid.uuid4().hex}"
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[float, Callable[[BaseException | None], None]]] = {}
        self._thread: threading.Thread | None = None
        self._closed = False

    def close(self) -> None:
        """Stop the confirmer; batches still pending are never settled (MQTT redelivers them)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            thread.join()
        self._redis.close()

    @property
    def pending(self) -> int:
        """Return how many batches are sent and not yet confirmed."""
        with self._lock:
            return len(self._pending)

    def submit(
        self, batch: Batch, on_done: Callable[[BaseException | None], None], *, urgent: bool = False
    ) -> None:
        """Send the batch's task (urgent: to the urgent queue); `on_done` follows from the
        confirmer thread."""
        with self._lock:
            if self._closed:
                raise RuntimeError("ConfirmedSink is closed")
            self._pending[batch.batch_id] = (time.monotonic() + self.timeout_s, on_done)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._confirm, name="ingest-confirmer", daemon=True
                )
                self._thread.start()
        try:
            key = payload_key(batch.batch_id)
            self._redis.set(key, batch_packer.encode(batch), ex=self.payload_ttl_s)
            self._app.send_task(
                "ingest.store_batch",
                kwargs={"confirm_to": self.confirm_to, "payload_key": key},
                **({"queue": URGENT_QUEUE} if urgent else {}),
            )
        except BaseException:
            with self._lock:
                self._pending.pop(batch.batch_id, None)
            raise

    def __call__(self, batch: Batch) -> None:
        """Send one batch and wait for its confirmation; raise BatchNotConfirmed on timeout."""
        settled = threading.Event()
        errors: list[BaseException | None] = []

        def on_done(error: BaseException | None) -> None:
            errors.append(error)
            settled.set()

        self.submit(batch, on_done)
        settled.wait()
        if errors[0] is not None:
            raise errors[0]

    def _confirm(self) -> None:
        """Match the worker's confirmations to pending batches; time out the late ones."""
        idle_since = time.monotonic()
        while True:
            with self._lock:
                if self._closed:
                    self._thread = None
                    return
                if not self._pending:
                    if time.monotonic() - idle_since > CONFIRMER_IDLE_S:
                        self._thread = None  # the next submit starts another
                        return
                else:
                    idle_since = time.monotonic()
            settled: list[tuple[Callable[[BaseException | None], None], BaseException | None]]
            settled = []
            try:
                got = self._redis.blpop([self.confirm_to], timeout=0.25)
                ids = [got[1]] if got else []
                if got:  # others pushed meanwhile: take them in the same round trip
                    ids += self._redis.lpop(self.confirm_to, 1000) or []
            except Exception:  # Redis away: batches time out below, MQTT redelivers them
                log.exception("confirmer lost Redis")
                ids = []
                time.sleep(0.25)
            now = time.monotonic()
            with self._lock:
                for raw in ids:
                    entry = self._pending.pop(raw.decode(), None)
                    if entry is not None:  # else: a batch that timed out already
                        settled.append((entry[1], None))
                for batch_id, (deadline, on_done) in list(self._pending.items()):
                    if deadline < now:
                        del self._pending[batch_id]
                        error = BatchNotConfirmed(
                            f"batch {batch_id} not stored within {self.timeout_s:.0f} s"
                        )
                        settled.append((on_done, error))
            for on_done, error in settled:
                try:
                    on_done(error)
                except Exception:
                    log.exception("on_done failed")


def ingest_sink(
    app: Celery, *, redis_url: str | None = None, confirm_timeout_s: float | None = None
) -> Callable[[Batch], None]:
    """Return the bridge's sink: one `ingest.store_batch` task per batch.

    With `redis_url`, a ConfirmedSink: the bridge acknowledges MQTT messages only once their
    readings are in the database, with several batches in flight if it asks for them, and the
    batch waits in Redis for the task. Without, fire and forget, the batch inline as msgspec
    JSON text (tests and tools that do not need the guarantee).
    """
    if redis_url:
        settings = get_settings()
        timeout = confirm_timeout_s or float(settings.ingest_visibility_timeout_s + 30)
        return ConfirmedSink(app, redis_url=redis_url, timeout_s=timeout)

    def enqueue(batch: Batch) -> None:
        app.send_task("ingest.store_batch", args=[batch_encoder.encode(batch).decode()])

    return enqueue
