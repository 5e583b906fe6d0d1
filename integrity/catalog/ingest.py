"""ERN message → catalog rows: releases and tracks upserted by their identity rules, findings
attached to the track or release their location names. Called by `pipeline.ingest_delivery`."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import ddex
from integrity.catalog.context import sender_of
from integrity.catalog.findings import record_findings
from integrity.catalog.states import TrackState
from integrity.db.models import Delivery, Release, ReleaseTrack, Track, utc_now
from integrity.findings import FindingSpec

TRACK_PENDING = TrackState.PENDING


def copy_header(delivery: Delivery, message: ddex.Message) -> None:
    header = message.header
    delivery.ern_version = message.version
    delivery.message_type = message.message_type
    delivery.message_id = header.message_id
    delivery.thread_id = header.thread_id
    delivery.control_type = header.control_type
    delivery.sender_dpid = header.sender.dpid
    delivery.sender_name = header.sender.name
    delivery.message_created_at = header.created


SENDER_KEY_PREFIX = "sender:"
SCAN_KEY_ESCAPE = "dpid:"
MAX_CLAIMS_REPORTED = 20
"""other senders' tracks named in one isrc_claimed_by_other_sender finding."""


def sender_key(delivery: Delivery) -> str:
    """Whose catalog a delivery writes to: the signing sender (``sender:<id>``) for a webhook
    upload; for a folder scan (no credentials, a local operator) the ERN's DPID, as always."""
    if delivery.sender_id is not None:
        return f"{SENDER_KEY_PREFIX}{delivery.sender_id}"
    key = delivery.sender_dpid or delivery.uploader or delivery.sender_name or "unknown-sender"
    # A scanned message cannot pass itself off as a webhook sender's catalog.
    return SCAN_KEY_ESCAPE + key if key.startswith(SENDER_KEY_PREFIX) else key


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


def upsert_releases(
    session: Session, *, delivery: Delivery, message: ddex.Message
) -> dict[str, Release]:
    sender = sender_key(delivery)
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
            "sender_id": delivery.sender_id,
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
            assign_changed(row, values)
        by_reference[release.reference or key] = row
    session.flush()
    return by_reference


def upsert_tracks(
    session: Session, *, delivery: Delivery, message: ddex.Message
) -> dict[str, Track]:
    sender = sender_key(delivery)
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
            "sender_id": delivery.sender_id,
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
        elif assign_changed(row, values):
            row.state = TRACK_PENDING
        by_reference[recording.reference] = row
    session.flush()
    _record_isrc_claims(session, delivery=delivery, message=message, tracks=by_reference)
    return by_reference


def _record_isrc_claims(
    session: Session, *, delivery: Delivery, message: ddex.Message, tracks: dict[str, Track]
) -> None:
    """A track whose ISRC another sender's earlier track holds is a finding for moderators.

    Tracks are per sender, so the other sender's track is never touched; who owns the ISRC is
    a moderator's call, made on this finding (the filter answers for the first claimant)."""
    owner = sender_key(delivery)
    specs = []
    for recording in message.tracks:
        row = tracks.get(recording.reference)
        if row is None or not row.isrc:
            continue
        others = session.scalars(
            select(Track)
            .where(
                Track.isrc == row.isrc,
                Track.id < row.id,
                ~Track.track_key.startswith(owner + "|", autoescape=True),
            )
            .order_by(Track.id)
            .limit(MAX_CLAIMS_REPORTED)
        ).all()
        if not others:
            continue
        specs.append(
            FindingSpec(
                source="catalog",
                severity="warning",
                code="isrc_claimed_by_other_sender",
                message=(
                    f"ISRC {row.isrc} is already claimed by another sender's track; that "
                    "track was left as it was and this one waits for a moderator"
                ),
                location=recording.loc.path or None,
                track_id=row.id,
                evidence={
                    "isrc": row.isrc,
                    "claimed_by_track_ids": [t.id for t in others],
                    "claimed_by_senders": sorted({sender_of(t.track_key) or "" for t in others}),
                    "claimed_by_dpids": sorted({t.sender_dpid for t in others if t.sender_dpid}),
                },
            )
        )
    record_findings(session, delivery_id=delivery.id, specs=specs)


def link_release_tracks(
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
            existing = current.get(track_id)
            if existing is None:
                session.add(ReleaseTrack(release_id=row.id, track_id=track_id, sequence=sequence))
            elif existing.sequence != sequence:
                existing.sequence = sequence


def purge_releases(session: Session, *, delivery: Delivery, message: ddex.Message) -> None:
    """A PurgeReleaseMessage takes the named releases of this sender down."""
    sender = sender_key(delivery)
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


def record_ddex_findings(
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


def assign_changed(row: Any, values: dict[str, Any]) -> bool:
    """Set only the attributes that differ, so an unchanged redelivery writes nothing."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    if changed and hasattr(row, "updated_at"):
        row.updated_at = utc_now()
    return changed
