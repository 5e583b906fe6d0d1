"""Rescans: start (admin), progress, cancel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from integrity.api.auth import Principal, require
from integrity.api.deps import unit_of_work
from integrity.service import rescans, security
from integrity.service.queues import RESCAN_BATCH_TASK as RESCAN_TASK

router = APIRouter(tags=["rescans"])

SCOPE_DESCRIPTION = """Which tracks to re-score (analysed or scored ones only):
`{"kind": "all"}`; `{"kind": "since", "value": "YYYY-MM-DD"}` (updated since that day);
`{"kind": "sender", "value": NAME_OR_DPID}`; `{"kind": "pipeline_version", "value": V}`
(processed by another pipeline version); `{"kind": "model_version", "value": MODEL}` with
MODEL `synthetic`, `spam` or `*` (the default: any model): tracks whose recorded version of
that model differs from the active one (or is missing). Start the last one after
`POST /v1/models/{name}/versions/{version}/activate`. Errors name `scope.kind` or
`scope.value`."""


class RescanBody(BaseModel):
    """The scope of a rescan (see the field's description for every kind)."""

    scope: dict[str, Any] = Field(
        description=SCOPE_DESCRIPTION,
        examples=[{"kind": "model_version", "value": "synthetic"}, {"kind": "all"}],
    )


@router.post("/v1/rescans", status_code=202)
def post_rescan(
    body: RescanBody,
    request: Request,
    principal: Principal = Depends(require(security.SCOPE_RESCANS)),  # noqa: B008
) -> dict[str, Any]:
    """Re-score a scope of tracks in batches on the rescan queue; `total` is counted now."""
    with unit_of_work(request) as session:
        rescan = rescans.create_rescan(
            session,
            scope=body.scope,
            actor=principal.name,
            role=principal.role,
            models_dir=request.app.state.settings.models_dir,
        )
        answer = rescans.rescan_as_dict(rescan)
    request.app.state.tasks.send(RESCAN_TASK, answer["id"], stage="rescan")
    return answer


@router.get("/v1/rescans/{rescan_id}")
def get_rescan(
    rescan_id: int,
    request: Request,
    principal: Principal = Depends(require(security.SCOPE_RESCANS)),  # noqa: B008
) -> dict[str, Any]:
    """Progress of a rescan."""
    with unit_of_work(request) as session:
        return rescans.rescan_as_dict(rescans.get_rescan(session, rescan_id=rescan_id))


@router.post("/v1/rescans/{rescan_id}/cancel")
def cancel_rescan(
    rescan_id: int,
    request: Request,
    principal: Principal = Depends(require(security.SCOPE_RESCANS)),  # noqa: B008
) -> dict[str, Any]:
    """Stop a rescan at its next batch boundary."""
    with unit_of_work(request) as session:
        rescan = rescans.cancel_rescan(
            session, rescan_id=rescan_id, actor=principal.name, role=principal.role
        )
        return rescans.rescan_as_dict(rescan)
