"""The one pipeline: register → ingest → analyse → score → finish, for every entry point.

`integrity scan` runs these steps in-process on SQLite; the Celery workers run each step as a
task on PostgreSQL; rescans call `score_track` again. Every function takes a session and never
commits: the caller owns the transaction, so a crash between steps loses nothing that was
committed and a step that runs twice (at-least-once delivery) finds its work already done.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

import ddex
from ddex.model import PURGE_RELEASE_MESSAGE
from integrity.audio import AudioDecodeError, DecodedAudio, DecodeLimits, decode_file, measure
from integrity.config import Settings
from integrity.db.models import (
    Analysis,
    AudioAsset,
    Delivery,
    Finding,
    Release,
    ReleaseTrack,
    Track,
    utc_now,
)
from integrity.findings import FindingSpec, record_findings
from integrity.policy import Policy, load_policy

logger = logging.getLogger(__name__)

PIPELINE_VERSION = "2026.11.1"
"""Bump when ingest semantics change: completed deliveries of an older version are redone."""
ANALYSIS_VERSION = "audio-1"
"""Bump when what `analyze_track` stores changes: assets are re-analysed on the next pass."""

HASH_READ_CHUNK_BYTES = 1024 * 1024
DURATION_TOLERANCE_S = 2.0
"""Declared vs decoded duration may differ by this much (codec padding, rounding)..."""
DURATION_TOLERANCE_RATIO = 0.02
"""...or by this fraction of the declared duration, whichever is larger."""
MOSTLY_SILENT_RATIO = 0.9
"""Fraction of silent frames above which a file is reported as (nearly) silent."""

# Delivery states.
RECEIVED, PROCESSING, COMPLETED, FAILED = "received", "processing", "completed", "failed"
# Track states.
TRACK_PENDING, TRACK_ANALYZED, TRACK_SCORED, TRACK_FAILED = (
    "pending",
    "analyzed",
    "scored",
    "failed",
)
# DDEX hash algorithm names (AVS HashSumAlgorithmType and common spellings) → hashlib names.
HASH_ALGORITHMS = {
    "md5": "md5",
    "sha1": "sha1",
    "sha224": "sha224",
    "sha256": "sha256",
    "sha384": "sha384",
    "sha512": "sha512",
}


class PipelineError(RuntimeError):
    """A pipeline step was asked to work on something that does not exist."""


@dataclass
class AnalysisResources:
    """Heavy, reusable things one process loads once: decode limits, policy (and later the
    fingerprint index and models). Built per CLI run or per worker process, never per track."""

    decode_limits: DecodeLimits
    policy: Policy

    @classmethod
    def from_settings(cls, settings: Settings) -> AnalysisResources:
        return cls(
            decode_limits=DecodeLimits.from_settings(settings),
            policy=load_policy(settings.policy_file),
        )


# ---------------------------------------------------------------------------------------------
# register


def register_delivery(
    session: Session,
    *,
    storage_path: Path,
    message_filename: str,
    source: str,
    uploader: str | None = None,
    webhook_id: str | None = None,
) -> tuple[Delivery, bool]:
    """Record a received ERN message; idempotent on its SHA-256 and on the webhook id."""
    message_bytes = (storage_path / message_filename).read_bytes()
    digest = hashlib.sha256(message_bytes).hexdigest()
    existing = session.scalars(
        select(Delivery).where(
            (Delivery.message_sha256 == digest)
            | ((Delivery.webhook_id == webhook_id) if webhook_id else False)
        )
    ).first()
    if existing is not None:
        return existing, False
    delivery = Delivery(
        message_sha256=digest,
        source=source,
        storage_path=str(storage_path),
        message_filename=message_filename,
        uploader=uploader,
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
    message_path = Path(delivery.storage_path) / delivery.message_filename
    limits = ddex.ReadLimits(max_bytes=settings.xml_max_bytes, max_depth=settings.xml_max_depth)
    try:
        message = ddex.read_file(message_path, limits=limits)
    except (ddex.ErnReadError, OSError) as exc:
        _fail_delivery(session, delivery, f"unreadable ERN message: {exc}", code="ern_unreadable")
        return []
    _copy_header(delivery, message)
    findings = list(ddex.validate(message))

    if message.is_test_message:
        _record_ddex_findings(session, delivery=delivery, message=message, findings=findings)
        delivery.status = COMPLETED
        delivery.completed_at = utc_now()
        delivery.error = "TestMessage: validated, not ingested into production state"
        return []
    if message.message_type == PURGE_RELEASE_MESSAGE:
        _purge_releases(session, delivery=delivery, message=message)
        _record_ddex_findings(session, delivery=delivery, message=message, findings=findings)
        delivery.status = COMPLETED
        delivery.completed_at = utc_now()
        return []

    releases = _upsert_releases(session, delivery=delivery, message=message)
    tracks = _upsert_tracks(session, delivery=delivery, message=message)
    _link_release_tracks(session, message=message, releases=releases, tracks=tracks)
    _record_ddex_findings(
        session,
        delivery=delivery,
        message=message,
        findings=findings,
        releases=releases,
        tracks=tracks,
    )
    session.flush()
    return [track.id for track in tracks.values()]


def _copy_header(delivery: Delivery, message: ddex.Message) -> None:
    header = message.header
    delivery.ern_version = message.version
    delivery.message_type = message.message_type
    delivery.message_id = header.message_id
    delivery.thread_id = header.thread_id
    delivery.control_type = header.control_type
    delivery.sender_dpid = header.sender.dpid
    delivery.sender_name = header.sender.name
    delivery.message_created_at = header.created


def _sender_key(delivery: Delivery) -> str:
    return delivery.sender_dpid or delivery.uploader or delivery.sender_name or "unknown-sender"


def release_key(sender: str, release: ddex.Release, *, message_id: str | None) -> str:
    """A release's identity per sender: its strongest identifier available."""
    ids = release.ids
    for scheme, value in (("icpn", ids.icpn), ("grid", ids.grid)):
        if value:
            return f"{sender}|{scheme}:{value}"
    if ids.catalog_number:
        return f"{sender}|catalog:{ids.catalog_number}"
    if ids.proprietary:
        first = ids.proprietary[0]
        return f"{sender}|proprietary:{first.namespace}:{first.value}"
    return f"{sender}|message:{message_id}|ref:{release.reference}"


def _upsert_releases(
    session: Session, *, delivery: Delivery, message: ddex.Message
) -> dict[str, Release]:
    sender = _sender_key(delivery)
    availability = message.availability(as_of=date.today())
    by_reference: dict[str, Release] = {}
    for release in message.releases:
        key = release_key(sender, release, message_id=message.header.message_id)
        rows = [
            {
                "territory": a.territory,
                "use_type": a.use_type,
                "available": a.available,
                "reason": a.reason,
            }
            for a in availability
            if a.release_reference == (release.reference or "")
        ]
        values: dict[str, Any] = {
            "sender_dpid": delivery.sender_dpid,
            "delivery_id": delivery.id,
            "reference": release.reference,
            "grid": release.ids.grid,
            "icpn": release.ids.icpn,
            "catalog_number": release.ids.catalog_number,
            "proprietary_ids": [
                {"namespace": p.namespace, "value": p.value} for p in release.ids.proprietary
            ],
            "title": release.title,
            "display_artist": release.display_artist,
            "release_type": release.type,
            "label": release.label,
            "release_date": release.release_date,
            "parental_warning": release.parental_warning,
            "genre": release.genre,
            "is_main": release.is_main,
            "contains_ai": release.contains_ai,
            "availability": rows,
            "taken_down": bool(rows)
            and not any(r["available"] for r in rows)
            and any(r["reason"] in ("takedown", "expired") for r in rows),
        }
        row = session.scalars(select(Release).where(Release.release_key == key)).first()
        if row is None:
            row = Release(release_key=key, **values)
            session.add(row)
        else:
            _assign_changed(row, values)
        by_reference[release.reference or key] = row
    session.flush()
    return by_reference


def _upsert_tracks(
    session: Session, *, delivery: Delivery, message: ddex.Message
) -> dict[str, Track]:
    sender = _sender_key(delivery)
    by_reference: dict[str, Track] = {}
    keys_in_message: set[str] = set()
    for recording in message.tracks:
        key = f"{sender}|isrc:{recording.isrc}" if recording.isrc else ""
        if not key or key in keys_in_message:
            # No ISRC, or an ISRC used twice in one message: identify by delivery + reference.
            key = f"{sender}|delivery:{delivery.id}|ref:{recording.reference}"
        keys_in_message.add(key)
        file_ref = recording.file
        values: dict[str, Any] = {
            "sender_dpid": delivery.sender_dpid,
            "delivery_id": delivery.id,
            "reference": recording.reference,
            "isrc": recording.isrc,
            "title": recording.title,
            "display_artist": recording.display_artist,
            "artists": [
                {"name": a.name, "roles": list(a.roles)} for a in recording.display_artists
            ],
            "contributors": [
                {
                    "name": c.name,
                    "roles": list(c.roles),
                    "special": c.special,
                    "ai_contribution": c.effective_ai_contribution,
                }
                for c in recording.contributors
            ],
            "declared_duration_s": recording.duration_s,
            "parental_warning": recording.parental_warning,
            "contains_ai": recording.ai.contains_ai,
            "ai_contributions": [
                {
                    "name": c.name,
                    "special": c.special,
                    "ai_contribution": c.effective_ai_contribution,
                }
                for c in recording.ai.contributions
            ],
            "has_vocal_performance": recording.has_vocal_performance,
            "is_cover": recording.is_cover,
            "file_reference": file_ref.location if file_ref else None,
            "declared_hash_algorithm": file_ref.hash.algorithm
            if file_ref and file_ref.hash
            else None,
            "declared_hash_value": file_ref.hash.value if file_ref and file_ref.hash else None,
        }
        row = session.scalars(select(Track).where(Track.track_key == key)).first()
        if row is None:
            row = Track(track_key=key, state=TRACK_PENDING, **values)
            session.add(row)
        elif _assign_changed(row, values):
            row.state = TRACK_PENDING
        by_reference[recording.reference] = row
    session.flush()
    return by_reference


def _link_release_tracks(
    session: Session,
    *,
    message: ddex.Message,
    releases: dict[str, Release],
    tracks: dict[str, Track],
) -> None:
    for release in message.releases:
        row = releases.get(release.reference or "")
        if row is None:
            continue
        wanted = {
            tracks[ref].id: sequence
            for sequence, ref in enumerate(release.track_references, start=1)
            if ref in tracks
        }
        current = {link.track_id: link for link in row.tracks}
        for track_id, link in current.items():
            if track_id not in wanted:
                session.delete(link)
        for track_id, sequence in wanted.items():
            link = current.get(track_id)
            if link is None:
                session.add(ReleaseTrack(release_id=row.id, track_id=track_id, sequence=sequence))
            elif link.sequence != sequence:
                link.sequence = sequence


def _purge_releases(session: Session, *, delivery: Delivery, message: ddex.Message) -> None:
    """A PurgeReleaseMessage takes the named releases of this sender down."""
    sender = _sender_key(delivery)
    for purged in message.purged_releases:
        conditions = [
            Release.release_key == f"{sender}|{scheme}:{value}"
            for scheme, value in (("icpn", purged.ids.icpn), ("grid", purged.ids.grid))
            if value
        ]
        if not conditions:
            continue
        for release in session.scalars(select(Release).where(*conditions[:1])).all():
            release.taken_down = True
            release.availability = [{"available": False, "reason": "purged"}]
            release.updated_at = utc_now()


def _record_ddex_findings(
    session: Session,
    *,
    delivery: Delivery,
    message: ddex.Message,
    findings: list[ddex.Finding],
    releases: dict[str, Release] | None = None,
    tracks: dict[str, Track] | None = None,
) -> None:
    """Store the ERN findings, attached to the track or release their location names."""
    track_paths = [(r.loc.path, r.reference) for r in message.sound_recordings if r.loc.path]
    release_paths = [(r.loc.path, r.reference or "") for r in message.releases if r.loc.path]
    specs = []
    for finding in findings:
        track = (tracks or {}).get(_subject(finding, track_paths) or "")
        release = (releases or {}).get(_subject(finding, release_paths) or "")
        specs.append(
            FindingSpec(
                source="ddex",
                severity=finding.severity,
                code=finding.code,
                message=finding.message,
                location=finding.location or None,
                track_id=track.id if track else None,
                release_id=release.id if release else None,
            )
        )
    record_findings(session, delivery_id=delivery.id, specs=specs)


def _subject(finding: ddex.Finding, element_paths: list[tuple[str, str]]) -> str | None:
    """The reference of the element a finding's location is inside, if any."""
    path = finding.loc.path
    for element_path, reference in element_paths:
        if path == element_path or path.startswith(element_path + "/"):
            return reference
    return None


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


@dataclass(frozen=True)
class LocatedFile:
    """Where a referenced audio file was found inside a delivery, or why it was not."""

    path: Path | None
    problem: str | None = None


def locate_audio_file(delivery_dir: Path, reference: str) -> LocatedFile:
    """Resolve a message's file reference inside the delivery folder, refusing any escape.

    References come as relative paths, `file:` URIs or remote URLs. Only files inside the
    delivery folder are read; a bare file name at the folder's top level is accepted too,
    because uploads carry files under the names the message references.
    """
    parsed = urlparse(reference)
    if parsed.scheme in ("http", "https", "ftp", "s3"):
        return LocatedFile(None, f"remote file reference {reference!r} is not fetched")
    raw = unquote(parsed.path) if parsed.scheme == "file" else reference
    candidate = PurePosixPath(raw.replace("\\", "/"))
    root = delivery_dir.resolve()
    tries = [candidate] if not candidate.is_absolute() else []
    tries.append(PurePosixPath(candidate.name))
    for relative in tries:
        if ".." in relative.parts:
            continue
        unresolved = root / relative
        if unresolved.is_symlink():
            return LocatedFile(None, f"{reference!r} is a link, not a regular file")
        path = unresolved.resolve()
        if not path.is_relative_to(root):
            continue
        if path.exists() and not path.is_file():
            return LocatedFile(None, f"{reference!r} is not a regular file")
        if path.is_file():
            return LocatedFile(path)
    return LocatedFile(None, f"file {reference!r} not found in the delivery")


def _digest_file(path: Path, algorithms: set[str]) -> dict[str, str]:
    """One read of the file for the asset id (SHA-256) and the declared hash algorithm."""
    hashers = {name: hashlib.new(name) for name in algorithms | {"sha256"}}
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_READ_CHUNK_BYTES):
            for hasher in hashers.values():
                hasher.update(chunk)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def analyze_track(
    session: Session,
    *,
    track_id: int,
    settings: Settings,
    resources: AnalysisResources | None = None,
) -> None:
    """Find, verify, decode once and measure the track's audio; store what was learnt.

    Idempotent: an asset analysed by this ANALYSIS_VERSION is not decoded again.
    """
    resources = resources or AnalysisResources.from_settings(settings)
    track = _get(session, Track, track_id)
    delivery = _get(session, Delivery, track.delivery_id)
    specs: list[FindingSpec] = []

    def finish(state: str) -> None:
        track.state = state
        track.updated_at = utc_now()
        record_findings(session, delivery_id=delivery.id, specs=specs)

    if not track.file_reference:
        specs.append(
            _audio_finding(
                track,
                "error",
                "audio_file_not_referenced",
                "the sound recording names no audio file",
            )
        )
        finish(TRACK_FAILED)
        return
    located = locate_audio_file(Path(delivery.storage_path), track.file_reference)
    if located.path is None:
        specs.append(_audio_finding(track, "error", "audio_file_missing", located.problem or ""))
        finish(TRACK_FAILED)
        return

    size = located.path.stat().st_size
    declared_algorithm = HASH_ALGORITHMS.get(
        (track.declared_hash_algorithm or "").lower().replace("-", "")
    )
    digests = _digest_file(located.path, {declared_algorithm} if declared_algorithm else set())
    specs.extend(_hash_findings(track, digests, declared_algorithm))

    asset = session.get(AudioAsset, digests["sha256"])
    if asset is None:
        asset = AudioAsset(
            sha256=digests["sha256"], size_bytes=size, original_name=located.path.name
        )
        session.add(asset)
    track.asset_sha256 = asset.sha256

    analysis = session.scalars(
        select(Analysis).where(
            Analysis.asset_sha256 == asset.sha256, Analysis.analysis_version == ANALYSIS_VERSION
        )
    ).first()
    if analysis is None:
        analysis = _analyse_asset(located.path, asset=asset, limits=resources.decode_limits)
        session.add(analysis)
    specs.extend(_measurement_findings(track, analysis))
    finish(TRACK_ANALYZED if analysis.status == "ok" else TRACK_FAILED)


def _analyse_asset(path: Path, *, asset: AudioAsset, limits: DecodeLimits) -> Analysis:
    """Decode once (sandboxed) and measure; a bad file becomes a failed analysis, not a crash."""
    try:
        audio: DecodedAudio = decode_file(path, limits=limits)
    except AudioDecodeError as exc:
        return Analysis(
            asset_sha256=asset.sha256,
            analysis_version=ANALYSIS_VERSION,
            status="failed",
            error=str(exc),
        )
    asset.container = audio.container
    asset.codec = audio.codec
    asset.sample_rate = audio.source_sample_rate
    asset.channels = audio.source_channels
    measured = measure(audio)
    return Analysis(
        asset_sha256=asset.sha256,
        analysis_version=ANALYSIS_VERSION,
        status="ok",
        duration_s=measured.duration_s,
        loudness_lufs=_finite_or_none(measured.integrated_lufs),
        peak_dbfs=_finite_or_none(measured.sample_peak_dbfs),
        leading_silence_s=measured.leading_silence_s,
        trailing_silence_s=measured.trailing_silence_s,
        silence_ratio=measured.silence_ratio,
        clipping_ratio=measured.clipping_ratio,
    )


def _finite_or_none(value: float | None) -> float | None:
    """-inf loudness (digital silence) is stored as NULL: JSON and SQL have no infinity."""
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return float(value)


def _audio_finding(
    track: Track,
    severity: str,
    code: str,
    message: str,
    evidence: dict[str, Any] | None = None,
) -> FindingSpec:
    return FindingSpec(
        source="audio",
        severity=severity,
        code=code,
        message=message,
        location=track.file_reference,
        track_id=track.id,
        evidence=evidence or {},
    )


def _hash_findings(
    track: Track, digests: dict[str, str], algorithm: str | None
) -> list[FindingSpec]:
    if not track.declared_hash_value:
        return [
            _audio_finding(
                track,
                "info",
                "audio_hash_not_declared",
                "the message declares no hash sum for this file",
            )
        ]
    if algorithm is None:
        return [
            _audio_finding(
                track,
                "warning",
                "audio_hash_algorithm_unsupported",
                f"hash algorithm {track.declared_hash_algorithm!r} is not supported",
            )
        ]
    actual = digests[algorithm]
    if actual.lower() != track.declared_hash_value.strip().lower():
        return [
            _audio_finding(
                track,
                "error",
                "audio_hash_mismatch",
                f"{algorithm} of the delivered file does not match the declared hash sum",
                {"declared": track.declared_hash_value, "actual": actual, "algorithm": algorithm},
            )
        ]
    return []


def _measurement_findings(track: Track, analysis: Analysis) -> list[FindingSpec]:
    if analysis.status != "ok":
        return [_audio_finding(track, "error", "audio_decode_failed", analysis.error or "")]
    specs = []
    declared, actual = track.declared_duration_s, analysis.duration_s
    if declared is not None and actual is not None:
        tolerance = max(DURATION_TOLERANCE_S, DURATION_TOLERANCE_RATIO * declared)
        if abs(declared - actual) > tolerance:
            specs.append(
                _audio_finding(
                    track,
                    "warning",
                    "duration_mismatch",
                    f"declared {declared:.1f} s but the audio lasts {actual:.1f} s",
                    {"declared_s": declared, "actual_s": actual, "tolerance_s": tolerance},
                )
            )
    if analysis.silence_ratio is not None and analysis.silence_ratio >= MOSTLY_SILENT_RATIO:
        specs.append(
            _audio_finding(
                track,
                "warning",
                "audio_mostly_silent",
                f"{analysis.silence_ratio:.0%} of the audio is silence",
                {"silence_ratio": analysis.silence_ratio},
            )
        )
    return specs


# ---------------------------------------------------------------------------------------------
# score and finish


def score_track(
    session: Session,
    *,
    track_id: int,
    settings: Settings,
    resources: AnalysisResources | None = None,
) -> None:
    """Turn the track's findings (and scores, when models are present) into a decision."""
    resources = resources or AnalysisResources.from_settings(settings)
    track = _get(session, Track, track_id)
    findings = session.scalars(select(Finding).where(Finding.track_id == track.id)).all()
    decision = resources.policy.decide(findings=[(f.code, f.severity) for f in findings], scores={})
    _assign_changed(
        track, {"decision": decision.action, "decision_reasons": list(decision.reasons)}
    )
    if track.state == TRACK_ANALYZED:
        track.state = TRACK_SCORED


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


def _assign_changed(row: Any, values: dict[str, Any]) -> bool:
    """Set only the attributes that differ, so an unchanged redelivery writes nothing."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    if changed and hasattr(row, "updated_at"):
        row.updated_at = utc_now()
    return changed
