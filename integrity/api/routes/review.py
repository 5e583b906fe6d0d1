"""Review: the queue, claims, decisions, appeals and the audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from integrity.api.auth import Principal, require
from integrity.api.deps import settings_of, unit_of_work
from integrity.service import audit, review, security
from integrity.service.errors import ServiceError

router = APIRouter(tags=["review"])


class DecisionBody(BaseModel):
    """A moderator's decision."""

    action: str = Field(description="approve | remove | filter | escalate")
    reason: str = Field(description="a reason code, e.g. ai_generated, spam, duplicate, ok")
    note: str | None = None


class AppealBody(BaseModel):
    """A distributor's appeal."""

    reason: str
    note: str | None = None


@router.get("/v1/review/queue")
def get_queue(
    request: Request,
    principal: Principal = Depends(require(security.SCOPE_REVIEW)),  # noqa: B008
    sender: str | None = None,
    min_risk: float = Query(0.0, ge=0.0, le=1.0),
    unclaimed: bool = False,
    limit: int = Query(review.DEFAULT_PAGE, ge=1, le=review.MAX_PAGE),
) -> dict[str, Any]:
    """Tracks awaiting a decision, riskiest and escalated or appealed first."""
    with unit_of_work(request) as session:
        items = review.review_queue(
            session, sender=sender, min_risk=min_risk, unclaimed_only=unclaimed, limit=limit
        )
    return {"items": [item.as_dict() for item in items]}


@router.post("/v1/tracks/{track_id}/claim")
def claim(
    track_id: int,
    request: Request,
    principal: Principal = Depends(require(security.SCOPE_REVIEW)),  # noqa: B008
) -> dict[str, Any]:
    """Claim a queued track for a while so no one else reviews it at the same time."""
    with unit_of_work(request) as session:
        row = review.claim_track(
            session,
            track_id=track_id,
            moderator=principal.name,
            role=principal.role,
            ttl_s=settings_of(request).review_claim_ttl_s,
        )
        return {
            "track_id": track_id,
            "moderator": row.moderator,
            "expires_at": row.expires_at.isoformat(),
        }


@router.post("/v1/tracks/{track_id}/decision")
def post_decision(
    track_id: int,
    body: DecisionBody,
    request: Request,
    principal: Principal = Depends(require(security.SCOPE_REVIEW)),  # noqa: B008
) -> dict[str, Any]:
    """approve, remove, filter or escalate a track, with a reason code and a note."""
    with unit_of_work(request) as session:
        row = review.decide(
            session,
            track_id=track_id,
            action=body.action,
            reason=body.reason,
            note=body.note,
            actor=principal.name,
            role=principal.role,
        )
        return {
            "track_id": track_id,
            "decision": row.decision,
            "action": row.action,
            "reason": row.reason,
        }


@router.post("/v1/tracks/{track_id}/appeals", status_code=201)
def post_appeal(
    track_id: int,
    body: AppealBody,
    request: Request,
    principal: Principal = Depends(require(security.SCOPE_APPEALS_WRITE)),  # noqa: B008
) -> dict[str, Any]:
    """A distributor appeals the decision on one of its tracks."""
    if principal.sender is None:
        raise ServiceError(403, "authorization", "only a sender's uploader key may appeal")
    with unit_of_work(request) as session:
        appeal = review.file_appeal(
            session,
            track_id=track_id,
            sender=principal.sender,
            reason=body.reason,
            note=body.note,
            actor=principal.name,
            role=principal.role,
        )
        return {"appeal_id": appeal.id, "track_id": track_id, "status": appeal.status}


@router.get("/v1/appeals")
def get_appeals(
    request: Request,
    principal: Principal = Depends(require(security.SCOPE_REVIEW)),  # noqa: B008
    status: str | None = None,
    limit: int = Query(review.DEFAULT_PAGE, ge=1, le=review.MAX_PAGE),
) -> dict[str, Any]:
    """Appeals, newest first."""
    with unit_of_work(request) as session:
        appeals = review.list_appeals(session, status=status, limit=limit)
        return {
            "appeals": [
                {
                    "id": a.id,
                    "track_id": a.track_id,
                    "reason": a.reason,
                    "note": a.note,
                    "status": a.status,
                    "created_at": a.created_at.isoformat(),
                    "resolved_by": a.resolved_by,
                }
                for a in appeals
            ]
        }


@router.get("/v1/audit")
def get_audit(
    request: Request,
    principal: Principal = Depends(require(security.SCOPE_AUDIT_READ)),  # noqa: B008
    track_id: int | None = None,
    delivery_id: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    after_id: int = Query(0, ge=0),
    limit: int = Query(review.DEFAULT_PAGE, ge=1, le=review.MAX_PAGE),
) -> dict[str, Any]:
    """Audit events in order; page with `after_id` (the last id seen)."""
    with unit_of_work(request) as session:
        events = audit.audit_events(
            session,
            track_id=track_id,
            delivery_id=delivery_id,
            actor=actor,
            action=action,
            after_id=after_id,
            limit=limit,
        )
        return {"events": [audit.event_as_dict(event) for event in events]}
