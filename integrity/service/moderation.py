"""What the moderator console needs beyond the review API: a filtered, sorted queue paged in the
database, the live counts (shared with /metrics), decisions that refuse to overwrite another
moderator's newer decision, bulk decisions (one audit event per track) and undo (an audited
reversal: the audit log is only appended to).

Every function takes a session and never commits: the request owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, case, func, or_, select, text
from sqlalchemy.orm import Session

from integrity.catalog import queue
from integrity.db.models import Finding, Track, utc_now
from integrity.db.service_models import (
    Appeal,
    AuditEvent,
    QueuedTrack,
    ReviewClaim,
    TrackModeration,
)
from integrity.risk import FAMILY_BITS, RISK_DECIMALS, ReasonFamily
from integrity.risk import family_of as family_of
from integrity.service import review
from integrity.service.audit import aware, record_event, track_model_versions
from integrity.service.errors import ServiceError

DECISION_ACTIONS = tuple(f"review.{action}" for action in review.ACTION_DECISIONS)
UNDO_ACTION = "review.undo"
BULK_ACTION = "review.bulk"
STATE_ACTIONS = (*DECISION_ACTIONS, UNDO_ACTION)  # events that set a track's human decision
MAX_BULK_TRACKS = 5000  # one bulk action touches at most this many tracks

REASON_FAMILY_WORDS: dict[ReasonFamily, str] = {
    ReasonFamily.DUPLICATE: "duplicate audio",
    ReasonFamily.SPAM: "catalog spam",
    ReasonFamily.AI: "AI disclosure",
    ReasonFamily.OTHER: "delivery or metadata problem",
}


class QueueSort(StrEnum):
    """Queue orders: priority (escalated and appealed first, then risk), or by waiting time."""

    PRIORITY = "priority"
    OLDEST = "oldest"
    NEWEST = "newest"


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """What the queue page shows; every field optional."""

    reason: ReasonFamily | None = None
    sender: str | None = None
    delivery_id: int | None = None
    min_risk: float = 0.0
    min_age_s: float = 0.0
    sort: QueueSort = QueueSort.PRIORITY


@dataclass(frozen=True, slots=True)
class QueueRow:
    """One queued track as the console lists it."""

    track_id: int
    isrc: str | None
    title: str | None
    display_artist: str | None
    sender: str | None
    delivery_id: int
    decision: str | None
    risk: float
    waiting_since: datetime
    claimed_by: str | None
    appeal_open: bool
    top_code: str | None
    top_reason: str | None  # the top finding's sentence


@dataclass(frozen=True, slots=True)
class QueuePage:
    rows: list[QueueRow]
    total: int


_Q = QueuedTrack  # the stored queue rows (`integrity.catalog.queue` keeps them current)


def _where(queue_filter: QueueFilter, *, now: datetime) -> list[Any]:
    """The filter as conditions on the stored queue rows."""
    conditions: list[Any] = []
    if queue_filter.sender:
        conditions.append(_Q.sender == queue_filter.sender)
    if queue_filter.delivery_id is not None:
        conditions.append(_Q.delivery_id == queue_filter.delivery_id)
    if queue_filter.reason is not None:
        conditions.append(_Q.families.op("&")(FAMILY_BITS[queue_filter.reason]) != 0)
    if queue_filter.min_risk > 0:
        conditions.append(_Q.risk >= queue_filter.min_risk)
    if queue_filter.min_age_s > 0:
        conditions.append(_Q.waiting_since <= now - timedelta(seconds=queue_filter.min_age_s))
    return conditions


def _sort_keys(sort: QueueSort) -> list[tuple[Any, bool]]:
    """(column, descending) of a queue sort, each order an index of the queue rows; the track
    id breaks ties, so paging is stable. Priority: escalated and appealed tracks first, then
    the riskiest."""
    if sort == QueueSort.OLDEST:
        return [(_Q.waiting_since, False), (_Q.track_id, False)]
    if sort == QueueSort.NEWEST:
        return [(_Q.waiting_since, True), (_Q.track_id, True)]
    return [(_Q.priority, True), (_Q.track_id, False)]


def _order(sort: QueueSort, *, reverse: bool = False) -> list[Any]:
    return [
        column.desc() if descending != reverse else column.asc()
        for column, descending in _sort_keys(sort)
    ]


def _without_jit(session: Session) -> None:
    """PostgreSQL compiles a queue query with JIT when its cost estimate is high and then
    spends more time compiling than running it: off for this transaction only."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def queue_page(
    session: Session,
    *,
    queue_filter: QueueFilter,
    offset: int = 0,
    limit: int = review.DEFAULT_PAGE,
    now: datetime | None = None,
) -> QueuePage:
    """One page of the filtered queue: a scan of the sort's index over the stored queue rows,
    cut at the page (the findings are read only for the page's top reasons), and the count."""
    now = now or utc_now()
    _without_jit(session)
    conditions = _where(queue_filter, now=now)
    limit = max(1, min(limit, review.MAX_PAGE))
    rows = session.execute(
        select(
            _Q.track_id,
            Track.isrc,
            Track.title,
            Track.display_artist,
            _Q.sender,
            _Q.delivery_id,
            _Q.decision,
            _Q.risk,
            _Q.waiting_since,
            case((ReviewClaim.expires_at > now, ReviewClaim.moderator), else_=None).label(
                "claimed_by"
            ),
            _Q.appeal_since,
            _Q.top_code,
            Finding.message.label("top_reason"),
        )
        .join(Track, Track.id == _Q.track_id)
        .outerjoin(ReviewClaim, ReviewClaim.track_id == _Q.track_id)
        .outerjoin(Finding, Finding.id == _Q.top_finding_id)
        .where(*conditions)
        .order_by(*_order(queue_filter.sort))
        .offset(max(0, offset))
        .limit(limit)
    ).all()
    total = session.scalar(select(func.count()).select_from(_Q).where(*conditions))
    page = [
        QueueRow(
            track_id=row.track_id,
            isrc=row.isrc,
            title=row.title,
            display_artist=row.display_artist,
            sender=row.sender,
            delivery_id=row.delivery_id,
            decision=row.decision,
            risk=round(float(row.risk), RISK_DECIMALS),
            waiting_since=aware(row.waiting_since),
            claimed_by=row.claimed_by,
            appeal_open=row.appeal_since is not None,
            top_code=row.top_code,
            top_reason=row.top_reason,
        )
        for row in rows
    ]
    return QueuePage(rows=page, total=int(total or 0))


def queue_track_ids(
    session: Session, *, queue_filter: QueueFilter, now: datetime | None = None
) -> list[int]:
    """Every track the filter matches (for a bulk action on all of them), capped."""
    ids = (
        select(_Q.track_id)
        .where(*_where(queue_filter, now=now or utc_now()))
        .order_by(_Q.track_id)
        .limit(MAX_BULK_TRACKS + 1)
    )
    found = list(session.scalars(ids))
    if len(found) > MAX_BULK_TRACKS:
        raise ServiceError(
            422, "scope", f"the filter matches more than {MAX_BULK_TRACKS} tracks: narrow it"
        )
    return found


def queue_neighbours(
    session: Session, *, track_id: int, queue_filter: QueueFilter
) -> tuple[int | None, int | None]:
    """The queued tracks before and after `track_id` in the queue's order (for j/k and
    "submit & next"), each one step of the sort's index from the track's own key; when the
    track is not in the filtered queue, (None, the queue's first)."""
    _without_jit(session)
    conditions = _where(queue_filter, now=utc_now())
    keys = _sort_keys(queue_filter.sort)
    mine = session.execute(
        select(*(column for column, _ in keys)).where(_Q.track_id == track_id, *conditions)
    ).first()
    if mine is None:
        first = session.scalar(
            select(_Q.track_id).where(*conditions).order_by(*_order(queue_filter.sort)).limit(1)
        )
        return None, first

    def step(forward: bool) -> int | None:
        # Rows after the key in this direction: the first sort key strictly beyond, or equal
        # and the tie-break beyond (two keys: the column and the track id).
        (column, descending), (tie, tie_descending) = keys

        def beyond(key: Any, key_descending: bool, value: Any) -> Any:
            return key < value if key_descending == forward else key > value

        condition = or_(
            beyond(column, descending, mine[0]),
            and_(column == mine[0], beyond(tie, tie_descending, mine[1])),
        )
        return session.scalar(
            select(_Q.track_id)
            .where(*conditions, condition)
            .order_by(*_order(queue_filter.sort, reverse=not forward))
            .limit(1)
        )

    return step(False), step(True)


def senders_in_queue(session: Session) -> list[str]:
    """The senders that have tracks waiting (the queue filter's choices)."""
    names = session.scalars(select(_Q.sender).distinct().order_by(_Q.sender))
    return [name for name in names if name]


@dataclass(frozen=True, slots=True)
class ReviewCounts:
    """Live counts of the review work: the console shows them and /metrics exports them."""

    queue_depth: int
    oldest_waiting_s: float | None
    decided_today: int


def review_counts(session: Session, *, now: datetime | None = None) -> ReviewCounts:
    """Queue depth, the oldest item's wait and the human decisions made since 00:00 UTC."""
    now = now or utc_now()
    depth, oldest = session.execute(select(func.count(), func.min(_Q.waiting_since))).one()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    decided = session.scalar(
        select(func.count()).where(
            TrackModeration.decided_at >= midnight, TrackModeration.decision != "escalated"
        )
    )
    return ReviewCounts(
        queue_depth=int(depth),
        oldest_waiting_s=None if oldest is None else (now - aware(oldest)).total_seconds(),
        decided_today=int(decided or 0),
    )


def last_state_event(session: Session, *, track_id: int) -> AuditEvent | None:
    """The newest event that set this track's human decision (a decision or an undo)."""
    return session.scalars(
        select(AuditEvent)
        .where(AuditEvent.track_id == track_id, AuditEvent.action.in_(STATE_ACTIONS))
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()


def conflict_message(event: AuditEvent) -> str:
    """'moderator X removed it (spam) at T': what a moderator is told about a newer decision."""
    what = event.action.removeprefix("review.")
    verb = "undid the last decision" if event.action == UNDO_ACTION else f"decided {what}"
    reason = f" ({event.reason})" if event.reason else ""
    return f"{event.actor} {verb}{reason} at {aware(event.at).isoformat(timespec='seconds')}"


def decide_unless_changed(
    session: Session,
    *,
    track_id: int,
    action: str,
    reason: str,
    note: str | None,
    actor: str,
    role: str,
    seen_event_id: int,
) -> AuditEvent:
    """`review.decide`, refused (409, naming who and what) when the track's human decision
    changed after the moderator loaded the page (`seen_event_id`: the newest state event then,
    0 for none): never overwrite another moderator's decision silently."""
    latest = last_state_event(session, track_id=track_id)
    if latest is not None and latest.id != seen_event_id:
        raise ServiceError(
            409, "track_id", f"changed since you opened it: {conflict_message(latest)}"
        )
    review.decide(
        session,
        track_id=track_id,
        action=action,
        reason=reason,
        note=note,
        actor=actor,
        role=role,
    )
    event = last_state_event(session, track_id=track_id)
    if event is None:  # decide always records one; this guards the type
        raise ServiceError(500, "track_id", "the decision was not recorded")
    return event


@dataclass(frozen=True, slots=True)
class BulkResult:
    decided: list[int]
    skipped: dict[int, str]  # track id → why (claimed by someone else, no longer queued)


def decide_many(
    session: Session,
    *,
    track_ids: list[int],
    action: str,
    reason: str,
    note: str | None,
    actor: str,
    role: str,
) -> BulkResult:
    """One decision on many queued tracks: one audit event per track, plus one `review.bulk`
    event listing them (so the batch can be undone as one). Tracks no longer queued, or claimed
    by another moderator, are skipped and reported, never overwritten."""
    if not track_ids:
        raise ServiceError(422, "track_ids", "select at least one track")
    if len(track_ids) > MAX_BULK_TRACKS:
        raise ServiceError(422, "track_ids", f"at most {MAX_BULK_TRACKS} tracks at once")
    queued = set(
        session.scalars(
            select(Track.id)
            .outerjoin(TrackModeration, TrackModeration.track_id == Track.id)
            .where(
                Track.id.in_(track_ids),
                func.coalesce(TrackModeration.decision, Track.decision).in_(review.QUEUED_DECISIONS)
                | select(Appeal.id)
                .where(Appeal.track_id == Track.id, Appeal.status == review.APPEAL_OPEN)
                .exists(),
            )
        )
    )
    decided: list[int] = []
    events: list[int] = []
    skipped: dict[int, str] = {}
    with queue.refreshed_once(session):  # the queue rows once at the end, not per track
        for track_id in dict.fromkeys(track_ids):
            if track_id not in queued:
                latest = last_state_event(session, track_id=track_id)
                skipped[track_id] = (
                    "no longer in the queue: " + conflict_message(latest)
                    if latest is not None
                    else "not in the review queue"
                )
                continue
            try:
                review.decide(
                    session,
                    track_id=track_id,
                    action=action,
                    reason=reason,
                    note=note,
                    actor=actor,
                    role=role,
                )
            except ServiceError as exc:
                if exc.status != 409:  # a claim by someone else: skip it; else it is fatal
                    raise
                skipped[track_id] = exc.message
                continue
            latest = last_state_event(session, track_id=track_id)
            if latest is not None:
                events.append(latest.id)
            decided.append(track_id)
    if decided:
        record_event(
            session,
            actor=actor,
            role=role,
            action=BULK_ACTION,
            reason=reason,
            note=note,
            after=review.ACTION_DECISIONS.get(action),
            evidence={"action": action, "track_ids": decided, "events": events},
        )
        session.flush()
    return BulkResult(decided=decided, skipped=skipped)


def _state_after(event: AuditEvent) -> dict[str, Any] | None:
    """The human decision an event left in place (None: none, the automatic one applies)."""
    if event.action == UNDO_ACTION:
        restored = event.evidence.get("restored")
        return restored if isinstance(restored, dict) else None
    return {
        "decision": event.after,
        "action": event.action.removeprefix("review."),
        "reason": event.reason,
        "actor": event.actor,
        "decided_at": aware(event.at).isoformat(),
    }


def last_undoable(
    session: Session, *, actor: str, window_s: float, now: datetime | None = None
) -> list[AuditEvent]:
    """The actor's last decision, or last bulk decision's events, if still within the window
    and not undone or superseded; empty when there is nothing to undo."""
    now = now or utc_now()
    latest = session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.actor == actor,
            AuditEvent.action.in_((*STATE_ACTIONS, BULK_ACTION)),
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()
    if latest is None or latest.action == UNDO_ACTION:
        return []
    if (now - aware(latest.at)).total_seconds() > window_s:
        return []
    if latest.action == BULK_ACTION:
        ids = [int(i) for i in latest.evidence.get("events", [])]
        events = list(session.scalars(select(AuditEvent).where(AuditEvent.id.in_(ids))))
    else:
        events = [latest]
    return [
        event
        for event in events
        if event.track_id is not None
        and (newest := last_state_event(session, track_id=event.track_id)) is not None
        and newest.id == event.id
    ]


def undo_last(
    session: Session, *, actor: str, role: str, window_s: float, now: datetime | None = None
) -> list[AuditEvent]:
    """Reverse the actor's last decision (or bulk decision) within `window_s`: the human
    decision before it is put back (or removed, so the automatic one applies again), appeals it
    resolved are reopened, and each reversal is a `review.undo` event. 409 when nothing can be
    undone (too late, already undone, or another moderator decided since)."""
    events = last_undoable(session, actor=actor, window_s=window_s, now=now)
    if not events:
        raise ServiceError(
            409, "undo", f"nothing to undo: no decision of yours in the last {window_s:.0f} s"
        )
    reversals = []
    for event in events:
        track_id = event.track_id
        assert track_id is not None  # last_undoable keeps track events only
        track = session.get(Track, track_id)
        previous = session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.track_id == track_id,
                AuditEvent.action.in_(STATE_ACTIONS),
                AuditEvent.id < event.id,
            )
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).first()
        restored = _state_after(previous) if previous is not None else None
        moderation = session.get(TrackModeration, track_id, with_for_update=True)
        if restored is None:
            if moderation is not None:
                session.delete(moderation)
        else:
            if moderation is None:
                moderation = TrackModeration(track_id=track_id)
                session.add(moderation)
            moderation.decision = str(restored["decision"])
            moderation.action = str(restored["action"])
            moderation.reason = str(restored["reason"] or "")
            moderation.actor = str(restored["actor"])
            moderation.decided_at = datetime.fromisoformat(str(restored["decided_at"]))
        reopened = [int(i) for i in event.evidence.get("appeals_resolved", [])]
        for appeal in session.scalars(select(Appeal).where(Appeal.id.in_(reopened))):
            appeal.status = review.APPEAL_OPEN
            appeal.resolved_at = None
            appeal.resolved_by = None
        reversals.append(
            record_event(
                session,
                actor=actor,
                role=role,
                action=UNDO_ACTION,
                reason=event.reason,
                track_id=track_id,
                delivery_id=event.delivery_id,
                before=event.after,
                after=restored["decision"] if restored else (track.decision if track else None),
                model_versions=track_model_versions(track),
                evidence={
                    "undoes_event": event.id,
                    "restored": restored,
                    "appeals_reopened": reopened,
                },
            )
        )
    session.flush()
    return reversals


def recent_decisions(
    session: Session, *, actor: str, limit: int = review.DEFAULT_PAGE
) -> list[AuditEvent]:
    """The actor's own decisions and undos, newest first."""
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.actor == actor, AuditEvent.action.in_(STATE_ACTIONS))
            .order_by(AuditEvent.id.desc())
            .limit(max(1, min(limit, review.MAX_PAGE)))
        )
    )
