"""The one pipeline: register → ingest → analyse → score → finish, for every entry point.

`integrity scan` runs these steps in-process on SQLite; the Celery workers run each step as a
task on PostgreSQL; rescans call `score_track` again. Every function takes a session and never
commits: the caller owns the transaction, so a crash between steps loses nothing that was
committed and a step that runs twice (at-least-once delivery) finds its work already done.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import ddex
from ddex.model import AI_ALL, AI_PARTLY, PURGE_RELEASE_MESSAGE
from integrity.audio import DecodeLimits, sha256_file
from integrity.catalog import assets, ingest, scoring, storage
from integrity.catalog.assets import ANALYSIS_VERSION, AssetTools, CatalogCopy, locate_audio_file
from integrity.catalog.context import build_catalog_context, sender_of
from integrity.catalog.findings import current_findings, record_findings
from integrity.catalog.fingerprints import open_index
from integrity.catalog.policy import FindingFacts, Policy, load_policy, with_model_defaults
from integrity.catalog.scoring import ModelScores
from integrity.catalog.states import AnalysisState, DeliveryState, TrackState
from integrity.catalog.versions import PIPELINE_VERSION
from integrity.config import Settings
from integrity.db.models import Analysis, AudioAsset, Delivery, Track, utc_now
from integrity.detection.metadata import ProtectedArtists, load_protected_artists, metadata_findings
from integrity.findings import FindingSpec
from integrity.fingerprint import FingerprintIndex

logger = logging.getLogger(__name__)

__all__ = [
    "ANALYSIS_VERSION",
    "PIPELINE_VERSION",
    "AnalysisResources",
    "PipelineError",
    "analyze_track",
    "finish_delivery",
    "ingest_delivery",
    "locate_audio_file",
    "needs_processing",
    "register_delivery",
    "score_track",
]


# Delivery states.
RECEIVED, PROCESSING, COMPLETED, FAILED = (
    DeliveryState.RECEIVED,
    DeliveryState.PROCESSING,
    DeliveryState.COMPLETED,
    DeliveryState.FAILED,
)
TRACK_PENDING, TRACK_ANALYZED, TRACK_SCORED, TRACK_FAILED = (
    TrackState.PENDING,
    TrackState.ANALYZED,
    TrackState.SCORED,
    TrackState.FAILED,
)


PARSED_MESSAGES_KEPT = 16
"""Parsed ERN messages a process keeps for scoring their tracks (deliveries, not bytes)."""


class PipelineError(RuntimeError):
    """A pipeline step was asked to work on something that does not exist."""



def decode_limits(settings: Settings) -> DecodeLimits:
    """The deployment's caps on one untrusted audio file (INTEGRITY_AUDIO_MAX_BYTES etc.)."""
    return DecodeLimits(
        max_bytes=settings.audio_max_bytes,
        max_duration_s=settings.audio_max_duration_s,
        timeout_s=settings.decode_timeout_s,
        memory_limit_bytes=settings.decode_memory_limit_bytes,
    )

@dataclass
class AnalysisResources:
    """Heavy, reusable things one process opens once: decode caps, the policy and the
    fingerprint index. Built per CLI run or per worker process, never per track; `close()`
    persists what the index holds in memory."""

    decode_limits: DecodeLimits
    read_limits: ddex.ReadLimits
    policy: Policy
    protected_artists: ProtectedArtists
    index_location: str
    models_dir: Path
    store: storage.DeliveryStore  # hands out a local folder for S3-stored deliveries too
    index_shards: tuple[str, ...] = ()  # PostgreSQL servers a new service index is spread over
    _index: FingerprintIndex | None = field(default=None, repr=False)
    _messages: OrderedDict[tuple[int, str], ddex.Message | None] = field(
        default_factory=OrderedDict, repr=False
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> AnalysisResources:
        return cls(
            decode_limits=decode_limits(settings),
            read_limits=ddex.ReadLimits(
                max_bytes=settings.xml_max_bytes, max_depth=settings.xml_max_depth
            ),
            policy=load_policy(settings.policy_file),
            protected_artists=load_protected_artists(settings.protected_artists_file),
            index_location=fingerprint_index_location(settings),
            models_dir=settings.models_dir,
            store=storage.store_for(settings),
            index_shards=() if settings.is_sqlite else tuple(settings.fingerprint_shards),
        )

    def message_for(self, delivery: Delivery) -> ddex.Message | None:
        """The delivery's parsed ERN, read once per process for all its tracks; None when the
        stored message is gone or unreadable (ingest already recorded why)."""
        key = (delivery.id, delivery.message_sha256)
        if key not in self._messages:
            with self.store.message_file(delivery) as path:
                try:
                    self._messages[key] = ddex.read_file(path, limits=self.read_limits)
                except (ddex.ErnReadError, OSError) as exc:
                    where = {"path": str(path), "error": str(exc)}
                    logger.warning("message unavailable", extra=where)
                    self._messages[key] = None
            while len(self._messages) > PARSED_MESSAGES_KEPT:
                self._messages.popitem(last=False)
        return self._messages[key]

    @property
    def index(self) -> FingerprintIndex:
        if self._index is None:
            shards = {"shards": list(self.index_shards)} if self.index_shards else {}
            self._index = open_index(self.index_location, **shards)
        return self._index

    @property
    def asset_tools(self) -> AssetTools:
        return AssetTools(decode_limits=self.decode_limits, index=self.index)

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None


def fingerprint_index_location(settings: Settings) -> str:
    """The embedded index file beside the SQLite database; in service mode, PostgreSQL."""
    if settings.is_sqlite:
        return str(settings.index_path)
    return settings.database_url


# ---------------------------------------------------------------------------------------------
# register


def register_delivery(
    session: Session,
    *,
    storage_path: Path,
    message_filename: str,
    source: str,
    uploader: str | None = None,
    sender_id: int | None = None,
    webhook_id: str | None = None,
) -> tuple[Delivery, bool]:
    """Record a received ERN message; idempotent on its SHA-256 and on the webhook id, both
    within one sender (`sender_id`, the signer of a webhook; None: the local folder scans).

    Hashed in chunks: no size cap has been applied yet (ingest applies it), so the file is
    never read into memory whole here."""
    digest = sha256_file(storage_path / message_filename)
    condition = Delivery.message_sha256 == digest
    if webhook_id:
        condition = condition | (Delivery.webhook_id == webhook_id)
    owner = Delivery.sender_id.is_(None) if sender_id is None else Delivery.sender_id == sender_id
    existing = session.scalars(select(Delivery).where(owner, condition)).first()
    if existing is not None:
        return existing, False
    delivery = Delivery(
        message_sha256=digest,
        source=source,
        storage_path=str(storage_path),
        message_filename=message_filename,
        uploader=uploader,
        sender_id=sender_id,
        webhook_id=webhook_id,
        status=RECEIVED,
        pipeline_version=PIPELINE_VERSION,
    )
    session.add(delivery)
    session.flush()
    return delivery, True


def needs_processing(delivery: Delivery) -> bool:
    """False when this pipeline version already finished the delivery (reruns change nothing)."""
    return not (delivery.status == COMPLETED and delivery.pipeline_version == PIPELINE_VERSION)


# ---------------------------------------------------------------------------------------------
# ingest


def ingest_delivery(session: Session, *, delivery_id: int, settings: Settings) -> list[int]:
    """Parse and validate the delivery's ERN, upsert its releases and tracks, record findings.

    Returns the ids of the tracks to analyse. An unreadable message fails the delivery with a
    recorded reason; a TestMessage is validated but never enters production state.
    """
    delivery = _get(session, Delivery, delivery_id)
    delivery.status = PROCESSING
    delivery.pipeline_version = PIPELINE_VERSION
    limits = ddex.ReadLimits(max_bytes=settings.xml_max_bytes, max_depth=settings.xml_max_depth)
    try:
        with storage.store_for(settings).message_file(delivery) as message_path:
            message = ddex.read_file(message_path, limits=limits)
    except (ddex.ErnReadError, OSError) as exc:
        reason = storage.redact_locations(
            f"unreadable ERN message: {exc}",
            delivery.storage_path,
            settings.storage_dir,
            settings.s3_cache_dir,
        )
        _fail_delivery(session, delivery, reason, code="ern_unreadable")
        return []
    ingest.copy_header(delivery, message)
    findings = list(ddex.validate(message))

    if message.is_test_message or message.message_type == PURGE_RELEASE_MESSAGE:
        if message.is_test_message:
            delivery.error = "TestMessage: validated, not ingested into production state"
        else:
            ingest.purge_releases(session, delivery=delivery, message=message)
        ingest.record_ddex_findings(session, delivery=delivery, message=message, findings=findings)
        delivery.status = COMPLETED
        delivery.completed_at = utc_now()
        return []

    releases = ingest.upsert_releases(session, delivery=delivery, message=message)
    tracks = ingest.upsert_tracks(session, delivery=delivery, message=message)
    ingest.link_release_tracks(session, message=message, releases=releases, tracks=tracks)
    ingest.record_ddex_findings(
        session,
        delivery=delivery,
        message=message,
        findings=findings,
        releases=releases,
        tracks=tracks,
    )
    session.flush()
    return [track.id for track in tracks.values()]


def _fail_delivery(session: Session, delivery: Delivery, reason: str, *, code: str) -> None:
    delivery.status = FAILED
    delivery.error = reason
    delivery.completed_at = utc_now()
    record_findings(
        session,
        delivery_id=delivery.id,
        specs=[
            FindingSpec(
                source="ddex",
                severity="error",
                code=code,
                message=reason,
                location=delivery.message_filename,
            )
        ],
    )


# ---------------------------------------------------------------------------------------------
# analyse


def analyze_track(
    session: Session,
    *,
    track_id: int,
    settings: Settings,
    resources: AnalysisResources | None = None,
) -> None:
    """Find, verify, decode once, measure and fingerprint the track's audio; look for copies.

    Idempotent: an asset analysed by this ANALYSIS_VERSION (and present in the index) is not
    decoded again; the findings it produced are recorded once. Pass `resources` when analysing
    many tracks: without it the index is opened and closed for this one call.
    """
    with _resources_for_call(settings, resources) as resources:
        _analyze_track(session, track_id=track_id, resources=resources)


@contextmanager
def _resources_for_call(
    settings: Settings, resources: AnalysisResources | None
) -> Iterator[AnalysisResources]:
    """The caller's resources, or fresh ones that are closed when the call ends."""
    if resources is not None:
        yield resources
        return
    own = AnalysisResources.from_settings(settings)
    try:
        yield own
    finally:
        own.close()


def _analyze_track(session: Session, *, track_id: int, resources: AnalysisResources) -> None:
    track = _get(session, Track, track_id)
    delivery = _get(session, Delivery, track.delivery_id)
    specs: list[FindingSpec] = []

    def finish(state: str) -> None:
        track.state = state
        track.updated_at = utc_now()
        record_findings(session, delivery_id=delivery.id, specs=specs)

    if not track.file_reference:
        problem = "the sound recording names no audio file"
        specs.append(assets.audio_finding(track, "error", "audio_file_not_referenced", problem))
        finish(TRACK_FAILED)
        return
    located = locate_audio_file(resources.store.materialise(delivery), track.file_reference)
    if located.path is None:
        problem = located.problem or ""
        specs.append(assets.audio_finding(track, "error", "audio_file_missing", problem))
        finish(TRACK_FAILED)
        return

    declared_algorithm = assets.HASH_ALGORITHMS.get(
        (track.declared_hash_algorithm or "").lower().replace("-", "")
    )
    digests = assets.digest_file(
        located.path, {declared_algorithm} if declared_algorithm else set()
    )
    specs.extend(assets.hash_findings(track, digests, declared_algorithm))

    asset = session.get(AudioAsset, digests["sha256"])
    if asset is None:
        asset = AudioAsset(
            sha256=digests["sha256"],
            size_bytes=located.path.stat().st_size,
            original_name=located.path.name,
        )
        session.add(asset)
    track.asset_sha256 = asset.sha256

    analysis = session.scalars(
        select(Analysis).where(
            Analysis.asset_sha256 == asset.sha256, Analysis.analysis_version == ANALYSIS_VERSION
        )
    ).first()
    if analysis is None:
        analysis = Analysis(
            asset_sha256=asset.sha256, analysis_version=ANALYSIS_VERSION, status=assets.PENDING
        )
        session.add(analysis)
    if assets.needs_analysis(analysis, index=resources.index):
        meta = {"isrc": track.isrc, "title": track.title, "artist": track.display_artist}
        assets.analyse_asset(
            located.path, asset=asset, analysis=analysis, tools=resources.asset_tools, meta=meta
        )
    specs.extend(assets.measurement_findings(track, analysis))
    copies, uncounted = _catalog_copies(session, track, analysis)
    specs.extend(assets.duplicate_findings(track, copies, more=uncounted))
    finish(TRACK_ANALYZED if analysis.status == AnalysisState.OK else TRACK_FAILED)


def _catalog_copies(
    session: Session, track: Track, analysis: Analysis
) -> tuple[list[CatalogCopy], int]:
    """Earlier tracks with this very file, or with audio the fingerprint index matched; at
    most DUPLICATE_FINDINGS_KEPT of each kind are loaded, and how many more exist is counted.

    Why bounded: 300 tracks delivered on one file made one finding per earlier track, 44,531
    in all; a moderator needs the strongest evidence and a count, and the query stays O(1).
    """
    kept = assets.DUPLICATE_FINDINGS_KEPT
    same_sender = Track.track_key.startswith(f"{sender_of(track.track_key)}|", autoescape=True)
    not_redelivery = ~(Track.isrc.is_not_distinct_from(track.isrc) & same_sender)
    same_file = (Track.asset_sha256 == track.asset_sha256) & (Track.id < track.id) & not_redelivery
    identical = session.scalars(select(Track).where(same_file).order_by(Track.id).limit(kept))
    copies = [CatalogCopy(other, {"identical_file": True}) for other in identical]
    more = max(0, (session.scalar(select(func.count()).where(same_file)) or 0) - len(copies))
    matched = {m["id"]: m for m in (analysis.details or {}).get("duplicates", [])}
    if matched:
        similar = Track.asset_sha256.in_(matched) & (Track.id != track.id) & not_redelivery
        loaded = 0
        for other in session.scalars(select(Track).where(similar).order_by(Track.id).limit(kept)):
            evidence = {
                k: v for k, v in matched[other.asset_sha256].items() if k not in ("id", "meta")
            }
            copies.append(CatalogCopy(other, {"asset_sha256": other.asset_sha256, **evidence}))
            loaded += 1
        more += max(0, (session.scalar(select(func.count()).where(similar)) or 0) - loaded)
    return copies, more


# ---------------------------------------------------------------------------------------------
# score and finish


def score_track(
    session: Session,
    *,
    track_id: int,
    settings: Settings,
    resources: AnalysisResources | None = None,
) -> None:
    """Add the metadata signals, then turn findings (and scores) into a decision with reasons."""
    with _resources_for_call(settings, resources) as resources:
        _score_track(session, track_id=track_id, settings=settings, resources=resources)


def _score_track(
    session: Session, *, track_id: int, settings: Settings, resources: AnalysisResources
) -> None:
    track = _get(session, Track, track_id)
    delivery = _get(session, Delivery, track.delivery_id)
    model_scores = _model_scores(session, track, resources)
    scores = model_scores.scores
    message = resources.message_for(delivery)
    recording = message.sound_recording(track.reference or "") if message else None
    if message is not None and recording is not None:
        context = build_catalog_context(
            session,
            track=track,
            delivery=delivery,
            protected=resources.protected_artists,
        )
        specs = metadata_findings(
            recording,
            message,
            context,
            synthetic_score=_measured_synthetic_score(model_scores),
            track_id=track.id,
        )
        record_findings(session, delivery_id=delivery.id, specs=specs)
    findings = session.scalars(current_findings(track)).all()  # earlier deliveries' are superseded
    policy = with_model_defaults(resources.policy, model_scores.thresholds)
    # AI content its sender declared is handled by the disclosure rules (kept, not recommended);
    # the synthetic score then confirms the declaration and must not escalate it to a block.
    declared_ai = track.contains_ai in (AI_ALL, AI_PARTLY)
    policy_scores = {k: v for k, v in scores.items() if not (declared_ai and k == "synthetic")}
    decision = policy.decide(
        findings=[FindingFacts(f.code, f.severity, f.message) for f in findings],
        scores=policy_scores,
    )
    reasons = list(decision.reasons)
    for name in decision.models:
        reasons.extend(f"{name} model: {why}" for why in model_scores.explanations.get(name, []))
    ingest.assign_changed(
        track,
        {
            "decision": decision.action,
            "decision_reasons": reasons,
            "scores": {k: round(v, 6) for k, v in scores.items()},
            "model_versions": model_scores.versions,
        },
    )
    if track.state == TRACK_ANALYZED:
        track.state = TRACK_SCORED


def _measured_synthetic_score(model_scores: ModelScores) -> float | None:
    """The synthetic score for the AI-disclosure check, only where it clears the model's review
    threshold and that threshold's measured false-positive rate is within the policy's budget:
    a model score alone must not raise a review finding the model's own operating point would
    not (an undeclared-AI warning from an unmeasured model is one)."""
    score = model_scores.scores.get("synthetic")
    points = model_scores.thresholds.get("synthetic")
    if score is None or points is None or not points.review_within_budget:
        return None
    return score if score >= points.review else None


def _model_scores(session: Session, track: Track, resources: AnalysisResources) -> ModelScores:
    """The detectors' scores on the features the track's analysis stored (none: no scores)."""
    if track.asset_sha256 is None:
        return ModelScores()
    analysis = session.scalars(
        select(Analysis).where(
            Analysis.asset_sha256 == track.asset_sha256,
            Analysis.analysis_version == ANALYSIS_VERSION,
        )
    ).first()
    vector = assets.stored_features(analysis) if analysis is not None else None
    if vector is None:
        return ModelScores()
    detectors = scoring.active_detectors(session, models_dir=resources.models_dir)
    return scoring.score_features(detectors, vector)


def finish_delivery(session: Session, *, delivery_id: int) -> str:
    """Close a delivery once all its tracks went through; returns the final status."""
    delivery = _get(session, Delivery, delivery_id)
    if delivery.status in (COMPLETED, FAILED):
        return delivery.status
    delivery.status = COMPLETED
    delivery.completed_at = datetime.now(UTC)
    return delivery.status


def _get(session: Session, model: type[Any], ident: Any) -> Any:
    row = session.get(model, ident)
    if row is None:
        raise PipelineError(f"{model.__name__} {ident!r} does not exist")
    return row
