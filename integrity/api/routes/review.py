"""Review: the queue, claims, decisions, appeals and the audit log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from integrity.api.deps import Appellant, AuditReader, Reviewer, settings_of, unit_of_work
from integrity.api.schemas import (
    AUTH_ERRORS,
    BODY_ERRORS,
    READ_ERRORS,
    AfterIdQuery,
    AppealBody,
    AppealFiled,
    AppealList,
    AuditPage,
    ClaimOut,
    DecisionBody,
    DecisionOut,
    OptionalIdQuery,
    OptionalTextQuery,
    PageLimit,
    ReviewQueue,
    RiskQuery,
    TrackId,
    errors,
)
from integrity.service import audit, review
from integrity.service.errors import ServiceError

router = APIRouter(tags=["review"])


@router.get(
    "/v1/review/queue", response_model=ReviewQueue, responses=errors(*AUTH_ERRORS, 422)
)
def get_queue(
    request: Request,
    principal: Reviewer,
    sender: OptionalTextQuery = None,
    min_risk: RiskQuery = 0.0,
    unclaimed: bool = False,
    limit: PageLimit = review.DEFAULT_PAGE,
) -> dict[str, Any]:
    """Tracks awaiting a decision, riskiest and escalated or appealed first."""
    with unit_of_work(request) as session:
        items = review.review_queue(
            session, sender=sender, min_risk=min_risk, unclaimed_only=unclaimed, limit=limit
        )
    return {"items": [item.as_dict() for item in items]}


@router.post(
    "/v1/tracks/{track_id}/claim", response_model=ClaimOut, responses=errors(*READ_ERRORS, 409)
)
def claim(track_id: TrackId, request: Request, principal: Reviewer) -> dict[str, Any]:
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


@router.post(
    "/v1/tracks/{track_id}/decision",
    response_model=DecisionOut,
    responses=errors(*READ_ERRORS, *BODY_ERRORS, 409),
)
def post_decision(
    track_id: TrackId, body: DecisionBody, request: Request, principal: Reviewer
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


@router.post(
    "/v1/tracks/{track_id}/appeals",
    status_code=201,
    response_model=AppealFiled,
    responses=errors(*READ_ERRORS, *BODY_ERRORS),
)
def post_appeal(
    track_id: TrackId, body: AppealBody, request: Request, principal: Appellant
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


@router.get("/v1/appeals", response_model=AppealList, responses=errors(*AUTH_ERRORS, 422))
def get_appeals(
    request: Request,
    principal: Reviewer,
    status: OptionalTextQuery = None,
    limit: PageLimit = review.DEFAULT_PAGE,
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


@router.get("/v1/audit", response_model=AuditPage, responses=errors(*AUTH_ERRORS, 422))
def get_audit(
    request: Request,
    principal: AuditReader,
    track_id: OptionalIdQuery = None,
    delivery_id: OptionalIdQuery = None,
    actor: OptionalTextQuery = None,
    action: OptionalTextQuery = None,
    after_id: AfterIdQuery = 0,
    limit: PageLimit = review.DEFAULT_PAGE,
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
