"""Stage queues, task names and the Celery configuration every process shares.

- acks late + reject on worker lost: a task is acknowledged only after it ran, so a crash or a
  SIGKILL leaves the message in Redis to be delivered again (tasks are idempotent);
- prefetch 1: a worker holds at most the message it is running;
- leases instead of a long visibility timeout: a live worker renews every message it holds
  (workers/leases.py), so the visibility timeout only has to outlast a few missed renewals, not
  the longest task or retry countdown; the messages of a worker killed whole (parent and pool
  children) go back to their queue within the visibility timeout plus the restore interval;
- what Redis lost (restarted empty) the beat sweep finds in the database and re-sends: the sweep
  asks `held_tasks` which tasks Redis still carries, queued or unacked;
- hard and soft time limits; JSON only; results ignored (they live in the database);
- on a lost broker connection running tasks are cancelled (and redelivered), and the worker
  reconnects forever, so a Redis restart never leaves workers silently idle.

The API and the CLI send tasks by the names below and never import `workers`; the worker
process loads `workers.tasks` through Celery's `include`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from datetime import timedelta
from enum import StrEnum
from typing import Any

import redis
from celery import Celery
from kombu import Queue
from kombu.transport.redis import Channel as RedisChannel

from integrity.config import Settings


class Stage(StrEnum):
    """A pipeline stage: one Redis queue each."""

    INGEST = "ingest"
    ANALYZE = "analyze"
    SCORE = "score"
    RESCAN = "rescan"


# No separate index queue: analysis decodes each file once and fingerprints, matches and indexes
# it in the same step (a separate stage would decode again or ship fingerprints through Redis).
STAGES: tuple[str, ...] = tuple(stage.value for stage in Stage)
TASKS_MODULE = "workers.tasks"
INGEST_DELIVERY_TASK = f"{TASKS_MODULE}.ingest_delivery"
ANALYZE_TRACK_TASK = f"{TASKS_MODULE}.analyze_track"
SCORE_TRACK_TASK = f"{TASKS_MODULE}.score_track"
RESCAN_BATCH_TASK = f"{TASKS_MODULE}.rescan_batch"
SWEEP_TASK = f"{TASKS_MODULE}.sweep"
# The worker's lease-renewal bootstep, named (not imported: only a consuming worker loads it).
LEASE_RENEWAL_STEP = "workers.leases:LeaseRenewal"


def queue_name(stage: str, settings: Settings) -> str:
    """The Redis queue of one pipeline stage (with the optional per-deployment prefix)."""
    return f"{settings.queue_prefix}{stage}"


# A live worker may miss this many lease renewals in a row (a slow Redis, a busy host) before
# Redis hands its messages to another worker.
LEASE_RENEWALS_PER_VISIBILITY_TIMEOUT = 3
# kombu's Redis bookkeeping of delivered, not yet acknowledged messages (a hash of the messages,
# a sorted set of their lease times, the lock of the restore scan): prefixed like the queues.
UNACKED_KEY, UNACKED_INDEX_KEY, UNACKED_MUTEX_KEY = "unacked", "unacked_index", "unacked_mutex"
SCAN_CHUNK = 1000  # messages read per Redis round trip when the sweep looks at the queues


def unacked_keys(settings: Settings) -> dict[str, str]:
    """The transport options naming kombu's unacked hash, index and mutex for this prefix."""
    prefix = settings.queue_prefix
    return {
        "unacked_key": f"{prefix}{UNACKED_KEY}",
        "unacked_index_key": f"{prefix}{UNACKED_INDEX_KEY}",
        "unacked_mutex_key": f"{prefix}{UNACKED_MUTEX_KEY}",
    }


def check_timeouts(settings: Settings) -> None:
    """Refuse a configuration in which Redis could redeliver a message that is still running:
    the visibility timeout must outlast several lease renewals of a live worker."""
    renew = settings.broker_lease_renew_interval_s
    if renew <= 0:
        raise ValueError("INTEGRITY_BROKER_LEASE_RENEW_INTERVAL_S must be positive")
    if settings.broker_visibility_timeout_s < LEASE_RENEWALS_PER_VISIBILITY_TIMEOUT * renew:
        raise ValueError(
            "INTEGRITY_BROKER_VISIBILITY_TIMEOUT_S must be at least "
            f"{LEASE_RENEWALS_PER_VISIBILITY_TIMEOUT} lease renewals "
            f"({LEASE_RENEWALS_PER_VISIBILITY_TIMEOUT * renew} s)"
        )
    if settings.task_soft_time_limit_s >= settings.task_time_limit_s:
        raise ValueError("INTEGRITY_TASK_SOFT_TIME_LIMIT_S must be below the hard limit")
    if settings.sweep_interval_s <= 0 or settings.task_stall_after_s <= 0:
        raise ValueError("INTEGRITY_SWEEP_INTERVAL_S and INTEGRITY_TASK_STALL_AFTER_S must be > 0")


def create_celery(settings: Settings) -> Celery:
    """A Celery app configured from Settings (workers load the tasks through `include`)."""
    check_timeouts(settings)
    transport = {
        **unacked_keys(settings),
        "visibility_timeout": settings.broker_visibility_timeout_s,
        # Return messages of dead workers every interval (kombu's default scans only every
        # 10th interval, i.e. 100 s) once they are older than the visibility timeout.
        "unacked_restore_interval": settings.broker_restore_interval_s,
        "unacked_restore_throttle": 1,
        "socket_keepalive": True,
        "health_check_interval": settings.broker_health_check_interval_s,
    }
    app = Celery("integrity", broker=settings.redis_url, include=[TASKS_MODULE])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        broker_connection_retry=True,
        broker_connection_max_retries=None,
        broker_transport_options=transport,
        result_backend=None,
        result_backend_transport_options={"visibility_timeout": transport["visibility_timeout"]},
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_time_limit=settings.task_time_limit_s,
        task_soft_time_limit=settings.task_soft_time_limit_s,
        task_queues=[Queue(queue_name(stage, settings)) for stage in STAGES],
        task_default_queue=queue_name("ingest", settings),
        task_create_missing_queues=False,
        worker_hijack_root_logger=False,
        # Our log handler writes to the current sys.stderr; Celery's redirect would make that a
        # proxy feeding the same handler, whose recursion guard then drops every line.
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        timezone="UTC",
        enable_utc=True,
        beat_schedule={
            "sweep": {
                "task": SWEEP_TASK,
                "schedule": timedelta(seconds=settings.sweep_interval_s),
                "options": {"queue": queue_name("ingest", settings)},
            }
        },
    )
    app.steps["consumer"].add(LEASE_RENEWAL_STEP)
    return app



def _queue_keys(settings: Settings) -> Iterator[str]:
    """Every Redis list a stage queue's messages may wait in (one per kombu priority step)."""
    for stage in STAGES:
        name = queue_name(stage, settings)
        for priority in RedisChannel.priority_steps:
            yield name if priority == 0 else f"{name}{RedisChannel.sep}{priority}"


def _task_of(raw: bytes | str) -> tuple[str, tuple[Any, ...]] | None:
    """(task name, positional args) of one kombu message as stored in Redis; None if foreign."""
    try:
        message = json.loads(raw)
        if isinstance(message, list):  # an unacked entry: [message, exchange, routing key]
            message = message[0]
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return str(message["headers"]["task"]), tuple(args)
    except (ValueError, KeyError, IndexError, TypeError, binascii.Error):
        return None


def held_tasks(client: redis.Redis, settings: Settings) -> set[tuple[str, tuple[Any, ...]]]:
    """(task name, args) of every message Redis still carries for this deployment: waiting in a
    stage queue, or delivered and not yet acknowledged (running, reserved, or held by a dead
    worker until its lease expires and kombu puts it back). One pass, SCAN_CHUNK at a time."""
    held: set[tuple[str, tuple[Any, ...]]] = set()
    for key in _queue_keys(settings):
        start = 0
        while chunk := client.lrange(key, start, start + SCAN_CHUNK - 1):
            held.update(task for raw in chunk if (task := _task_of(raw)) is not None)
            start += SCAN_CHUNK
    unacked = unacked_keys(settings)["unacked_key"]
    for _, raw in client.hscan_iter(unacked, count=SCAN_CHUNK):
        if (task := _task_of(raw)) is not None:
            held.add(task)
    return held
