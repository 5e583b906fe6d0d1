"""The console's own reads and writes: sign-in sessions, the evidence a track page shows, where a
track's audio is, and its cached spectrogram. Decisions go through `integrity.service`.

Functions take a session and never commit (the request owns the transaction).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from integrity.audio import AudioDecodeError, DecodedAudio, decode_file
from integrity.catalog.assets import stored_features
from integrity.catalog.pipeline import decode_limits
from integrity.catalog.storage import store_for
from integrity.config import Settings
from integrity.console.artifact_plot import COMB_DRAWN_MAX, artifact_image, artifact_residual
from integrity.console.spectrogram import SPECTROGRAM_RATE_HZ, png_bytes, spectrogram_image
from integrity.db.models import Analysis, Delivery, Finding, Release, ReleaseTrack, Track, utc_now
from integrity.db.service_models import ApiKey, Appeal, ConsoleSession, Sender, TrackModeration
from integrity.detection.reasons import REAL_QUANTILES
from integrity.detection.registry import ModelNotFoundError, load_model
from integrity.features import constants as feature_constants
from integrity.features.artifacts import BIN_HZ
from integrity.service import audit, moderation, review
from integrity.service.errors import ServiceError

logger = logging.getLogger(__name__)

SESSION_TOKEN_BYTES = 32
EXPIRED_SESSION_KEPT_S = 7 * 24 * 3600  # expired or signed-out rows kept this long, then swept
CSRF_TOKEN_BYTES = 32
SPECTROGRAM_FOLDER = "console-spectrograms"  # under the data dir, one PNG per asset SHA-256
ARTIFACT_FOLDER = "console-artifacts"  # likewise the residual-spectrum plots
ARTIFACT_MODEL = "synthetic"  # the detector whose artifact features the plot shows
COMB_DRAWN_ABOVE_REAL = 0.99  # the comb is drawn when its prominence beats this share of the
# held-out real recordings the model recorded quantiles from (one of REAL_QUANTILES)
AUDIO_MEDIA_TYPES = {
    ".mp3": "audio/mpeg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".m4a": "audio/mp4",
    ".mp4": "audio/mp4",
    ".aac": "audio/aac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
}
PERCENT = 100.0


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewSession:
    token: str  # goes into the cookie, never stored
    csrf_token: str
    expires_at: datetime


def create_session(session: Session, *, api_key_id: int, ttl_s: int) -> NewSession:
    """A fresh console session for a key that may review (the caller checked the role)."""
    token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
    csrf = secrets.token_urlsafe(CSRF_TOKEN_BYTES)
    now = utc_now()
    expires_at = now + timedelta(seconds=ttl_s)
    # Sessions long past their expiry are of no use to anyone: each sign-in sweeps them.
    session.execute(
        delete(ConsoleSession).where(
            ConsoleSession.expires_at < now - timedelta(seconds=EXPIRED_SESSION_KEPT_S)
        )
    )
    session.add(
        ConsoleSession(
            token_hash=_token_hash(token),
            api_key_id=api_key_id,
            csrf_token=csrf,
            expires_at=expires_at,
        )
    )
    session.flush()
    return NewSession(token=token, csrf_token=csrf, expires_at=expires_at)


def live_session(session: Session, *, token: str) -> tuple[ConsoleSession, ApiKey] | None:
    """The session a cookie names while it is unexpired, not signed out, and its key live."""
    if not token:
        return None
    row = session.get(ConsoleSession, _token_hash(token))
    if row is None or row.revoked_at is not None or audit.aware(row.expires_at) <= utc_now():
        return None
    key = session.get(ApiKey, row.api_key_id)
    if key is None or key.revoked_at is not None:
        return None
    return row, key


def end_session(session: Session, *, token: str) -> bool:
    """Sign out: the session is revoked in the database (a copied cookie stops working)."""
    row = session.get(ConsoleSession, _token_hash(token))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utc_now()
    return True


def score_meaning(name: str, version: str | None, score: float, *, models_dir: Path) -> str:
    """What a calibrated score means at the model's operating points, in words."""
    try:
        model = load_model(name, version, root=models_dir)
    except (ModelNotFoundError, OSError, KeyError, ValueError) as exc:
        return f"operating points unavailable ({exc})"
    points = model.operating_points
    rests_on = (
        f"{points.negatives} held-out real clips" if points.negatives else "held-out real clips"
    )
    if score >= points.block:
        where = f"at or above the block threshold {points.block:.2f}"
    elif score >= points.filter:
        where = (
            f"at or above the filter threshold {points.filter:.2f}: "
            f"{points.filter_fpr * PERCENT:.1f} % of {rests_on} score this high"
        )
    elif score >= points.review:
        where = (
            f"at or above the review threshold {points.review:.2f}: "
            f"{points.review_fpr * PERCENT:.1f} % of {rests_on} score this high"
        )
    else:
        where = (
            f"below the review threshold {points.review:.2f} "
            f"(more than {points.review_fpr * PERCENT:.1f} % of {rests_on} score this high)"
        )
    return where


def track_evidence(session: Session, *, track_id: int, models_dir: Path) -> dict[str, Any]:
    """Everything the track page shows, from `review.track_detail` plus metadata, release,
    sender, scores with their meaning, appeals and the duplicate references."""
    detail = review.track_detail(session, track_id=track_id)
    track = session.get(Track, track_id)
    assert track is not None  # track_detail raised 404 otherwise
    delivery = session.get(Delivery, track.delivery_id)
    releases = list(
        session.scalars(
            select(Release)
            .join(ReleaseTrack, ReleaseTrack.release_id == Release.id)
            .where(ReleaseTrack.track_id == track_id)
        )
    )
    analysis = latest_analysis(session, track)
    scores = [
        {
            "name": name,
            "score": float(value),
            "version": str((track.model_versions or {}).get(name, "?")),
            "meaning": score_meaning(
                name, (track.model_versions or {}).get(name), float(value), models_dir=models_dir
            ),
        }
        for name, value in sorted((track.scores or {}).items())
        if isinstance(value, int | float)
    ]
    appeals = [
        {
            "id": appeal.id,
            "reason": appeal.reason,
            "note": appeal.note,
            "status": appeal.status,
            "created_at": audit.aware(appeal.created_at),
            "resolved_by": appeal.resolved_by,
            "sender": sender.name if (sender := session.get(Sender, appeal.sender_id)) else None,
        }
        for appeal in session.scalars(
            select(Appeal).where(Appeal.track_id == track_id).order_by(Appeal.id.desc())
        )
    ]
    duplicates = []
    for finding in session.scalars(
        select(Finding).where(Finding.track_id == track_id).order_by(Finding.id)
    ):
        evidence = finding.evidence or {}
        ref_id = evidence.get("track_id")
        if not finding.code.startswith("duplicate") or not isinstance(ref_id, int):
            continue
        reference = session.get(Track, ref_id)
        duplicates.append(
            {
                "code": finding.code,
                "message": finding.message,
                "reference_id": ref_id,
                "reference_title": reference.title if reference else evidence.get("title"),
                "reference_artist": reference.display_artist
                if reference
                else evidence.get("display_artist"),
                "reference_isrc": evidence.get("isrc"),
                "reference_duration_s": duration_of(session, reference),
                "query_offset_s": float(evidence.get("query_offset_s", 0.0)),
                "ref_offset_s": float(evidence.get("ref_offset_s", 0.0)),
                "matched_s": float(evidence.get("matched_s", 0.0)),
                "time_scale": float(evidence.get("time_scale", 1.0)),
                "pitch_semitones": float(evidence.get("pitch_semitones", 0.0)),
                "false_match_rate": evidence.get("false_match_rate"),
            }
        )
    latest = moderation.last_state_event(session, track_id=track_id)
    return {
        **detail,
        "sender": (delivery.uploader or delivery.sender_name) if delivery else None,
        "message_id": delivery.message_id if delivery else None,
        "track": track,
        "releases": releases,
        "duration_s": analysis.duration_s if analysis else None,
        "loudness_lufs": analysis.loudness_lufs if analysis else None,
        "scores": scores,
        "appeals": appeals,
        "duplicate_views": duplicates,
        "artifacts": artifact_evidence(track=track, analysis=analysis, models_dir=models_dir),
        "seen_event_id": latest.id if latest else 0,
        "moderation_row": session.get(TrackModeration, track_id),
    }


def latest_analysis(session: Session, track: Track) -> Analysis | None:
    """The newest analysis of the track's audio asset (None before analysis)."""
    if track.asset_sha256 is None:
        return None
    return session.scalars(
        select(Analysis)
        .where(Analysis.asset_sha256 == track.asset_sha256)
        .order_by(Analysis.id.desc())
        .limit(1)
    ).first()


def duration_of(session: Session, track: Track | None) -> float | None:
    """The measured duration of a track's audio (None before analysis)."""
    if track is None or track.asset_sha256 is None:
        return None
    return session.scalar(
        select(Analysis.duration_s)
        .where(Analysis.asset_sha256 == track.asset_sha256, Analysis.duration_s.is_not(None))
        .order_by(Analysis.id.desc())
        .limit(1)
    )


def audio_file(session: Session, *, track_id: int, settings: Settings) -> tuple[Path, str]:
    """The track's audio file inside its delivery folder and its media type (404 otherwise)."""
    track = session.get(Track, track_id)
    if track is None:
        raise ServiceError(404, "track_id", f"track {track_id} does not exist")
    delivery = session.get(Delivery, track.delivery_id)
    if delivery is None or not track.file_reference:
        raise ServiceError(404, "track_id", f"track {track_id} has no audio file")
    folder = store_for(settings).materialise(delivery).resolve()
    path = (folder / track.file_reference).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        raise ServiceError(404, "track_id", f"track {track_id}: audio file is not in its delivery")
    media_type = AUDIO_MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return path, media_type


def _decoded(
    session: Session, *, track_id: int, settings: Settings, rate: int | None
) -> DecodedAudio:
    source, _ = audio_file(session, track_id=track_id, settings=settings)
    try:
        return decode_file(source, sample_rate=rate, limits=decode_limits(settings))
    except AudioDecodeError as exc:
        raise ServiceError(
            422, "track_id", f"track {track_id}: audio not decodable ({exc})"
        ) from exc


def _write_whole(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(temporary, target)


def _cached_png(target: Path, render: Callable[[], bytes]) -> Path:
    """`target` as it is, else rendered once and written whole (concurrent renders race
    harmlessly: each writes a complete file and the last rename wins)."""
    if target.is_file():
        return target
    _write_whole(target, render())
    return target


def _analysed(session: Session, track_id: int) -> Track:
    track = session.get(Track, track_id)
    if track is None or track.asset_sha256 is None:
        raise ServiceError(404, "track_id", f"track {track_id} has no analysed audio")
    return track


def spectrogram_file(session: Session, *, track_id: int, settings: Settings) -> Path:
    """The track's spectrogram PNG, rendered once per audio asset and cached on disk."""
    track = _analysed(session, track_id)

    def render() -> bytes:
        audio = _decoded(session, track_id=track_id, settings=settings, rate=SPECTROGRAM_RATE_HZ)
        return png_bytes(spectrogram_image(audio.samples))

    return _cached_png(settings.data_dir / SPECTROGRAM_FOLDER / f"{track.asset_sha256}.png", render)


def artifact_evidence(
    *, track: Track, analysis: Analysis | None, models_dir: Path
) -> dict[str, Any] | None:
    """What the page says beside the residual plot, from the features the analysis stored:
    None when the track has no synthetic score or the detector read no artifacts (too short,
    or band-limited below the band it analyses)."""
    if analysis is None or ARTIFACT_MODEL not in (track.scores or {}):
        return None
    vector = stored_features(analysis)
    if vector is None:
        return None
    period_hz, prominence = vector["art.comb_period_hz"], vector["art.comb_prominence"]
    if not (math.isfinite(period_hz) and math.isfinite(prominence)):
        return None
    band_top_hz = min(
        feature_constants.ARTIFACT_MAX_HZ,
        float(vector["bw.cutoff_hz"]) - feature_constants.CUTOFF_GUARD_HZ,
    )
    view: dict[str, Any] = {
        "comb_period_hz": float(period_hz),
        "comb_spacing": f"{period_hz / 1000:.3f} kHz"
        if period_hz >= 1000
        else f"{period_hz:.0f} Hz",
        "comb_prominence": float(prominence),
        "band_low_hz": feature_constants.ARTIFACT_MIN_HZ,
        "bin_hz": BIN_HZ,
        "band_top_hz": band_top_hz,
        "comb_too_fine": (band_top_hz - feature_constants.ARTIFACT_MIN_HZ) / float(period_hz)
        > COMB_DRAWN_MAX,
        "real_n": 0,
        "real_median": None,
        "real_upper": None,
        "draw_comb": False,
    }
    try:
        model = load_model(
            ARTIFACT_MODEL, (track.model_versions or {}).get(ARTIFACT_MODEL), root=models_dir
        )
    except (ModelNotFoundError, OSError, KeyError, ValueError):
        return view  # no recorded quantiles: the comb is not drawn, the numbers still shown
    quantiles = model.meta.get("real_quantiles", {}).get("art.comb_prominence") or ()
    if len(quantiles) == len(REAL_QUANTILES):
        upper = float(quantiles[REAL_QUANTILES.index(COMB_DRAWN_ABOVE_REAL)])
        view.update(
            real_n=int(model.meta.get("real_quantiles_n", 0)),
            real_median=float(quantiles[REAL_QUANTILES.index(0.5)]),
            real_upper=upper,
            draw_comb=float(prominence) > upper and not view["comb_too_fine"],
        )
    return view


def artifact_file(session: Session, *, track_id: int, settings: Settings) -> Path:
    """The track's residual-spectrum PNG (the decoder-artifact evidence), rendered once per
    audio asset (and per whether the comb is drawn) and cached on disk; the peaks it marks
    are written beside it first (`.json`), so a cached PNG always has them."""
    track = _analysed(session, track_id)
    analysis = latest_analysis(session, track)
    view = artifact_evidence(track=track, analysis=analysis, models_dir=settings.models_dir)
    if view is None:
        raise ServiceError(404, "track_id", f"track {track_id} has no decoder-artifact reading")
    name = f"{track.asset_sha256}{'-comb' if view['draw_comb'] else ''}.png"

    def render() -> bytes:
        audio = _decoded(session, track_id=track_id, settings=settings, rate=None)
        found = artifact_residual(audio.samples, audio.sample_rate)
        if found is None:
            raise ServiceError(422, "track_id", f"track {track_id}: no decoder-artifact reading")
        marked = {"peaks_hz": list(found.peaks_hz), "peaks_db": list(found.peaks_db)}
        _write_whole(target.with_suffix(".json"), json.dumps(marked).encode())
        return png_bytes(artifact_image(found, draw_comb=view["draw_comb"]))

    target = settings.data_dir / ARTIFACT_FOLDER / name
    if target.is_file() and not target.with_suffix(".json").is_file():
        target.unlink(missing_ok=True)  # rendered before the peaks were kept: render again
    return _cached_png(target, render)


def artifact_peaks(session: Session, *, track_id: int, settings: Settings) -> dict[str, Any]:
    """The peaks the residual plot marks, in words' units (kHz, dB), for the page's text."""
    marked = json.loads(
        artifact_file(session, track_id=track_id, settings=settings)
        .with_suffix(".json")
        .read_text()
    )
    return {
        "peaks_khz": [hz / 1000.0 for hz in marked["peaks_hz"]],
        "peaks_db": marked["peaks_db"],
        "min_prominence_db": feature_constants.NARROW_PEAK_MIN_DB,
    }
