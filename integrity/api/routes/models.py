"""Models: list the registry (moderators and admins) and activate a version (admin)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from integrity.api.auth import Principal, require
from integrity.api.deps import settings_of, unit_of_work
from integrity.service import activation, security

router = APIRouter(tags=["models"])


@router.get("/v1/models")
def get_models(
    request: Request,
    principal: Principal = Depends(require(security.SCOPE_REVIEW)),  # noqa: B008
) -> dict[str, Any]:
    """Every model version in the registry and which one is active."""
    with unit_of_work(request) as session:
        return {
            "models": activation.list_registry(session, models_dir=settings_of(request).models_dir)
        }


@router.post("/v1/models/{name}/versions/{version}/activate")
def activate_model(
    name: str,
    version: str,
    request: Request,
    principal: Principal = Depends(require(security.SCOPE_MODELS_ADMIN)),  # noqa: B008
) -> dict[str, Any]:
    """Make this version the one scoring uses (rescan to apply it to scored tracks)."""
    with unit_of_work(request) as session:
        row = activation.activate(
            session,
            models_dir=settings_of(request).models_dir,
            name=name,
            version=version,
            actor=principal.name,
            role=principal.role,
        )
        return {"name": row.name, "version": row.version, "activated_by": row.activated_by}
