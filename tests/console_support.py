"""Seeding for the console's tests and benchmark: queued tracks with the findings the pipeline
writes (duplicate evidence with a score, spam metadata warnings, info notes), inserted directly
so 10,000 of them take seconds rather than a pipeline run each; and the review queue computed
from scratch (`queue_reference`) to hold the stored queue rows against."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrity.catalog.findings import current_findings
from integrity.db.models import Delivery, Finding, Track, utc_now
from integrity.db.service_models import Appeal, QueuedTrack, Sender, TrackModeration
from integrity.service.audit import aware
from integrity.service.review import (
    APPEAL_OPEN,
    ESCALATION_PRIORITY,
    QUEUED_DECISIONS,
    effective_decision,
    risk_of,
)

SPAM_CODES = ("spam_title_hashtag", "spam_duration_near_30s", "spam_artist_name_keywords")
SEED_PIPELINE_VERSION = "seed"


@dataclass(frozen=True)
class Seeded:
    delivery_id: int
    track_ids: list[int]


def _finding(
    delivery_id: int, track_id: int, code: str, severity: str, message: str, **evidence: object
) -> Finding:
    key = hashlib.sha256(
        f"{delivery_id}/{track_id}/{code}/{secrets.token_hex(8)}".encode()
    ).hexdigest()
    return Finding(
        finding_key=key,
        delivery_id=delivery_id,
        track_id=track_id,
        source="metadata" if code.startswith("spam") else "fingerprint",
        severity=severity,
        code=code,
        message=message,
        evidence=dict(evidence),
    )


def seed_queue(
    session: Session,
    *,
    sender: str,
    count: int,
    kind: str,
    waited_s: float = 0.0,
    score: float = 0.9,
) -> Seeded:
    """`count` tracks from `sender` awaiting review, each with `kind` findings ("duplicate":
    a duplicate finding whose score is `score`, plus an info note; "spam": three spam warnings);
    they have waited `waited_s` seconds."""
    token = secrets.token_hex(6)
    account = session.scalars(select(Sender).where(Sender.name == sender)).first()
    sender_id = account.id if account is not None else None  # uploads of a known sender
    delivery = Delivery(
        sender_id=sender_id,
        message_sha256=hashlib.sha256(token.encode()).hexdigest(),
        source=f"seed:{token}",
        storage_path=f"/nonexistent/{token}",
        message_filename="NewReleaseMessage.xml",
        uploader=sender,
        status="completed",
        pipeline_version=SEED_PIPELINE_VERSION,
    )
    session.add(delivery)
    session.flush()
    since = utc_now() - timedelta(seconds=waited_s)
    tracks = [
        Track(
            track_key=f"seed:{token}:{index}",
            delivery_id=delivery.id,
            sender_id=sender_id,
            isrc=f"QZ{re.sub('[^A-Z0-9]', 'X', token.upper())[:3]}{26:02d}{index:05d}",
            title=f"{kind.title()} seed {index}",
            display_artist=f"{sender} artist",
            state="scored",
            decision="review",
            created_at=since,
            updated_at=since,
        )
        for index in range(count)
    ]
    session.add_all(tracks)
    session.flush()
    findings = []
    for track in tracks:
        if kind == "duplicate":
            findings.append(
                _finding(
                    delivery.id,
                    track.id,
                    "duplicate_audio",
                    "warning",
                    "same recording as another track, played 4.0% faster",
                    score=score,
                    query_offset_s=1.5,
                    ref_offset_s=1.6,
                    time_scale=1.04,
                    matched_s=30.0,
                )
            )
            findings.append(
                _finding(delivery.id, track.id, "spam_duration_near_30s", "info", "lasts 35 s")
            )
        else:
            findings.extend(
                _finding(delivery.id, track.id, code, "warning", f"{code.replace('_', ' ')}")
                for code in SPAM_CODES
            )
    session.add_all(findings)
    session.flush()
    return Seeded(delivery_id=delivery.id, track_ids=[track.id for track in tracks])


def queue_reference(session: Session) -> dict[int, dict[str, Any]]:
    """Every track that should wait for a moderator, computed from scratch: its effective
    decision is review or escalated or it has an open appeal; its risk and reasons are
    `risk_of` over its current findings (track id → what its stored queue row must hold)."""
    expected = {}
    for track in session.scalars(select(Track).order_by(Track.id)):
        moderation = session.get(TrackModeration, track.id)
        decision = effective_decision(track, moderation)
        appeals = session.scalars(
            select(Appeal.created_at).where(
                Appeal.track_id == track.id, Appeal.status == APPEAL_OPEN
            )
        ).all()
        if decision not in QUEUED_DECISIONS and not appeals:
            continue
        findings = session.scalars(current_findings(track)).all()
        risk, reasons = risk_of([(f.code, f.severity, f.evidence) for f in findings])
        urgent = decision == "escalated" or bool(appeals)
        since = min(appeals) if appeals else moderation.decided_at if moderation else None
        expected[track.id] = {
            "decision": decision,
            "risk": risk,
            "reasons": reasons,
            "priority": risk + (ESCALATION_PRIORITY if urgent else 0.0),
            "appeal_open": bool(appeals),
            "waiting_since": aware(since or track.updated_at),
        }
    return expected


def stored_queue(session: Session) -> dict[int, dict[str, Any]]:
    """The stored queue rows, in `queue_reference`'s shape."""
    rows = session.execute(
        select(
            QueuedTrack.track_id,
            QueuedTrack.decision,
            QueuedTrack.risk,
            QueuedTrack.reasons,
            QueuedTrack.priority,
            QueuedTrack.appeal_since,
            QueuedTrack.waiting_since,
        )
    )
    return {
        track_id: {
            "decision": decision,
            "risk": risk,
            "reasons": list(reasons),
            "priority": priority,
            "appeal_open": appeal_since is not None,
            "waiting_since": aware(waiting_since),
        }
        for track_id, decision, risk, reasons, priority, appeal_since, waiting_since in rows
    }
