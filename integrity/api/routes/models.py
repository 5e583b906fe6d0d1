"""Models: list the registry (moderators and admins) and activate a version (admin)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from integrity.api.deps import ModelsAdmin, Reviewer, settings_of, unit_of_work
from integrity.api.schemas import (
    AUTH_ERRORS,
    READ_ERRORS,
    ModelActivated,
    ModelEntry,
    ModelName,
    ModelRegistry,
    ModelVersion,
    errors,
)
from integrity.service import activation

router = APIRouter(tags=["models"])


@router.get("/v1/models", response_model=ModelRegistry, responses=errors(*AUTH_ERRORS))
def get_models(request: Request, principal: Reviewer) -> ModelRegistry:
    """Every model version in the registry and which one is active."""
    with unit_of_work(request) as session:
        entries = activation.list_registry(session, models_dir=settings_of(request).models_dir)
    return ModelRegistry(models=[ModelEntry(**entry) for entry in entries])


@router.post(
    "/v1/models/{name}/versions/{version}/activate",
    response_model=ModelActivated,
    responses=errors(*READ_ERRORS),
)
def activate_model(
    name: ModelName, version: ModelVersion, request: Request, principal: ModelsAdmin
) -> ModelActivated:
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
        return ModelActivated(name=row.name, version=row.version, activated_by=row.activated_by)
