"""Thin tasks: ids in, service functions called, one transaction each, next task sent after it.

Every task is safe to run twice: the steps check per-track progress in the database and the
pipeline is idempotent on content hashes. Retries back off exponentially with jitter; a task
that gives up or is quarantined becomes a dead letter (`integrity deadletters list|replay`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

import redis
from celery import Task
from celery.exceptions import Retry
from celery.signals import worker_process_shutdown
from sqlalchemy.orm import Session, sessionmaker

from integrity.catalog import pipeline, storage
from integrity.config import Settings, get_settings
from integrity.db.models import utc_now
from integrity.db.session import create_db_engine, session_factory, session_scope
from integrity.service import deadletters, metrics, queues, rescans, steps
from integrity.service.errors import ServiceError
from integrity.service.queues import queue_name
from workers.app import app

logger = logging.getLogger(__name__)

PERMANENT_ERRORS = (ServiceError, pipeline.PipelineError)
HEARTBEAT_TIMEOUT_S = 2.0
SWEEP_REDIS_TIMEOUT_S = 10.0  # reading every queued and unacked message may take a moment


class _ProcessState:
    """Per-process engine and analysis resources (never shared across a fork)."""

    pid: int | None = None
    factory: sessionmaker[Session] | None = None
    resources: pipeline.AnalysisResources | None = None


def settings() -> Settings:
    return get_settings()


def sessions() -> sessionmaker[Session]:
    """The session factory of this process, created after the fork."""
    if _ProcessState.pid != os.getpid() or _ProcessState.factory is None:
        _ProcessState.pid = os.getpid()
        _ProcessState.factory = session_factory(create_db_engine(settings().database_url))
        _ProcessState.resources = None
    return _ProcessState.factory


def resources() -> pipeline.AnalysisResources:
    """Decode limits and policy, loaded once per process."""
    sessions()
    if _ProcessState.resources is None:
        _ProcessState.resources = pipeline.AnalysisResources.from_settings(settings())
    return _ProcessState.resources


@worker_process_shutdown.connect
def _close_resources(**_: Any) -> None:
    """Persist and close the fingerprint index when a pool process exits."""
    if _ProcessState.resources is not None and _ProcessState.pid == os.getpid():
        _ProcessState.resources.close()
        _ProcessState.resources = None


def beat_heartbeat(redis_url: str) -> None:
    """Record that a worker consumed the periodic sweep (workers that silently stopped
    consuming after a Redis reconnect show up as an ageing heartbeat in /metrics)."""
    client = redis.Redis.from_url(redis_url, socket_timeout=HEARTBEAT_TIMEOUT_S)
    client.set(metrics.HEARTBEAT_KEY, f"{time.time():.3f}")


class IntegrityTask(Task):
    """Counts deliveries, skips finished or quarantined messages, dead-letters failures."""

    autoretry_for = (Exception,)
    dont_autoretry_for = PERMANENT_ERRORS
    retry_backoff = True
    retry_backoff_max = get_settings().task_retry_backoff_max_s
    retry_jitter = True
    max_retries = get_settings().task_max_retries
    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True

    # What to record in the domain when this task gives up: (session, args, error) -> None.
    give_up: Callable[[Session, tuple[Any, ...], str], None] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        task_id = self.request.id
        if task_id is None:  # called directly, not through a worker
            return self.run(*args, **kwargs)
        queue = (self.request.delivery_info or {}).get("routing_key")
        with session_scope(sessions()) as session:
            verdict = deadletters.begin_attempt(
                session,
                task_id=task_id,
                task_name=self.name,
                queue=queue,
                args=list(args),
                kwargs=kwargs,
                max_deliveries=settings().task_max_deliveries,
            )
            if verdict == deadletters.SKIP_QUARANTINED and self.give_up is not None:
                self.give_up(session, args, "quarantined: redelivered too often")
        if verdict != deadletters.RUN:
            logger.warning(
                "skipping task", extra={"task": self.name, "task_id": task_id, "verdict": verdict}
            )
            if verdict == deadletters.SKIP_QUARANTINED:
                self._after_give_up(args)
            return None
        started = time.monotonic()
        try:
            result = self.run(*args, **kwargs)
        except Retry as retry:
            self._end(task_id, deadletters.STATE_RETRYING, started, str(retry.exc or retry))
            raise
        self._end(task_id, deadletters.STATE_DONE, started, None)
        return result

    def _end(self, task_id: str, state: str, started: float, error: str | None) -> None:
        with session_scope(sessions()) as session:
            deadletters.end_attempt(
                session,
                task_id=task_id,
                state=state,
                duration_s=time.monotonic() - started,
                error=error,
            )

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        """Retries exhausted or a permanent error: keep a dead letter and close the work."""
        error = f"{type(exc).__name__}: {exc}"
        queue = (self.request.delivery_info or {}).get("routing_key")
        with session_scope(sessions()) as session:
            deadletters.end_attempt(
                session,
                task_id=task_id,
                state=deadletters.STATE_FAILED,
                duration_s=0.0,
                error=error,
            )
            deadletters.record_dead_letter(
                session,
                task_id=task_id,
                task_name=self.name,
                queue=queue,
                args=list(args),
                kwargs=dict(kwargs),
                error=error,
            )
            if self.give_up is not None:
                self.give_up(session, tuple(args), error)
        self._after_give_up(tuple(args))
        logger.error("task gave up", extra={"task": self.name, "task_id": task_id, "error": error})

    def _after_give_up(self, args: tuple[Any, ...]) -> None:
        """A track task that gave up may have been the last one its delivery waited for."""
        if self.give_up is _give_up_track:
            finish(int(args[0]))


def _give_up_delivery(session: Session, args: tuple[Any, ...], error: str) -> None:
    steps.fail_step(session, delivery_id=int(args[0]), track_id=None, error=error)


def _give_up_track(session: Session, args: tuple[Any, ...], error: str) -> None:
    steps.fail_step(session, delivery_id=int(args[0]), track_id=int(args[1]), error=error)


def finish(delivery_id: int) -> None:
    """Close the delivery when its last track is done, then drop this host's downloaded copy
    (S3 backend only): no task of a closed delivery reads its files again, and a rescan that
    needs the message downloads it anew."""
    with session_scope(sessions()) as session:
        steps.finish_when_done(session, delivery_id=delivery_id)
        location = steps.finished_location(session, delivery_id=delivery_id)
    if location is not None:
        storage.store_for(settings()).evict(location)


def send(task: Task, *args: Any, stage: str) -> None:
    """Send a task to its stage's queue (always after the sender's commit)."""
    task.apply_async(args=list(args), queue=queue_name(stage, settings()))


@app.task(
    bind=True,
    base=IntegrityTask,
    name=queues.INGEST_DELIVERY_TASK,
    give_up=staticmethod(_give_up_delivery),
)
def ingest_delivery(self: IntegrityTask, delivery_id: int) -> None:
    """Parse a delivery's ERN and fan its tracks out to the analyze queue."""
    with session_scope(sessions()) as session:
        track_ids = steps.ingest_step(session, delivery_id=delivery_id, settings=settings())
    for track_id in track_ids:
        send(analyze_track, delivery_id, track_id, stage="analyze")
    if not track_ids:
        finish(delivery_id)


@app.task(
    bind=True,
    base=IntegrityTask,
    name=queues.ANALYZE_TRACK_TASK,
    give_up=staticmethod(_give_up_track),
)
def analyze_track(self: IntegrityTask, delivery_id: int, track_id: int) -> None:
    """Decode, measure, fingerprint and index one track, then send it to scoring."""
    with session_scope(sessions()) as session:
        due = steps.analyze_step(
            session,
            delivery_id=delivery_id,
            track_id=track_id,
            settings=settings(),
            resources=resources(),
        )
    if due:
        send(score_track, delivery_id, track_id, stage="score")


@app.task(
    bind=True,
    base=IntegrityTask,
    name=queues.SCORE_TRACK_TASK,
    give_up=staticmethod(_give_up_track),
)
def score_track(self: IntegrityTask, delivery_id: int, track_id: int) -> None:
    """Score one track, then close its delivery if it was the last one."""
    with session_scope(sessions()) as session:
        steps.score_step(
            session,
            delivery_id=delivery_id,
            track_id=track_id,
            settings=settings(),
            resources=resources(),
        )
    finish(delivery_id)


@app.task(bind=True, base=IntegrityTask, name=queues.RESCAN_BATCH_TASK)
def rescan_batch(self: IntegrityTask, rescan_id: int) -> None:
    """Re-score the next batch of a rescan and chain the following one."""
    with session_scope(sessions()) as session:
        more = rescans.run_batch(
            session, rescan_id=rescan_id, settings=settings(), resources=resources()
        )
    if more:
        send(rescan_batch, rescan_id, stage="rescan")


# The task (and its stage queue) that carries each step of stranded work.
RESEND_BY_STEP: dict[str, tuple[Task, str]] = {
    steps.STEP_INGEST: (ingest_delivery, "ingest"),
    steps.STAGE_ANALYZE: (analyze_track, "analyze"),
    steps.STAGE_SCORE: (score_track, "score"),
}


def _redis() -> redis.Redis:
    return redis.Redis.from_url(
        settings().redis_url,
        socket_timeout=SWEEP_REDIS_TIMEOUT_S,
        socket_connect_timeout=SWEEP_REDIS_TIMEOUT_S,
    )


def find_stranded() -> tuple[list[steps.StrandedWork], list[int]]:
    """Work and rescans that no task runs and no message in Redis carries, unchanged while Redis
    was looked at (what moved meanwhile was being handled after all)."""
    stall = settings().task_stall_after_s
    with session_scope(sessions()) as session:
        work = steps.stranded_work(session, older_than_s=stall)
        stuck = rescans.stalled_rescans(session, older_than_s=stall)
    if not work and not stuck:
        return [], []
    with _redis() as client:
        held = queues.held_tasks(client, settings())
    with session_scope(sessions()) as session:
        still = set(steps.stranded_work(session, older_than_s=stall))
        still_stuck = set(rescans.stalled_rescans(session, older_than_s=stall))
    stranded = [
        item
        for item in work
        if item in still
        and (
            item.step == steps.STEP_FINISH
            or (RESEND_BY_STEP[item.step][0].name, item.args) not in held
        )
    ]
    rescans_stuck = [
        rescan_id
        for rescan_id in stuck
        if rescan_id in still_stuck and (rescan_batch.name, (rescan_id,)) not in held
    ]
    return stranded, rescans_stuck


@app.task(bind=True, base=IntegrityTask, name=queues.SWEEP_TASK)
def sweep(self: IntegrityTask) -> None:
    """Beat: re-send the work a lost message stranded (Redis restarted empty, a send that failed
    after its commit), close deliveries whose last task died before closing them, and restart
    rescans that stopped moving. Re-sending is safe: every step checks its row's stage under
    the row's lock, so a duplicate finds its work done and changes nothing."""
    beat_heartbeat(settings().redis_url)
    stranded, stuck = find_stranded()
    for item in stranded:
        if item.step == steps.STEP_FINISH:
            finish(item.delivery_id)
        else:
            task, stage = RESEND_BY_STEP[item.step]
            send(task, *item.args, stage=stage)
    for rescan_id in stuck:
        send(rescan_batch, rescan_id, stage="rescan")
    if stranded or stuck:
        logger.warning(
            "sweep recovered stranded work",
            extra={
                "work": [(item.step, *item.args) for item in stranded],
                "rescans": stuck,
                "idle_s": [
                    round((utc_now() - item.since).total_seconds(), 1) for item in stranded
                ],
            },
        )


TASKS_BY_NAME: dict[str, Task] = {
    task.name: task for task in (ingest_delivery, analyze_track, score_track, rescan_batch, sweep)
}
