"""The review queue pages in the database: one statement, at most a page of rows, and the risk
and order the per-track formula (`risk_of`) gives, from current findings only. The stored queue
rows it reads stay equal to the queue computed from scratch after every kind of change."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, sessionmaker

from integrity.catalog import pipeline
from integrity.catalog.findings import record_findings
from integrity.catalog.scan import discover_deliveries, scan_deliveries
from integrity.config import Settings
from integrity.db.models import Delivery, Finding, Track, utc_now
from integrity.db.service_models import Appeal, ReviewClaim, Sender, TrackModeration
from integrity.db.session import session_scope
from integrity.findings import FindingSpec
from integrity.service import moderation, review
from integrity.service.review import ESCALATION_PRIORITY, review_queue, risk_of
from tests.conftest import REPO_ROOT
from tests.console_support import queue_reference, stored_queue

QUEUED = 60
"""Tracks waiting for review in the test catalog (count)."""
PAGE = 7
SPAM_SINGLE = REPO_ROOT / "examples" / "deliveries" / "rain-sounds-single"
MODERATOR = {"actor": "mod", "role": "moderator"}
UNDO_WINDOW_S = 60.0


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


def _holds(factory: sessionmaker[Session], change: str) -> dict[int, dict[str, Any]]:
    """The stored queue equals the queue computed from scratch; returns it."""
    with session_scope(factory) as session:
        expected, stored = queue_reference(session), stored_queue(session)
    assert stored == expected, change
    return stored


def test_stored_queue_rows_follow_every_kind_of_change(
    factory: sessionmaker[Session], pipeline_settings: Settings, album_copy: Path
) -> None:
    def scan(*folders: Path) -> None:
        found = discover_deliveries(list(folders))
        scan_deliveries(found, settings=pipeline_settings, factory=factory)

    def act(change: str, call: Any) -> dict[int, dict[str, Any]]:
        with session_scope(factory) as session:
            call(session)
        return _holds(factory, change)

    def decide(track_id: int, action: str) -> Any:
        return lambda s: review.decide(
            s, track_id=track_id, action=action, reason="test", note=None, **MODERATOR
        )

    def undo(session: Session) -> None:
        moderation.undo_last(session, window_s=UNDO_WINDOW_S, **MODERATOR)

    scan(album_copy, SPAM_SINGLE)  # the pipeline: ingest, analyse, score
    queued = _holds(factory, "after the pipeline scored the deliveries")
    with session_scope(factory) as session:
        ids = {t.title: t.id for t in session.scalars(select(Track))}
    spam = next(i for title, i in ids.items() if title.startswith("Rain Sounds"))
    cleared = ids["Cold Iron"]  # an album track the policy cleared: not in the queue
    assert spam in queued and cleared not in queued

    assert spam not in act("a removal", decide(spam, "remove"))
    assert spam in act("an undo", undo)
    assert act("an escalation", decide(spam, "escalate"))[spam]["priority"] >= ESCALATION_PRIORITY
    assert spam not in act("an approval", decide(spam, "approve"))

    def appeal(session: Session) -> None:
        sender = Sender(name="appealing-label")
        session.add(sender)
        session.flush()
        session.get(Track, spam).sender_id = sender.id
        review.file_appeal(
            session, track_id=spam, sender=sender, reason="ours", note=None,
            actor="label", role="uploader",
        )

    assert act("an appeal", appeal)[spam]["appeal_open"]
    assert spam not in act("a decision that resolves the appeal", decide(spam, "remove"))

    def rescan(session: Session) -> None:  # what a rescan does: new evidence, then re-score
        record_findings(
            session,
            delivery_id=session.get(Track, cleared).delivery_id,
            specs=[
                FindingSpec(
                    source="test", severity="warning", code="duplicate_audio",
                    message="matched again", track_id=cleared, evidence={"score": 0.8},
                )
            ],
        )
        pipeline.score_track(session, track_id=cleared, settings=pipeline_settings)

    act("a rescan with new evidence", rescan)
    escalated = act("an escalation of the re-scored track", decide(cleared, "escalate"))
    assert escalated[cleared]["risk"] >= 0.8
    # A redelivery: the album's tracks move to the new delivery, and what the earlier one found
    # (the evidence above included) is superseded: no longer counted.
    message = album_copy / "NewReleaseMessage.xml"
    message.write_text(message.read_text().replace("LANTERN-2026-0001-1", "LANTERN-2026-0001-2"))
    scan(album_copy)
    queued = _holds(factory, "after a redelivery")
    assert queued[cleared]["risk"] < 0.8

    def bulk(session: Session) -> None:
        moderation.decide_many(
            session, track_ids=sorted(queued), action="remove", reason="test", note=None,
            **MODERATOR,
        )

    assert act("a bulk removal", bulk) == {}
    assert set(act("the bulk's undo", undo)) == set(queued)
