"""Recording findings idempotently: the same observation stored twice is stored once.

Every source (ERN validation, audio checks, duplicate search, models) reports through here, so
reruns and at-least-once task delivery never duplicate what a moderator sees.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from integrity.db.models import Finding, Track
from integrity.findings import FindingSpec


def current_for(track: Track) -> ColumnElement[bool]:
    """Findings about `track` from its current delivery.

    Why: a redelivery replaces what the track is (its file, its metadata), so what earlier
    deliveries found is superseded: kept for the record, never counted in a decision, the
    review queue or the track view (a corrected hash mismatch must leave review).
    """
    return (Finding.track_id == track.id) & (Finding.delivery_id == track.delivery_id)


def current_of_tracks() -> ColumnElement[bool]:
    """The same condition for a query that joins Track (one row per track)."""
    return (Finding.track_id == Track.id) & (Finding.delivery_id == Track.delivery_id)


def current_findings(track: Track) -> Select[Finding]:
    """The track's current findings, oldest first."""
    return select(Finding).where(current_for(track)).order_by(Finding.id)


def record_findings(session: Session, *, delivery_id: int, specs: list[FindingSpec]) -> int:
    """Insert the findings not stored yet; returns how many were new."""
    if not specs:
        return 0
    by_key = {spec.key(delivery_id): spec for spec in specs}
    existing = set(
        session.scalars(select(Finding.finding_key).where(Finding.finding_key.in_(by_key))).all()
    )
    new = [(key, spec) for key, spec in by_key.items() if key not in existing]
    for key, spec in new:
        session.add(
            Finding(
                finding_key=key,
                delivery_id=delivery_id,
                track_id=spec.track_id,
                release_id=spec.release_id,
                source=spec.source,
                severity=spec.severity,
                code=spec.code,
                location=spec.location,
                message=spec.message,
                evidence=spec.evidence,
            )
        )
    return len(new)
