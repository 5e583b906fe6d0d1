"""Task bookkeeping for at-least-once delivery: attempts, quarantine, dead letters, replay.

Redis has no dead-letter queue, so the database keeps one. Each Celery message is counted by
its task id: a start that finds the previous start of the same message unfinished means the
worker died or lost Redis mid-task; after `max_deliveries` such starts the message is a poison
message and is quarantined (a dead letter with reason "quarantined") instead of killing
workers forever. Tasks that exhaust their retries become dead letters with reason "failed".
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrity.catalog.states import TaskAttemptState
from integrity.db.models import utc_now
from integrity.db.service_models import DeadLetter, TaskAttempt
from integrity.service.errors import ServiceError

RUN, SKIP_DONE, SKIP_QUARANTINED = "run", "done", "quarantined"
STATE_RUNNING, STATE_RETRYING, STATE_DONE, STATE_FAILED, STATE_QUARANTINED = (
    TaskAttemptState.RUNNING,
    TaskAttemptState.RETRYING,
    TaskAttemptState.DONE,
    TaskAttemptState.FAILED,
    TaskAttemptState.QUARANTINED,
)
REASON_FAILED, REASON_QUARANTINED = "failed", "quarantined"
MAX_ERROR_CHARS = 4000


def begin_attempt(
    session: Session,
    *,
    task_id: str,
    task_name: str,
    queue: str | None,
    args: list[Any],
    kwargs: dict[str, Any],
    max_deliveries: int,
) -> str:
    """Count one delivery of a message; returns RUN, SKIP_DONE or SKIP_QUARANTINED."""
    now = utc_now()
    attempt = session.get(TaskAttempt, task_id, with_for_update=True)
    if attempt is None:
        session.add(
            TaskAttempt(task_id=task_id, task_name=task_name, deliveries=1, state=STATE_RUNNING)
        )
        return RUN
    attempt.last_seen_at = now
    if attempt.state == STATE_DONE:
        return SKIP_DONE
    if attempt.state in (STATE_QUARANTINED, STATE_FAILED):
        return SKIP_QUARANTINED
    if attempt.state == STATE_RUNNING:  # the previous start never finished: crash or lost link
        attempt.deliveries += 1
        if attempt.deliveries > max_deliveries:
            attempt.state = STATE_QUARANTINED
            record_dead_letter(
                session,
                task_id=task_id,
                task_name=task_name,
                queue=queue,
                args=args,
                kwargs=kwargs,
                error=f"delivered {attempt.deliveries} times without finishing",
                reason=REASON_QUARANTINED,
            )
            return SKIP_QUARANTINED
    attempt.state = STATE_RUNNING
    return RUN


def end_attempt(
    session: Session, *, task_id: str, state: str, duration_s: float, error: str | None = None
) -> None:
    """Record how one run of a message ended (done, retrying or failed)."""
    attempt = session.get(TaskAttempt, task_id, with_for_update=True)
    if attempt is None:
        return
    attempt.state = state
    attempt.last_seen_at = utc_now()
    attempt.last_duration_s = duration_s
    attempt.last_error = error[:MAX_ERROR_CHARS] if error else None


def record_dead_letter(
    session: Session,
    *,
    task_id: str,
    task_name: str,
    queue: str | None,
    args: list[Any],
    kwargs: dict[str, Any],
    error: str,
    reason: str = REASON_FAILED,
) -> DeadLetter:
    """A task that gave up for good (or was quarantined), kept with its arguments for replay."""
    attempt = session.get(TaskAttempt, task_id)
    letter = DeadLetter(
        task_name=task_name,
        task_id=task_id,
        queue=queue,
        args=list(args),
        kwargs=dict(kwargs),
        reason=reason,
        error=error[:MAX_ERROR_CHARS],
        attempts=attempt.deliveries if attempt is not None else 1,
    )
    session.add(letter)
    session.flush()
    return letter


def list_dead_letters(
    session: Session, *, include_replayed: bool = False, limit: int = 100
) -> list[DeadLetter]:
    """Dead letters, oldest first (not yet replayed unless asked)."""
    query = select(DeadLetter).order_by(DeadLetter.id).limit(limit)
    if not include_replayed:
        query = query.where(DeadLetter.replayed_at.is_(None))
    return list(session.scalars(query))


def mark_replayed(session: Session, *, letter_id: int) -> DeadLetter:
    """Give a dead letter the fresh task id it will be re-sent with (after the commit)."""
    letter = session.get(DeadLetter, letter_id, with_for_update=True)
    if letter is None:
        raise ServiceError(404, "dead_letter_id", f"dead letter {letter_id} does not exist")
    if letter.replayed_at is not None:
        raise ServiceError(409, "dead_letter_id", f"already replayed as {letter.replay_task_id}")
    letter.replayed_at = utc_now()
    letter.replay_task_id = str(uuid.uuid4())
    return letter


def unmark_replayed(session: Session, *, letter_id: int) -> None:
    """Undo `mark_replayed` when the task could not be sent."""
    letter = session.get(DeadLetter, letter_id, with_for_update=True)
    if letter is not None:
        letter.replayed_at = None
        letter.replay_task_id = None


def dead_letter_as_dict(letter: DeadLetter) -> dict[str, Any]:
    """The JSON shape of a dead letter."""
    return {
        "id": letter.id,
        "task": letter.task_name,
        "task_id": letter.task_id,
        "queue": letter.queue,
        "args": letter.args,
        "kwargs": letter.kwargs,
        "reason": letter.reason,
        "error": letter.error,
        "attempts": letter.attempts,
        "created_at": letter.created_at.isoformat(),
        "replayed_at": letter.replayed_at.isoformat() if letter.replayed_at else None,
        "replay_task_id": letter.replay_task_id,
    }
