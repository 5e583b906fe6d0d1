"""Which model version scoring uses: the registry on disk (models/NAME/VERSION/) and the
admin's choice in the database (`active_models`), each change an audit event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrity.db.models import utc_now
from integrity.db.service_models import ActiveModel
from integrity.service.audit import record_event
from integrity.service.errors import ServiceError


def list_registry(session: Session, *, models_dir: Path) -> list[dict[str, Any]]:
    """Every NAME/VERSION folder of the registry, with which version is active."""
    active = {row.name: row.version for row in session.scalars(select(ActiveModel))}
    entries = []
    if models_dir.is_dir():
        for name_dir in sorted(p for p in models_dir.iterdir() if p.is_dir()):
            for version_dir in sorted(p for p in name_dir.iterdir() if p.is_dir()):
                entries.append(
                    {
                        "name": name_dir.name,
                        "version": version_dir.name,
                        "active": active.get(name_dir.name) == version_dir.name,
                        "has_card": (version_dir / "card.md").is_file(),
                    }
                )
    return entries


def activate(
    session: Session, *, models_dir: Path, name: str, version: str, actor: str, role: str
) -> ActiveModel:
    """Make `version` the active one of model `name` (it must exist in the registry)."""
    if not (models_dir / name).is_dir() or "/" in name or name.startswith("."):
        raise ServiceError(404, "name", f"model {name!r} is not in the registry")
    if not (models_dir / name / version).is_dir() or "/" in version or version.startswith("."):
        raise ServiceError(404, "version", f"model {name!r} has no version {version!r}")
    row = session.get(ActiveModel, name, with_for_update=True)
    before = row.version if row is not None else None
    if row is None:
        row = ActiveModel(name=name, version=version, activated_by=actor)
        session.add(row)
    row.version = version
    row.activated_by = actor
    row.activated_at = utc_now()
    record_event(
        session,
        actor=actor,
        role=role,
        action="model.activated",
        reason=name,
        before=before,
        after=version,
        model_versions={name: version},
    )
    return row
