"""Rescans: re-score a scope of tracks in batches, with progress counted in the database.

A rescan keeps a cursor (the last track id done), so after a crash the next batch starts where
the last committed one ended; a batch that runs twice re-scores the same tracks, which changes
nothing (`score_track` is idempotent). Cancelling stops at the next batch boundary.

Scope `model_version` is what an operator starts after activating a model: the tracks whose
recorded version of a detector (`Track.model_versions`, written by `score_track`) differs from
the version `score_track` would use now. It is a SQL predicate like the other scopes, so the
count at creation and the batches after the cursor select the same rows (unless another
activation comes in between: the batches then follow the newest choice), and once a track is
re-scored it drops out of the scope by itself.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select
from sqlalchemy.orm import Session

from integrity.catalog import pipeline, scoring
from integrity.catalog.assets import ANALYSIS_VERSION
from integrity.catalog.states import AnalysisState, RescanState
from integrity.config import Settings
from integrity.db.models import Analysis, Delivery, Track, utc_now
from integrity.db.service_models import Rescan
from integrity.service.audit import record_event
from integrity.service.errors import ServiceError

SCOPE_KINDS = ("all", "since", "sender", "pipeline_version", "model_version")
ANY_MODEL = "*"  # scope model_version without a model name: out of date on any detector
QUEUED, RUNNING, COMPLETED, CANCELLED = (
    RescanState.QUEUED,
    RescanState.RUNNING,
    RescanState.COMPLETED,
    RescanState.CANCELLED,
)
ACTIVE_STATES = (QUEUED, RUNNING)
RESCANNABLE_STATES = (pipeline.TRACK_ANALYZED, pipeline.TRACK_SCORED)
SYSTEM_ACTOR, SYSTEM_ROLE = "system:rescan", "system"


def validate_scope(raw: Any) -> dict[str, str]:
    """A scope dict {"kind": ..., "value": ...}; the error names the field that is wrong."""
    if not isinstance(raw, dict):
        raise ServiceError(422, "scope", "an object with 'kind' (and 'value')")
    kind = raw.get("kind")
    if kind not in SCOPE_KINDS:
        raise ServiceError(422, "scope.kind", f"must be one of {list(SCOPE_KINDS)}")
    if kind == "all":
        return {"kind": "all"}
    value = raw.get("value")
    if kind == "model_version":
        if value is None or value == ANY_MODEL:
            return {"kind": kind, "value": ANY_MODEL}
        if not isinstance(value, str) or value.strip() not in scoring.DETECTORS:
            raise ServiceError(
                422, "scope.value", f"a model name {list(scoring.DETECTORS)} or {ANY_MODEL!r}"
            )
        return {"kind": kind, "value": value.strip()}
    if not isinstance(value, str) or not value.strip():
        raise ServiceError(422, "scope.value", f"a non-empty string for kind {kind!r}")
    if kind == "since":
        try:
            date.fromisoformat(value[:10])
        except ValueError as exc:
            raise ServiceError(422, "scope.value", "an ISO date (YYYY-MM-DD)") from exc
    return {"kind": kind, "value": value.strip()}


def active_versions(session: Session, *, models_dir: Path) -> dict[str, str]:
    """The version of each detector that `score_track` would use now (activated or newest).

    Taken from the detectors scoring really loads, so a version that cannot load (missing
    artifact, other feature schema) is not asked for: a rescan could never record it.
    """
    detectors = scoring.active_detectors(session, models_dir=models_dir)
    return {name: model.version for name, model in detectors.items()}


def _scored_by_older_model(model: str, versions: dict[str, str]) -> ColumnElement[bool]:
    """Tracks whose recorded version of `model` (or of any detector) is not the active one.

    Only tracks a detector can score count: those with an analysis of the current version
    (which stores the feature vector). A track without audio features never gets a model
    version, so counting it as out of date would keep it in the scope after every rescan.
    A scorable track with no recorded version of the model counts as older.
    """
    names = sorted(versions) if model == ANY_MODEL else [model]
    stale = []
    for name in names:
        if name not in versions:
            continue  # no usable active version: re-scoring could not update it
        recorded = Track.model_versions[name].as_string()  # ->> on PostgreSQL, json_extract
        stale.append(or_(recorded.is_(None), recorded != versions[name]))
    if not stale:
        return false()
    has_features = exists().where(
        Analysis.asset_sha256 == Track.asset_sha256,
        Analysis.analysis_version == ANALYSIS_VERSION,
        Analysis.status == AnalysisState.OK,
    )
    return and_(Track.asset_sha256.is_not(None), has_features, or_(*stale))


def _scope_query(
    scope: dict[str, str], *, versions: dict[str, str] | None = None
) -> Select[int]:
    """The ids in a scope; `versions` (active model versions) is needed by model_version."""
    query = select(Track.id).where(Track.state.in_(RESCANNABLE_STATES))
    kind = scope["kind"]
    if kind == "since":
        since = datetime.combine(date.fromisoformat(scope["value"][:10]), time(), utc_now().tzinfo)
        query = query.where(Track.updated_at >= since)
    elif kind == "sender":
        query = query.join(Delivery, Delivery.id == Track.delivery_id).where(
            (Delivery.uploader == scope["value"]) | (Track.sender_dpid == scope["value"])
        )
    elif kind == "pipeline_version":
        # Tracks whose delivery was processed by another pipeline version than the one named.
        query = query.join(Delivery, Delivery.id == Track.delivery_id).where(
            Delivery.pipeline_version != scope["value"]
        )
    elif kind == "model_version":
        query = query.where(_scored_by_older_model(scope["value"], versions or {}))
    return query


def create_rescan(
    session: Session, *, scope: Any, actor: str, role: str, models_dir: Path
) -> Rescan:
    """Record a rescan of a scope, with its total counted now.

    `models_dir` is the model registry scoring reads, so scope model_version compares with
    the versions the batches will really score with.
    """
    checked = validate_scope(scope)
    evidence: dict[str, Any] = {"scope": checked}
    versions: dict[str, str] | None = None
    if checked["kind"] == "model_version":
        versions = active_versions(session, models_dir=models_dir)
        model = checked["value"]
        if model != ANY_MODEL and model not in versions:
            raise ServiceError(
                422, "scope.value", f"model {model!r} has no usable version in the registry"
            )
        evidence["active_versions"] = versions
    total = session.scalar(
        select(func.count()).select_from(_scope_query(checked, versions=versions).subquery())
    )
    rescan = Rescan(scope=checked, status=QUEUED, total=total or 0, created_by=actor)
    session.add(rescan)
    session.flush()
    record_event(
        session,
        actor=actor,
        role=role,
        action="rescan.created",
        model_versions=versions,
        evidence={"rescan_id": rescan.id, "total": rescan.total, **evidence},
    )
    return rescan


def get_rescan(session: Session, *, rescan_id: int) -> Rescan:
    """One rescan, or a 404 naming the id."""
    rescan = session.get(Rescan, rescan_id)
    if rescan is None:
        raise ServiceError(404, "rescan_id", f"rescan {rescan_id} does not exist")
    return rescan


def cancel_rescan(session: Session, *, rescan_id: int, actor: str, role: str) -> Rescan:
    """Stop a rescan at its next batch boundary (a finished one stays as it is)."""
    rescan = get_rescan(session, rescan_id=rescan_id)
    if rescan.status in ACTIVE_STATES:
        before = rescan.status
        rescan.status = CANCELLED
        rescan.updated_at = rescan.finished_at = utc_now()
        record_event(
            session,
            actor=actor,
            role=role,
            action="rescan.cancelled",
            before=before,
            after=CANCELLED,
            evidence={"rescan_id": rescan.id, "done": rescan.done},
        )
    return rescan


def run_batch(
    session: Session,
    *,
    rescan_id: int,
    settings: Settings,
    resources: pipeline.AnalysisResources | None = None,
) -> bool:
    """Re-score the next batch after the cursor; True when more batches remain."""
    rescan = session.get(Rescan, rescan_id, with_for_update=True)
    if rescan is None or rescan.status not in ACTIVE_STATES:
        return False
    rescan.status = RUNNING
    versions = None
    if rescan.scope.get("kind") == "model_version":
        # Read per batch, like score_track does: after another activation mid-rescan the rest
        # is compared with (and scored by) the newest choice.
        models_dir = resources.models_dir if resources is not None else settings.models_dir
        versions = active_versions(session, models_dir=models_dir)
    track_ids = list(
        session.scalars(
            _scope_query(rescan.scope, versions=versions)
            .where(Track.id > rescan.cursor_track_id)
            .order_by(Track.id)
            .limit(settings.rescan_batch_size)
        )
    )
    for track_id in track_ids:
        track = session.get(Track, track_id)
        before = track.decision if track is not None else None
        pipeline.score_track(session, track_id=track_id, settings=settings, resources=resources)
        after = track.decision if track is not None else None
        if before != after:
            record_event(
                session,
                actor=SYSTEM_ACTOR,
                role=SYSTEM_ROLE,
                action="rescan.decision_changed",
                track_id=track_id,
                before=before,
                after=after,
                evidence={"rescan_id": rescan.id},
            )
    rescan.done += len(track_ids)
    rescan.updated_at = utc_now()
    if track_ids:
        rescan.cursor_track_id = track_ids[-1]
    more = len(track_ids) == settings.rescan_batch_size
    if not more:
        rescan.status = COMPLETED
        rescan.finished_at = utc_now()
    return more


def rescan_as_dict(rescan: Rescan) -> dict[str, Any]:
    """The JSON shape of a rescan's progress."""
    return {
        "id": rescan.id,
        "scope": rescan.scope,
        "status": rescan.status,
        "total": rescan.total,
        "done": rescan.done,
        "failed": rescan.failed,
        "created_by": rescan.created_by,
        "created_at": rescan.created_at.isoformat(),
        "finished_at": rescan.finished_at.isoformat() if rescan.finished_at else None,
    }


def stalled_rescans(session: Session, *, older_than_s: int) -> list[int]:
    """Active rescans without progress for a while: their batch chain died with a worker."""
    cutoff = utc_now() - timedelta(seconds=older_than_s)
    return list(
        session.scalars(
            select(Rescan.id).where(Rescan.status.in_(ACTIVE_STATES), Rescan.updated_at < cutoff)
        )
    )
