"""The review queue pages in the database: one statement, at most a page of rows, and the risk
and order the per-track formula (`risk_of`) gives, from current findings only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from integrity.db.models import Delivery, Finding, Track, utc_now
from integrity.db.service_models import Appeal, ReviewClaim, Sender, TrackModeration
from integrity.db.session import session_scope
from integrity.service.review import ESCALATION_PRIORITY, review_queue, risk_of

QUEUED = 60
"""Tracks waiting for review in the test catalog (count)."""
PAGE = 7


def _delivery(session: Session, n: int) -> Delivery:
    delivery = Delivery(
        message_sha256=f"{n:064x}",
        source="test",
        storage_path="/nonexistent",
        message_filename="m.xml",
        status="completed",
        pipeline_version="test",
        uploader="label",
    )
    session.add(delivery)
    session.flush()
    return delivery


def _finding(track: Track, delivery: Delivery, n: int, **values: Any) -> Finding:
    return Finding(
        finding_key=f"{track.id:032x}{n:032x}",
        delivery_id=delivery.id,
        track_id=track.id,
        source="test",
        message=f"finding {n}",
        **values,
    )


def _catalog(factory: sessionmaker[Session]) -> dict[int, list[tuple[str, str, Any]]]:
    """Queued tracks with mixed findings; returns each track's current (code, severity, ev)."""
    expected: dict[int, list[tuple[str, str, Any]]] = {}
    with session_scope(factory) as session:
        sender = Sender(name="label")
        session.add(sender)
        old, new = _delivery(session, 1), _delivery(session, 2)
        for i in range(QUEUED + 5):
            decision = "review" if i < QUEUED else "clear"
            track = Track(track_key=f"t{i}", delivery_id=new.id, state="scored", decision=decision)
            track.isrc = f"QZTST26{i:05d}"
            track.title = f"Track {i}"
            session.add(track)
            session.flush()
            current = [
                ("audio_mostly_silent", "warning", {}),
                ("duplicate_audio", "warning", {"score": round(0.5 + (i % 10) / 20, 3)}),
                ("audio_hash_not_declared", "info", {}),
            ][: 1 + i % 3]
            if i % 7 == 0:
                current.append(("audio_hash_mismatch", "error", {"score": "not a number"}))
            for n, (code, severity, evidence) in enumerate(current):
                values = {"code": code, "severity": severity, "evidence": evidence}
                session.add(_finding(track, new, n, **values))
            # A finding of an earlier delivery of the track: superseded, never counted.
            session.add(
                _finding(track, old, 99, code="audio_decode_failed", severity="error", evidence={})
            )
            expected[track.id] = current
            if i == 5:
                session.add(
                    TrackModeration(
                        track_id=track.id, decision="escalated", action="escalate",
                        reason="second opinion", actor="mod",
                    )
                )
            if i == 9:
                session.flush()
                session.add(Appeal(track_id=track.id, sender_id=sender.id, reason="mine",
                                   status="open"))
            if i == 11:
                session.add(ReviewClaim(track_id=track.id, moderator="mod",
                                        expires_at=utc_now() + timedelta(hours=1)))
    return expected


def _statements(factory: sessionmaker[Session]) -> tuple[list[str], Any]:
    seen: list[str] = []
    engine = factory.kw["bind"]

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    return seen, lambda: event.remove(engine, "before_cursor_execute", count)


def test_the_queue_is_one_statement_of_one_page(factory: sessionmaker[Session]) -> None:
    expected = _catalog(factory)
    with session_scope(factory) as session:
        queued = {i for i in expected if session.get(Track, i).decision == "review"}
        escalated = {
            m.track_id for m in session.query(TrackModeration).all()
        } | {a.track_id for a in session.query(Appeal).all()}
    # The reference: risk_of over each queued track's current findings, sorted as before.
    reference = []
    for track_id in queued | escalated:
        risk, reasons = risk_of(expected[track_id])
        priority = risk + (ESCALATION_PRIORITY if track_id in escalated else 0.0)
        reference.append((-priority, track_id, risk, reasons))
    reference.sort()
    seen, stop = _statements(factory)
    try:
        with session_scope(factory) as session:
            page = review_queue(session, limit=PAGE)
    finally:
        stop()
    selects = [s for s in seen if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(selects) == 1, selects
    assert len(page) == PAGE
    assert [item.track_id for item in page] == [r[1] for r in reference[:PAGE]]
    assert [item.risk for item in page] == [r[2] for r in reference[:PAGE]]
    assert [item.reasons for item in page] == [r[3] for r in reference[:PAGE]]
    assert all("audio_decode_failed" not in item.reasons for item in page)  # superseded
    with session_scope(factory) as session:
        unclaimed = review_queue(session, limit=QUEUED, unclaimed_only=True)
        everything = review_queue(session, limit=QUEUED)
        risky = review_queue(session, limit=QUEUED, min_risk=0.9)
    claimed = [item for item in everything if item.claimed_by]
    assert [item.claimed_by for item in claimed] == ["mod"]
    assert claimed[0].track_id not in {item.track_id for item in unclaimed}
    assert len(unclaimed) == len(everything) - 1
    assert risky and all(item.risk >= 0.9 for item in risky)
    with session_scope(factory) as session:
        appealed = {a.track_id for a in session.query(Appeal).all()}
    assert {item.track_id for item in everything if item.appeal_open} == appealed
