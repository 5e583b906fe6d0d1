"""The append-only audit log: every state change is one row, never updated or deleted.

Every service module writes through `record_event`, so who, role, action, reason, the model
versions that scored the track and the evidence are recorded the same way everywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrity.catalog.versions import PIPELINE_VERSION
from integrity.db.models import Track
from integrity.db.service_models import AuditEvent

DEFAULT_PAGE = 50
MAX_PAGE = 500


def record_event(
    session: Session,
    *,
    actor: str,
    role: str,
    action: str,
    reason: str | None = None,
    note: str | None = None,
    track_id: int | None = None,
    delivery_id: int | None = None,
    before: str | None = None,
    after: str | None = None,
    model_versions: dict[str, Any] | None = None,
    evidence: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event (the only write this table ever gets)."""
    event = AuditEvent(
        actor=actor,
        role=role,
        action=action,
        reason=reason,
        note=note,
        track_id=track_id,
        delivery_id=delivery_id,
        before=before,
        after=after,
        model_versions=model_versions or {},
        evidence=evidence or {},
    )
    session.add(event)
    return event


def track_model_versions(track: Track | None) -> dict[str, str]:
    """The pipeline version and the versions of the models that actually scored this track."""
    versions = {"pipeline": PIPELINE_VERSION}
    if track is not None and track.model_versions:
        versions.update({str(name): str(version) for name, version in track.model_versions.items()})
    return versions


def aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns; they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def audit_events(
    session: Session,
    *,
    track_id: int | None = None,
    delivery_id: int | None = None,
    actor: str | None = None,
    action: str | None = None,
    after_id: int = 0,
    limit: int = DEFAULT_PAGE,
) -> list[AuditEvent]:
    """Audit events in the order they happened, filtered, paged by id."""
    query = select(AuditEvent).where(AuditEvent.id > after_id)
    if track_id is not None:
        query = query.where(AuditEvent.track_id == track_id)
    if delivery_id is not None:
        query = query.where(AuditEvent.delivery_id == delivery_id)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return list(session.scalars(query.order_by(AuditEvent.id).limit(max(1, min(limit, MAX_PAGE)))))


def event_as_dict(event: AuditEvent) -> dict[str, Any]:
    """The JSON shape of an audit event."""
    return {
        "id": event.id,
        "at": aware(event.at).isoformat(),
        "actor": event.actor,
        "role": event.role,
        "action": event.action,
        "reason": event.reason,
        "note": event.note,
        "track_id": event.track_id,
        "delivery_id": event.delivery_id,
        "before": event.before,
        "after": event.after,
        "model_versions": event.model_versions,
        "evidence": event.evidence,
    }
