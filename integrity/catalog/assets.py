"""One audio asset: find it inside its delivery, verify its hash, decode it once (sandboxed),
measure it, and turn what was learnt into findings. Called by `pipeline.analyze_track`."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np

from integrity.audio import AudioDecodeError, DecodeLimits
from integrity.catalog import storage
from integrity.catalog.context import sender_of
from integrity.catalog.states import AnalysisState
from integrity.db.models import Analysis, AudioAsset, Track
from integrity.features import (
    FEATURE_NAMES,
    FEATURE_SCHEMA_VERSION,
    FeatureVector,
)
from integrity.findings import FindingSpec
from integrity.fingerprint import (
    FINGERPRINT_VERSION,
    FingerprintIndex,
    duplicate_evidence,
)

PENDING = AnalysisState.PENDING
ANALYSIS_VERSION = f"audio-1+fp{FINGERPRINT_VERSION}+feat{FEATURE_SCHEMA_VERSION}"
"""What `analyse_asset` stores; a new value re-analyses every asset on its next pass."""

HASH_READ_CHUNK_BYTES = 1024 * 1024
DURATION_TOLERANCE_S = 2.0
"""Declared vs decoded duration may differ by this much (codec padding, rounding)..."""
DURATION_TOLERANCE_RATIO = 0.02
"""...or by this fraction of the declared duration, whichever is larger."""
MOSTLY_SILENT_RATIO = 0.9
"""Fraction of silent frames above which a file is reported as (nearly) silent."""
DUPLICATES_KEPT = 10
"""Earlier copies recorded per asset (a moderator needs the evidence, not every copy)."""
DUPLICATE_FINDINGS_KEPT = 10
"""Duplicate findings per track (count): the strongest copies; the rest are only counted in
each finding's evidence (`copies_not_listed`)."""
SPEED_REPORT_MIN_RATIO = 0.005
"""Time-scale changes below 0.5 % are measurement noise, not an edit worth naming."""
PITCH_REPORT_MIN_SEMITONES = 0.2
"""Pitch changes below a fifth of a semitone are measurement noise, not an edit worth naming."""
# DDEX hash algorithm names (AVS HashSumAlgorithmType and common spellings) → hashlib names.
HASH_ALGORITHMS = {
    "md5": "md5",
    "sha1": "sha1",
    "sha224": "sha224",
    "sha256": "sha256",
    "sha384": "sha384",
    "sha512": "sha512",
}


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


def digest_file(path: Path, algorithms: set[str]) -> dict[str, str]:
    """One read of the file for the asset id (SHA-256) and the declared hash algorithm."""
    hashers = {name: hashlib.new(name) for name in algorithms | {"sha256"}}
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_READ_CHUNK_BYTES):
            for hasher in hashers.values():
                hasher.update(chunk)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


@dataclass(frozen=True)
class AssetTools:
    """What analysing an asset needs besides the file: decode caps and the fingerprint index."""

    decode_limits: DecodeLimits
    index: FingerprintIndex


def needs_analysis(analysis: Analysis, *, index: FingerprintIndex) -> bool:
    """True when the asset was never analysed by this version, or its fingerprint is missing
    from the index (e.g. a crash between the database commit and the index flush)."""
    if analysis.status == PENDING:
        return True
    return analysis.status == AnalysisState.OK and analysis.asset_sha256 not in index


def analyse_asset(
    path: Path,
    *,
    asset: AudioAsset,
    analysis: Analysis,
    tools: AssetTools,
    meta: dict[str, Any],
) -> None:
    """Analyse once (sandboxed: decode, measure, fingerprint, features), look for earlier
    copies, then index.

    Fills `analysis` in place; a file that cannot be decoded becomes a failed analysis with the
    decoder's reason, never an exception.
    """
    analysis.analysis_version = ANALYSIS_VERSION
    try:
        # Decode, measure, fingerprint and features, all inside the sandbox child's caps.
        from integrity.analysis import analyse_file  # scipy.signal & co.: only analysis needs them

        result = analyse_file(path, limits=tools.decode_limits)
    except AudioDecodeError as exc:
        error = storage.redact_locations(str(exc), path.parent)  # shown in findings
        analysis.status, analysis.error = AnalysisState.FAILED, error
        return
    asset.container = result.probe.container
    asset.codec = result.probe.codec
    asset.sample_rate = result.probe.sample_rate
    asset.channels = result.probe.channels
    measured = result.measurements
    analysis.status, analysis.error = AnalysisState.OK, None
    analysis.duration_s = measured.duration_s
    analysis.loudness_lufs = _finite_or_none(measured.integrated_lufs)
    analysis.peak_dbfs = _finite_or_none(measured.sample_peak_dbfs)
    analysis.leading_silence_s = measured.leading_silence_s
    analysis.trailing_silence_s = measured.trailing_silence_s
    analysis.silence_ratio = measured.silence_ratio
    analysis.clipping_ratio = measured.clipping_ratio

    fingerprint = result.fingerprint
    # The new upload is the query: earlier tracks that contain (a distorted copy of) any long
    # enough part of it are reported, which covers edited whole tracks and cut-down excerpts.
    matches = [
        m
        for m in tools.index.query(fingerprint, limit=DUPLICATES_KEPT)
        if m.track_id != asset.sha256
    ]
    tools.index.add(asset.sha256, fingerprint, meta=meta)
    vector = result.features
    analysis.details = {
        **(analysis.details or {}),
        "fingerprint_version": FINGERPRINT_VERSION,
        "fingerprint_hashes": int(fingerprint.hashes.shape[0]),
        "duplicates": duplicate_evidence(matches),
        # Stored so a rescan with a new model re-scores without decoding the audio again.
        "features": {
            "schema_version": vector.schema_version,
            "values": [float(v) if math.isfinite(v) else None for v in vector.values],
        },
    }


def stored_features(analysis: Analysis) -> FeatureVector | None:
    """The feature vector an analysis stored, if it was computed under the current schema."""
    stored = (analysis.details or {}).get("features")
    if not stored or stored.get("schema_version") != FEATURE_SCHEMA_VERSION:
        return None
    values = np.array([math.nan if v is None else v for v in stored["values"]], dtype=np.float32)
    if values.shape[0] != len(FEATURE_NAMES):
        return None
    return FeatureVector(FEATURE_NAMES, values, FEATURE_SCHEMA_VERSION)


def _finite_or_none(value: float | None) -> float | None:
    """-inf loudness (digital silence) is stored as NULL: JSON and SQL have no infinity."""
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return float(value)


def audio_finding(
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


def hash_findings(
    track: Track, digests: dict[str, str], algorithm: str | None
) -> list[FindingSpec]:
    if not track.declared_hash_value:
        return [
            audio_finding(
                track,
                "info",
                "audio_hash_not_declared",
                "the message declares no hash sum for this file",
            )
        ]
    if algorithm is None:
        return [
            audio_finding(
                track,
                "warning",
                "audio_hash_algorithm_unsupported",
                f"hash algorithm {track.declared_hash_algorithm!r} is not supported",
            )
        ]
    actual = digests[algorithm]
    if actual.lower() != track.declared_hash_value.strip().lower():
        return [
            audio_finding(
                track,
                "error",
                "audio_hash_mismatch",
                f"{algorithm} of the delivered file does not match the declared hash sum",
                {"declared": track.declared_hash_value, "actual": actual, "algorithm": algorithm},
            )
        ]
    return []


def measurement_findings(track: Track, analysis: Analysis) -> list[FindingSpec]:
    if analysis.status != AnalysisState.OK:
        return [audio_finding(track, "error", "audio_decode_failed", analysis.error or "")]
    specs = []
    declared, actual = track.declared_duration_s, analysis.duration_s
    if declared is not None and actual is not None:
        tolerance = max(DURATION_TOLERANCE_S, DURATION_TOLERANCE_RATIO * declared)
        if abs(declared - actual) > tolerance:
            specs.append(
                audio_finding(
                    track,
                    "warning",
                    "duration_mismatch",
                    f"declared {declared:.1f} s but the audio lasts {actual:.1f} s",
                    {"declared_s": declared, "actual_s": actual, "tolerance_s": tolerance},
                )
            )
    if analysis.silence_ratio is not None and analysis.silence_ratio >= MOSTLY_SILENT_RATIO:
        specs.append(
            audio_finding(
                track,
                "warning",
                "audio_mostly_silent",
                f"{analysis.silence_ratio:.0%} of the audio is silence",
                {"silence_ratio": analysis.silence_ratio},
            )
        )
    return specs


@dataclass(frozen=True)
class CatalogCopy:
    """Another track in the catalog whose audio is (a copy of) this track's."""

    track: Track
    evidence: dict[str, Any]


def _strength(copy: CatalogCopy) -> tuple[int, float, float]:
    """Sort key, strongest first: the very same file, then the best-scored, longest match."""
    evidence = copy.evidence
    identical = 1 if evidence.get("identical_file") else 0
    return (-identical, -float(evidence.get("score", 0.0)), -float(evidence.get("matched_s", 0)))


def duplicate_findings(
    track: Track, copies: list[CatalogCopy], *, more: int = 0
) -> list[FindingSpec]:
    """Findings for earlier tracks with the same audio under other metadata: the strongest
    DUPLICATE_FINDINGS_KEPT, each naming how many further copies were not listed (`more`
    counts copies the caller did not even load).

    The same ISRC from the same sender is a redelivery, not a re-upload, and is not reported.
    """
    others = [
        copy
        for copy in copies
        if not (
            copy.track.isrc == track.isrc
            and sender_of(copy.track.track_key) == sender_of(track.track_key)
        )
    ]
    others.sort(key=_strength)
    listed = others[:DUPLICATE_FINDINGS_KEPT]
    not_listed = more + len(others) - len(listed)
    specs = []
    for copy in listed:
        other = copy.track
        evidence = {
            "track_id": other.id,
            "isrc": other.isrc,
            "title": other.title,
            "display_artist": other.display_artist,
            "sender_dpid": other.sender_dpid,
            **copy.evidence,
            "copies_not_listed": not_listed,
        }
        identical = copy.evidence.get("identical_file", False)
        code = "duplicate_audio_identical" if identical else "duplicate_audio"
        specs.append(
            FindingSpec(
                source="fingerprint",
                severity="warning",
                code=code,
                message=_duplicate_message(other, copy.evidence),
                location=track.file_reference,
                track_id=track.id,
                evidence=evidence,
            )
        )
    return specs


def _duplicate_message(other: Track, evidence: dict[str, Any]) -> str:
    who = f'track {other.id} "{other.title}" by {other.display_artist or "unknown artist"}'
    who += f" (ISRC {other.isrc or 'none'})"
    if evidence.get("identical_file"):
        return f"the same audio file was delivered as {who}"
    changes = []
    scale = evidence.get("time_scale", 1.0)
    if abs(scale - 1.0) >= SPEED_REPORT_MIN_RATIO:
        changes.append(f"played {abs(scale - 1.0):.1%} {'faster' if scale > 1 else 'slower'}")
    pitch = evidence.get("pitch_semitones", 0.0)
    if abs(pitch) >= PITCH_REPORT_MIN_SEMITONES:
        changes.append(f"pitch {pitch:+.1f} semitones")
    how = f", {', '.join(changes)}" if changes else ""
    return (
        f"same recording as {who}{how}; {evidence.get('matched_s', 0):.0f} s aligned, "
        f"false-match rate {evidence.get('false_match_rate', 0):.1e}"
    )
