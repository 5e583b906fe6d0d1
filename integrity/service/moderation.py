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

from sqlalchemy import (
    Float,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    not_,
    or_,
    select,
    text,
    union,
)
from sqlalchemy.orm import Session

from integrity.db.models import Delivery, Finding, Track, utc_now
from integrity.db.service_models import Appeal, AuditEvent, ReviewClaim, TrackModeration
from integrity.service import review
from integrity.service.audit import aware, record_event, track_model_versions
from integrity.service.errors import ServiceError

DECISION_ACTIONS = tuple(f"review.{action}" for action in review.ACTION_DECISIONS)
UNDO_ACTION = "review.undo"
BULK_ACTION = "review.bulk"
STATE_ACTIONS = (*DECISION_ACTIONS, UNDO_ACTION)  # events that set a track's human decision
MAX_BULK_TRACKS = 5000  # one bulk action touches at most this many tracks
RISK_DECIMALS = 4  # as review.risk_of rounds


class ReasonFamily(StrEnum):
    """Finding-code families a moderator filters the queue by."""

    DUPLICATE = "duplicate"
    SPAM = "spam"
    AI = "ai"
    OTHER = "other"


REASON_FAMILY_WORDS: dict[ReasonFamily, str] = {
    ReasonFamily.DUPLICATE: "duplicate audio",
    ReasonFamily.SPAM: "catalog spam",
    ReasonFamily.AI: "AI disclosure",
    ReasonFamily.OTHER: "delivery or metadata problem",
}
_PREFIXED = (ReasonFamily.DUPLICATE, ReasonFamily.SPAM, ReasonFamily.AI)


class QueueSort(StrEnum):
    """Queue orders: priority (escalated and appealed first, then risk), or by waiting time."""

    PRIORITY = "priority"
    OLDEST = "oldest"
    NEWEST = "newest"


def family_of(code: str) -> ReasonFamily:
    """The family a finding code belongs to (by its prefix)."""
    for family in _PREFIXED:
        if code.startswith(family.value + "_"):
            return family
    return ReasonFamily.OTHER


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


def _risks(track_ids: Any) -> Any:
    """Per-track risk of the given tracks, aggregated in SQL the way `review.risk_of` computes
    it in Python: the worst severity or evidence score of the non-info findings, plus a little
    per extra finding, capped (tracks without such findings are absent: risk 0)."""
    severity_risk = case(
        *(
            (Finding.severity == name, literal(value))
            for name, value in review.SEVERITY_RISK.items()
        ),
        else_=literal(0.0),
    )
    score = func.coalesce(cast(Finding.evidence["score"].as_float(), Float), literal(0.0))
    worst_severity = func.max(severity_risk)
    worst_score = func.max(score)
    base = case((worst_score > worst_severity, worst_score), else_=worst_severity)
    raw = base + literal(review.FINDING_COUNT_RISK) * (func.count(Finding.id) - 1)
    risk = case((raw > review.MAX_RISK, literal(review.MAX_RISK)), else_=raw)
    return (
        select(Finding.track_id.label("track_id"), risk.label("risk"))
        .where(Finding.track_id.in_(track_ids), Finding.severity != "info")
        .group_by(Finding.track_id)
        .subquery("risks")
    )


def _sender_column() -> Any:
    """The sender a moderator knows: the webhook sender's name, else the ERN header's."""
    return func.coalesce(Delivery.uploader, Delivery.sender_name)


def _queued(queue_filter: QueueFilter, *, now: datetime, with_risk: bool = True) -> Any:
    """The queue as a subquery with labelled columns, filtered but not ordered or paged.

    Candidates come from three indexed lookups (automatic decision, human decision, open
    appeal) rather than a scan of the catalog, so the cost follows the queue's size, not the
    catalog's; the risk is computed per candidate from its own findings (`with_risk=False`
    leaves it out where only counts are needed)."""
    candidates = union(
        select(Track.id.label("id")).where(Track.decision.in_(review.QUEUED_DECISIONS)),
        select(TrackModeration.track_id).where(
            TrackModeration.decision.in_(review.QUEUED_DECISIONS)
        ),
        select(Appeal.track_id).where(Appeal.status == review.APPEAL_OPEN),
    ).cte("candidates")
    appeals = (
        select(Appeal.track_id.label("track_id"), func.min(Appeal.created_at).label("since"))
        .where(Appeal.status == review.APPEAL_OPEN)
        .group_by(Appeal.track_id)
        .subquery("open_appeals")
    )
    decision = func.coalesce(TrackModeration.decision, Track.decision)
    columns: list[Any] = [
        Track.id.label("track_id"),
        Track.isrc.label("isrc"),
        Track.title.label("title"),
        Track.display_artist.label("display_artist"),
        _sender_column().label("sender"),
        Track.delivery_id.label("delivery_id"),
        decision.label("decision"),
        func.coalesce(appeals.c.since, TrackModeration.decided_at, Track.updated_at).label(
            "waiting_since"
        ),
        case((ReviewClaim.expires_at > now, ReviewClaim.moderator), else_=None).label("claimed_by"),
        appeals.c.since.label("appeal_since"),
    ]
    statement = (
        select(*columns)
        .select_from(candidates)
        .join(Track, Track.id == candidates.c.id)
        .join(Delivery, Delivery.id == Track.delivery_id)
        .outerjoin(TrackModeration, TrackModeration.track_id == Track.id)
        .outerjoin(ReviewClaim, ReviewClaim.track_id == Track.id)
        .outerjoin(appeals, appeals.c.track_id == Track.id)
        .where(or_(decision.in_(review.QUEUED_DECISIONS), appeals.c.since.is_not(None)))
    )
    if with_risk:
        risks = _risks(select(candidates.c.id))
        statement = statement.add_columns(
            func.coalesce(risks.c.risk, literal(0.0)).label("risk")
        ).outerjoin(risks, risks.c.track_id == Track.id)
    if queue_filter.sender:
        statement = statement.where(_sender_column() == queue_filter.sender)
    if queue_filter.delivery_id is not None:
        statement = statement.where(Track.delivery_id == queue_filter.delivery_id)
    if queue_filter.reason is not None:
        statement = statement.where(_has_reason(queue_filter.reason))
    queued = statement.subquery("queued")
    return queued


def _without_jit(session: Session) -> None:
    """PostgreSQL compiles a queue query with JIT (its cost estimate is high) and spends more
    time compiling than running it: off for this transaction only."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))


def _filtered(queue_filter: QueueFilter, *, now: datetime) -> tuple[Any, Select[Any]]:
    """The queue subquery and a select over it with the risk and age filters applied."""
    queued = _queued(queue_filter, now=now)
    statement = select(queued)
    if queue_filter.min_risk > 0:
        statement = statement.where(queued.c.risk >= queue_filter.min_risk)
    if queue_filter.min_age_s > 0:
        statement = statement.where(
            queued.c.waiting_since <= now - timedelta(seconds=queue_filter.min_age_s)
        )
    return queued, statement


def _has_reason(family: ReasonFamily) -> Any:
    """The track has a non-info finding of this family."""
    matching = [Finding.track_id == Track.id, Finding.severity != "info"]
    if family == ReasonFamily.OTHER:
        matching.append(
            and_(*(not_(Finding.code.like(f"{f.value}\\_%", escape="\\")) for f in _PREFIXED))
        )
    else:
        matching.append(Finding.code.like(f"{family.value}\\_%", escape="\\"))
    return select(Finding.id).where(*matching).correlate(Track).exists()


def _order(sort: QueueSort, queued: Any) -> list[Any]:
    """ORDER BY terms of a queue sort (track id breaks ties, so paging is stable). Priority:
    escalated and appealed tracks first, then the riskiest."""
    if sort == QueueSort.OLDEST:
        return [queued.c.waiting_since.asc(), queued.c.track_id.asc()]
    if sort == QueueSort.NEWEST:
        return [queued.c.waiting_since.desc(), queued.c.track_id.desc()]
    bonus = case(
        (
            or_(queued.c.decision == "escalated", queued.c.appeal_since.is_not(None)),
            literal(review.ESCALATION_PRIORITY),
        ),
        else_=literal(0.0),
    )
    return [(queued.c.risk + bonus).desc(), queued.c.track_id.asc()]


def queue_page(
    session: Session,
    *,
    queue_filter: QueueFilter,
    offset: int = 0,
    limit: int = review.DEFAULT_PAGE,
    now: datetime | None = None,
) -> QueuePage:
    """One page of the filtered queue, ordered, counted and paged in one statement."""
    now = now or utc_now()
    _without_jit(session)
    queued, statement = _filtered(queue_filter, now=now)
    limit = max(1, min(limit, review.MAX_PAGE))
    rows = session.execute(
        statement.add_columns(func.count().over().label("total"))
        .order_by(*_order(queue_filter.sort, queued))
        .offset(max(0, offset))
        .limit(limit)
    ).all()
    if rows:
        total = int(rows[0].total)
    else:  # past the last page (or nothing queued): count on its own
        total = int(session.scalar(select(func.count()).select_from(statement.subquery())) or 0)
    tops = _top_findings(session, [row.track_id for row in rows])
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
            top_code=tops.get(row.track_id, (None, None))[0],
            top_reason=tops.get(row.track_id, (None, None))[1],
        )
        for row in rows
    ]
    return QueuePage(rows=page, total=total)


def _top_findings(session: Session, track_ids: list[int]) -> dict[int, tuple[str, str]]:
    """track id → (code, sentence) of its most serious finding (info only when nothing else)."""
    if not track_ids:
        return {}
    best: dict[int, tuple[tuple[float, float, int], str, str]] = {}
    for track_id, code, severity, message, evidence, finding_id in session.execute(
        select(
            Finding.track_id,
            Finding.code,
            Finding.severity,
            Finding.message,
            Finding.evidence,
            Finding.id,
        ).where(Finding.track_id.in_(track_ids))
    ):
        score = evidence.get("score") if isinstance(evidence, dict) else None
        weight = review.SEVERITY_RISK.get(severity, 0.0) if severity != "info" else -1.0
        rank = (weight, float(score) if isinstance(score, int | float) else 0.0, -finding_id)
        if track_id not in best or rank > best[track_id][0]:
            best[track_id] = (rank, code, message)
    return {track_id: (code, message) for track_id, (_, code, message) in best.items()}


def queue_track_ids(
    session: Session, *, queue_filter: QueueFilter, now: datetime | None = None
) -> list[int]:
    """Every track the filter matches (for a bulk action on all of them), capped."""
    queued, statement = _filtered(queue_filter, now=now or utc_now())
    ids = (
        statement.with_only_columns(queued.c.track_id)
        .order_by(queued.c.track_id)
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
    "submit & next"); when the track is not in the queue, (None, the queue's first)."""
    _without_jit(session)
    queued, statement = _filtered(queue_filter, now=utc_now())
    order = _order(queue_filter.sort, queued)
    ranked = statement.with_only_columns(
        queued.c.track_id.label("id"),
        func.lag(queued.c.track_id).over(order_by=order).label("before"),
        func.lead(queued.c.track_id).over(order_by=order).label("after"),
    ).subquery("ranked")
    found = session.execute(
        select(ranked.c.before, ranked.c.after).where(ranked.c.id == track_id)
    ).first()
    if found is not None:
        return found[0], found[1]
    first = session.scalar(statement.with_only_columns(queued.c.track_id).order_by(*order).limit(1))
    return None, first


def senders_in_queue(session: Session) -> list[str]:
    """The senders that have tracks waiting (the queue filter's choices)."""
    queued = _queued(QueueFilter(), now=utc_now(), with_risk=False)
    sender = queued.c.sender
    return [name for name in session.scalars(select(sender).distinct().order_by(sender)) if name]


@dataclass(frozen=True, slots=True)
class ReviewCounts:
    """Live counts of the review work: the console shows them and /metrics exports them."""

    queue_depth: int
    oldest_waiting_s: float | None
    decided_today: int


def review_counts(session: Session, *, now: datetime | None = None) -> ReviewCounts:
    """Queue depth, the oldest item's wait and the human decisions made since 00:00 UTC."""
    now = now or utc_now()
    queued = _queued(QueueFilter(), now=now, with_risk=False)
    depth, oldest = session.execute(
        select(func.count(), func.min(queued.c.waiting_since)).select_from(queued)
    ).one()
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
            if exc.status != 409:  # a claim by someone else: skip it; anything else is fatal
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
