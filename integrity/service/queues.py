"""Stage queues, task names and the Celery configuration every process shares.

- acks late + reject on worker lost: a task is acknowledged only after it ran, so a crash or a
  SIGKILL leaves the message in Redis to be delivered again (tasks are idempotent);
- prefetch 1: a worker holds at most the message it is running;
- a visibility timeout larger than any task run or retry countdown, or Redis would hand a
  still-running message to a second worker;
- hard and soft time limits; JSON only; results ignored (they live in the database);
- on a lost broker connection running tasks are cancelled (and redelivered), and the worker
  reconnects forever, so a Redis restart never leaves workers silently idle.

The API and the CLI send tasks by the names below and never import `workers`; the worker
process loads `workers.tasks` through Celery's `include`.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from celery import Celery
from kombu import Queue

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
SWEEP_INTERVAL = timedelta(minutes=1)
TASKS_MODULE = "workers.tasks"
INGEST_DELIVERY_TASK = f"{TASKS_MODULE}.ingest_delivery"
ANALYZE_TRACK_TASK = f"{TASKS_MODULE}.analyze_track"
SCORE_TRACK_TASK = f"{TASKS_MODULE}.score_track"
RESCAN_BATCH_TASK = f"{TASKS_MODULE}.rescan_batch"
SWEEP_TASK = f"{TASKS_MODULE}.sweep"


def queue_name(stage: str, settings: Settings) -> str:
    """The Redis queue of one pipeline stage (with the optional per-deployment prefix)."""
    return f"{settings.queue_prefix}{stage}"


def check_timeouts(settings: Settings) -> None:
    """Refuse a configuration in which Redis could redeliver a message that is still running."""
    longest = max(settings.task_time_limit_s, settings.task_retry_backoff_max_s)
    if settings.broker_visibility_timeout_s <= longest:
        raise ValueError(
            "INTEGRITY_BROKER_VISIBILITY_TIMEOUT_S must exceed the task time limit and the "
            f"longest retry countdown ({longest} s)"
        )
    if settings.task_soft_time_limit_s >= settings.task_time_limit_s:
        raise ValueError("INTEGRITY_TASK_SOFT_TIME_LIMIT_S must be below the hard limit")


def create_celery(settings: Settings) -> Celery:
    """A Celery app configured from Settings (workers load the tasks through `include`)."""
    check_timeouts(settings)
    transport = {
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
        worker_send_task_events=False,
        timezone="UTC",
        enable_utc=True,
        beat_schedule={
            "sweep": {
                "task": SWEEP_TASK,
                "schedule": SWEEP_INTERVAL,
                "options": {"queue": queue_name("ingest", settings)},
            }
        },
    )
    return app

