"""Rescans: start (admin), progress, cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from integrity.api.deps import RescanAdmin, unit_of_work
from integrity.api.schemas import (
    AUTH_ERRORS,
    BODY_ERRORS,
    READ_ERRORS,
    RescanBody,
    RescanId,
    RescanOut,
    errors,
)
from integrity.service import rescans
from integrity.service.queues import RESCAN_BATCH_TASK as RESCAN_TASK

router = APIRouter(tags=["rescans"])


@router.post(
    "/v1/rescans",
    status_code=202,
    response_model=RescanOut,
    responses=errors(*AUTH_ERRORS, *BODY_ERRORS, 404),
)
def post_rescan(body: RescanBody, request: Request, principal: RescanAdmin) -> dict[str, Any]:
    """Re-score a scope of tracks in batches on the rescan queue; `total` is counted now."""
    with unit_of_work(request) as session:
        rescan = rescans.create_rescan(
            session,
            scope=body.scope.model_dump(exclude_none=True),
            actor=principal.name,
            role=principal.role,
            models_dir=request.app.state.settings.models_dir,
        )
        answer = rescans.rescan_as_dict(rescan)
    request.app.state.tasks.send(RESCAN_TASK, answer["id"], stage="rescan")
    return answer


@router.get("/v1/rescans/{rescan_id}", response_model=RescanOut, responses=errors(*READ_ERRORS))
def get_rescan(rescan_id: RescanId, request: Request, principal: RescanAdmin) -> dict[str, Any]:
    """Progress of a rescan."""
    with unit_of_work(request) as session:
        return rescans.rescan_as_dict(rescans.get_rescan(session, rescan_id=rescan_id))


@router.post(
    "/v1/rescans/{rescan_id}/cancel",
    response_model=RescanOut,
    responses=errors(*READ_ERRORS, 409),
)
def cancel_rescan(
    rescan_id: RescanId, request: Request, principal: RescanAdmin
) -> dict[str, Any]:
    """Stop a rescan at its next batch boundary."""
    with unit_of_work(request) as session:
        rescan = rescans.cancel_rescan(
            session, rescan_id=rescan_id, actor=principal.name, role=principal.role
        )
        return rescans.rescan_as_dict(rescan)
