"""What `integrity scan` (and `GET /v1/deliveries/{id}`) report about a delivery, read from the
database so a rerun prints exactly what the first run stored."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrity.db.models import Analysis, Delivery, Finding, Release, ReleaseTrack, Track

SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


def delivery_report(session: Session, *, delivery_id: int, analysis_version: str) -> dict[str, Any]:
    """One delivery: header facts, releases, and per track its audio facts, decision, findings."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        raise LookupError(f"delivery {delivery_id} does not exist")
    findings = session.scalars(
        select(Finding).where(Finding.delivery_id == delivery_id).order_by(Finding.id)
    ).all()
    tracks = session.scalars(
        select(Track).where(Track.delivery_id == delivery_id).order_by(Track.id)
    ).all()
    track_ids = [t.id for t in tracks]
    links = session.execute(
        select(ReleaseTrack.track_id, ReleaseTrack.sequence, Release.title, Release.id)
        .join(Release, Release.id == ReleaseTrack.release_id)
        .where(ReleaseTrack.track_id.in_(track_ids))
    ).all()
    placement = {row.track_id: (row.title, row.sequence) for row in links}
    analyses = {
        a.asset_sha256: a
        for a in session.scalars(
            select(Analysis).where(
                Analysis.asset_sha256.in_([t.asset_sha256 for t in tracks if t.asset_sha256]),
                Analysis.analysis_version == analysis_version,
            )
        )
    }
    releases = session.scalars(
        select(Release).where(Release.delivery_id == delivery_id).order_by(Release.id)
    ).all()
    by_track: dict[int | None, list[Finding]] = {}
    for finding in findings:
        by_track.setdefault(finding.track_id, []).append(finding)
    return {
        "delivery_id": delivery.id,
        "source": delivery.source,
        "status": delivery.status,
        "error": delivery.error,
        "ern_version": delivery.ern_version,
        "message_type": delivery.message_type,
        "message_id": delivery.message_id,
        "control_type": delivery.control_type,
        "sender": {"dpid": delivery.sender_dpid, "name": delivery.sender_name},
        "releases": [
            {
                "release_id": r.id,
                "title": r.title,
                "display_artist": r.display_artist,
                "type": r.release_type,
                "icpn": r.icpn,
                "grid": r.grid,
                "contains_ai": r.contains_ai,
                "taken_down": r.taken_down,
            }
            for r in releases
        ],
        "tracks": [
            _track_row(
                t, placement.get(t.id), analyses.get(t.asset_sha256 or ""), by_track.get(t.id, [])
            )
            for t in tracks
        ],
        "findings": [_finding_row(f) for f in _sorted(by_track.get(None, []))],
    }


def _track_row(
    track: Track,
    placement: tuple[str | None, int] | None,
    analysis: Analysis | None,
    findings: list[Finding],
) -> dict[str, Any]:
    return {
        "track_id": track.id,
        "release": placement[0] if placement else None,
        "sequence": placement[1] if placement else None,
        "isrc": track.isrc,
        "title": track.title,
        "display_artist": track.display_artist,
        "file": track.file_reference,
        "asset_sha256": track.asset_sha256,
        "contains_ai": track.contains_ai,
        "declared_duration_s": track.declared_duration_s,
        "duration_s": analysis.duration_s if analysis else None,
        "loudness_lufs": analysis.loudness_lufs if analysis else None,
        "peak_dbfs": analysis.peak_dbfs if analysis else None,
        "silence_ratio": analysis.silence_ratio if analysis else None,
        "leading_silence_s": analysis.leading_silence_s if analysis else None,
        "trailing_silence_s": analysis.trailing_silence_s if analysis else None,
        "state": track.state,
        "decision": track.decision,
        "reasons": list(track.decision_reasons),
        "scores": dict(track.scores),
        "model_versions": dict(track.model_versions),
        "findings": [_finding_row(f) for f in _sorted(findings)],
    }


def _sorted(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (SEVERITY_RANK.get(f.severity, 3), f.code, f.id))


def _finding_row(finding: Finding) -> dict[str, Any]:
    return {
        "severity": finding.severity,
        "code": finding.code,
        "source": finding.source,
        "location": finding.location,
        "message": finding.message,
        "evidence": finding.evidence,
    }
