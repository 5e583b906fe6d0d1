"""What `integrity scan` (and `GET /v1/deliveries/{id}`) report about a delivery, read from the
database so a rerun prints exactly what the first run stored.

The pydantic models below are the one delivery shape: the scan report dumps them (the README's
`scan --json` contract) and the API's delivery status extends the same header and track state
(`integrity/api/schemas.py`), so the two can never drift apart.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from integrity.catalog.states import DeliveryState, TrackState
from integrity.db.models import Analysis, Delivery, Finding, Release, ReleaseTrack, Track

SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


class SenderRef(BaseModel):
    """The MessageSender the ERN names."""

    dpid: str | None
    name: str | None


class DeliveryHeader(BaseModel):
    """What every view of a delivery starts with: its identity, status and ERN header."""

    delivery_id: int
    source: str | None
    status: DeliveryState
    error: str | None = Field(description="why the delivery failed, when it did")
    ern_version: str | None
    message_type: str | None
    message_id: str | None
    control_type: str | None
    sender: SenderRef


class TrackVerdict(BaseModel):
    """One track's place in the pipeline and its decision, with the reason codes."""

    track_id: int
    isrc: str | None
    state: TrackState
    decision: str | None = Field(description="clear | review | escalated | filter | block")
    reasons: list[str]


class FindingReport(BaseModel):
    """One finding: what is wrong, where, and the evidence."""

    severity: str
    code: str
    source: str
    location: str | None
    message: str
    evidence: dict[str, Any]


class ReleaseReport(BaseModel):
    """One release of the delivery."""

    release_id: int
    title: str | None
    display_artist: str | None
    type: str | None
    icpn: str | None
    grid: str | None
    contains_ai: str | None
    taken_down: bool


class TrackReport(TrackVerdict):
    """A track in full: placement, metadata, measured audio facts, scores and findings."""

    release: str | None
    sequence: int | None
    title: str | None
    display_artist: str | None
    file: str | None
    asset_sha256: str | None
    contains_ai: str | None
    declared_duration_s: float | None
    duration_s: float | None
    loudness_lufs: float | None
    peak_dbfs: float | None
    silence_ratio: float | None
    leading_silence_s: float | None
    trailing_silence_s: float | None
    scores: dict[str, float | None] = Field(description="calibrated probabilities: synthetic, spam")
    model_versions: dict[str, str]
    findings: list[FindingReport]


class DeliveryReport(DeliveryHeader):
    """`integrity scan --json`: one delivery with its releases, tracks and findings."""

    model_config = ConfigDict(title="DeliveryReport")

    releases: list[ReleaseReport]
    tracks: list[TrackReport]
    findings: list[FindingReport] = Field(
        description="about the delivery or a release rather than one track"
    )


def delivery_header(delivery: Delivery) -> DeliveryHeader:
    """The header both the scan report and the API's delivery status begin with."""
    return DeliveryHeader(
        delivery_id=delivery.id,
        source=delivery.source,
        status=DeliveryState(delivery.status),
        error=delivery.error,
        ern_version=delivery.ern_version,
        message_type=delivery.message_type,
        message_id=delivery.message_id,
        control_type=delivery.control_type,
        sender=SenderRef(dpid=delivery.sender_dpid, name=delivery.sender_name),
    )


def delivery_report(session: Session, *, delivery_id: int, analysis_version: str) -> dict[str, Any]:
    """One delivery as the JSON of `DeliveryReport` (what `scan --json` prints)."""
    return build_delivery_report(
        session, delivery_id=delivery_id, analysis_version=analysis_version
    ).model_dump(mode="json")


def build_delivery_report(
    session: Session, *, delivery_id: int, analysis_version: str
) -> DeliveryReport:
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
    return DeliveryReport(
        **dict(delivery_header(delivery)),
        releases=[
            ReleaseReport(
                release_id=r.id,
                title=r.title,
                display_artist=r.display_artist,
                type=r.release_type,
                icpn=r.icpn,
                grid=r.grid,
                contains_ai=r.contains_ai,
                taken_down=r.taken_down,
            )
            for r in releases
        ],
        tracks=[
            _track_row(
                t, placement.get(t.id), analyses.get(t.asset_sha256 or ""), by_track.get(t.id, [])
            )
            for t in tracks
        ],
        findings=[_finding_row(f) for f in _sorted(by_track.get(None, []))],
    )


def _track_row(
    track: Track,
    placement: tuple[str | None, int] | None,
    analysis: Analysis | None,
    findings: list[Finding],
) -> TrackReport:
    return TrackReport(
        track_id=track.id,
        release=placement[0] if placement else None,
        sequence=placement[1] if placement else None,
        isrc=track.isrc,
        title=track.title,
        display_artist=track.display_artist,
        file=track.file_reference,
        asset_sha256=track.asset_sha256,
        contains_ai=track.contains_ai,
        declared_duration_s=track.declared_duration_s,
        duration_s=analysis.duration_s if analysis else None,
        loudness_lufs=analysis.loudness_lufs if analysis else None,
        peak_dbfs=analysis.peak_dbfs if analysis else None,
        silence_ratio=analysis.silence_ratio if analysis else None,
        leading_silence_s=analysis.leading_silence_s if analysis else None,
        trailing_silence_s=analysis.trailing_silence_s if analysis else None,
        state=TrackState(track.state),
        decision=track.decision,
        reasons=[str(reason) for reason in track.decision_reasons],
        scores=dict(track.scores),
        model_versions={str(k): str(v) for k, v in track.model_versions.items()},
        findings=[_finding_row(f) for f in _sorted(findings)],
    )


def _sorted(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (SEVERITY_RANK.get(f.severity, 3), f.code, f.id))


def _finding_row(finding: Finding) -> FindingReport:
    return FindingReport(
        severity=finding.severity,
        code=finding.code,
        source=finding.source,
        location=finding.location,
        message=finding.message,
        evidence=dict(finding.evidence or {}),
    )
