"""The review queue as stored rows (`review_queue`): one per track waiting for a moderator, with
its risk, reasons, top reason, priority and waiting time, so a queue page is an index scan.

What makes a track wait: its effective decision (the human one, else the automatic one) is
review or escalated, or it has an open appeal. Its risk is `integrity.risk.risk_of` over its
current findings (those of its current delivery). The row is derived data, rewritten in the same
flush as any change it depends on, whoever makes it: the pipeline (ingest, analyse, score; so
rescans), review decisions, undo, appeals, and rows written directly (tests, seeds). A session
listener notes which tracks a flush touches (their findings, decisions, appeals, or the track or
its delivery) and recomputes exactly those rows after the flush, inside the same transaction
(a bulk change recomputes them once at its end: `refreshed_once`).
Before, each request aggregated the risk of every queued track from all their findings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, event, func, insert, inspect, or_, select
from sqlalchemy.orm import Session, UOWTransaction

from integrity.catalog.states import AppealState
from integrity.db.models import Delivery, Finding, Track
from integrity.db.service_models import Appeal, QueuedTrack, TrackModeration
from integrity.risk import Findings, queue_facts

QUEUED_DECISIONS = ("review", "escalated")
ESCALATED = "escalated"
ESCALATION_PRIORITY = 1.0  # added to the priority of escalated tracks and open appeals
REFRESH_BATCH = 500  # tracks recomputed per statement (bounded IN lists)
_PENDING = "integrity.catalog.queue.pending"  # Session.info key of the tracks a flush touches
_DEFERRED = "integrity.catalog.queue.deferred"  # ...and of those left for `refreshed_once`
_WATCHED = (Track, Finding, TrackModeration, Appeal)  # the track and rows with its `track_id`
_SENDER_COLUMNS = ("uploader", "sender_name")  # a delivery's columns the queue's sender reads


def sender_column() -> Any:
    """The sender a moderator knows: the webhook sender's name, else the ERN header's."""
    return func.coalesce(Delivery.uploader, Delivery.sender_name)


def refresh_queue(connection: Connection, track_ids: Iterable[int]) -> None:
    """Recompute the queue rows of these tracks from what the database holds now."""
    ids = sorted(set(track_ids))
    for start in range(0, len(ids), REFRESH_BATCH):
        _refresh(connection, ids[start : start + REFRESH_BATCH])


def _refresh(connection: Connection, ids: list[int]) -> None:
    # PostgreSQL: lock the tracks first, so a concurrent change of the same track waits for this
    # transaction, and what it committed is read here (each statement reads anew under READ
    # COMMITTED); otherwise a stale row could be written last. SQLite has one writer anyway.
    connection.execute(
        select(Track.id).where(Track.id.in_(ids)).order_by(Track.id).with_for_update()
    )
    appeals = (
        select(Appeal.track_id.label("track_id"), func.min(Appeal.created_at).label("since"))
        .where(Appeal.track_id.in_(ids), Appeal.status == AppealState.OPEN)
        .group_by(Appeal.track_id)
        .subquery("open_appeals")
    )
    decision = func.coalesce(TrackModeration.decision, Track.decision)
    queued = connection.execute(
        select(
            Track.id,
            Track.delivery_id,
            sender_column(),
            decision,
            appeals.c.since,
            func.coalesce(appeals.c.since, TrackModeration.decided_at, Track.updated_at),
        )
        .join(Delivery, Delivery.id == Track.delivery_id)
        .outerjoin(TrackModeration, TrackModeration.track_id == Track.id)
        .outerjoin(appeals, appeals.c.track_id == Track.id)
        .where(
            Track.id.in_(ids),
            or_(decision.in_(QUEUED_DECISIONS), appeals.c.since.is_not(None)),
        )
    ).all()
    connection.execute(delete(QueuedTrack).where(QueuedTrack.track_id.in_(ids)))
    if not queued:
        return
    # Current findings: those of the track's current delivery (`current_for`), filtered here
    # rather than in SQL: with the delivery in the condition, SQLite picks the delivery index
    # (every finding of a big delivery, 0.7 s per batch of a 2,000-track one) over the
    # tracks' own few rows.
    current = {row[0]: row[1] for row in queued}
    findings: dict[int, list[tuple[int, str, str, dict[str, Any]]]] = defaultdict(list)
    for track_id, delivery_id, finding_id, code, severity, evidence in connection.execute(
        select(
            Finding.track_id,
            Finding.delivery_id,
            Finding.id,
            Finding.code,
            Finding.severity,
            Finding.evidence,
        )
        .where(Finding.track_id.in_(list(current)))
        .order_by(Finding.id)
    ):
        if delivery_id == current[track_id]:
            findings[track_id].append((finding_id, code, severity, evidence))
    rows = []
    for track_id, delivery_id, sender, decided, appeal_since, waiting_since in queued:
        found = findings.get(track_id, [])
        triples: Findings = [(code, severity, evidence) for _, code, severity, evidence in found]
        facts = queue_facts(triples)
        urgent = decided == ESCALATED or appeal_since is not None
        rows.append(
            {
                "track_id": track_id,
                "delivery_id": delivery_id,
                "sender": sender,
                "decision": decided,
                "risk": facts.risk,
                "priority": facts.risk + (ESCALATION_PRIORITY if urgent else 0.0),
                "reasons": facts.reasons,
                "families": facts.families,
                "top_code": None if facts.top is None else found[facts.top][1],
                "top_finding_id": None if facts.top is None else found[facts.top][0],
                "waiting_since": waiting_since,
                "appeal_since": appeal_since,
            }
        )
    connection.execute(insert(QueuedTrack), rows)


@dataclass
class _Touched:
    """What a flush is about to change that the queue depends on."""

    track_ids: set[int] = field(default_factory=set)
    new: list[Any] = field(default_factory=list)  # ids are known only after the flush
    delivery_ids: set[int] = field(default_factory=set)


def _track_ids_of(row: Any) -> set[int]:
    """The track a row belongs to, before and after this flush (its track_id may change)."""
    if isinstance(row, Track):
        return {row.id} if row.id is not None else set()
    history = inspect(row).attrs.track_id.history
    return {i for i in (*history.added, *history.unchanged, *history.deleted) if i is not None}


def _before_flush(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    touched = session.info.setdefault(_PENDING, _Touched())
    for row in session.new:
        if isinstance(row, _WATCHED):
            touched.new.append(row)
    for row in session.deleted:
        if isinstance(row, _WATCHED):
            touched.track_ids |= _track_ids_of(row)
    for row in session.dirty:
        if not session.is_modified(row, include_collections=False):
            continue
        if isinstance(row, _WATCHED):
            touched.track_ids |= _track_ids_of(row)
        elif isinstance(row, Delivery) and row.id is not None:
            state = inspect(row)
            if any(state.attrs[name].history.has_changes() for name in _SENDER_COLUMNS):
                touched.delivery_ids.add(row.id)


def _after_flush(session: Session, _context: UOWTransaction) -> None:
    touched: _Touched | None = session.info.pop(_PENDING, None)
    if touched is None:
        return
    ids = set(touched.track_ids)
    for row in touched.new:
        ids |= _track_ids_of(row)
    connection = session.connection()
    if touched.delivery_ids:
        ids.update(
            connection.scalars(
                select(Track.id).where(Track.delivery_id.in_(sorted(touched.delivery_ids)))
            )
        )
    deferred: set[int] | None = session.info.get(_DEFERRED)
    if deferred is not None:
        deferred |= ids
    elif ids:
        refresh_queue(connection, ids)


@contextmanager
def refreshed_once(session: Session) -> Iterator[None]:
    """For a bulk change (one decision on thousands of tracks, each flushed on its own): the
    rows of every track the block's flushes touch are recomputed once, at its end, in batches,
    instead of once per flush. Should the block fail, they are left to the session's next
    flush (or forgotten with the rollback)."""
    touched: set[int] = set()
    session.info[_DEFERRED] = touched
    try:
        yield
        session.flush()
    except BaseException:
        session.info.setdefault(_PENDING, _Touched()).track_ids.update(touched)
        raise
    finally:
        session.info.pop(_DEFERRED, None)
    refresh_queue(session.connection(), touched)


def _forget(session: Session, _transaction: Any = None) -> None:
    """A flush that failed (or was rolled back) leaves nothing for the next one to refresh."""
    session.info.pop(_PENDING, None)


def install() -> None:
    """Keep the queue rows current in every session (idempotent; done on import)."""
    for name, listener in (
        ("before_flush", _before_flush),
        ("after_flush_postexec", _after_flush),
        ("after_soft_rollback", _forget),
    ):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)


install()
