"""build_catalog_context on a real (SQLite) catalog: sender volume and ISRC / ICPN reuse."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from integrity.catalog.context import build_catalog_context, declared_hash, sender_of
from integrity.db.models import AudioAsset, Base, Delivery, Release, ReleaseTrack, Track
from integrity.db.session import create_db_engine, session_factory
from integrity.detection.metadata import load_protected_artists, metadata_findings
from tests.unit.detection.metadata_ern import message

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ME, OTHER = "PADPIDA2014120301X", "PADPIDA0000000009"


@pytest.fixture()
def session(tmp_path: Path) -> Iterator[Session]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'catalog.db'}")
    Base.metadata.create_all(engine)
    with session_factory(engine)() as db:
        yield db
    engine.dispose()


def _delivery(db: Session, n: int, sender: str | None, uploader: str | None = None) -> Delivery:
    row = Delivery(
        message_sha256=f"{n:064x}",
        source="test",
        storage_path="/nowhere",
        message_filename="m.xml",
        uploader=uploader,
        status="processing",
        pipeline_version="test",
        sender_dpid=sender,
    )
    db.add(row)
    db.flush()
    return row


def _track(
    db: Session,
    delivery: Delivery,
    key: str,
    *,
    isrc: str | None = None,
    asset: str | None = None,
    age: timedelta = timedelta(0),
) -> Track:
    if asset and db.get(AudioAsset, asset) is None:
        db.add(AudioAsset(sha256=asset, size_bytes=1))
    row = Track(
        track_key=key,
        sender_dpid=delivery.sender_dpid,
        delivery_id=delivery.id,
        isrc=isrc,
        asset_sha256=asset,
        state="analyzed",
        declared_hash_algorithm="MD5",
        declared_hash_value=(asset or "0")[:32],
        created_at=NOW - age,
    )
    db.add(row)
    db.flush()
    return row


def test_sender_counts_and_isrc_reuse(session: Session) -> None:
    mine = _delivery(session, 1, ME)
    theirs = _delivery(session, 2, OTHER)
    for i in range(5):
        _track(session, mine, f"{ME}|isrc:GBAYC26{i:05d}", age=timedelta(hours=i))
    for i in range(3):
        _track(session, mine, f"{ME}|old:{i}", age=timedelta(days=10 + i))
    _track(session, mine, f"{ME}|ancient", age=timedelta(days=40))
    earlier = _track(
        session, theirs, f"{OTHER}|isrc:GBAYC2699999", isrc="GBAYC2699999", asset="b" * 64
    )
    track = _track(session, mine, f"{ME}|isrc:GBAYC2699999", isrc="GB-AYC-26-99999", asset="a" * 64)

    protected = load_protected_artists()
    context = build_catalog_context(
        session, track=track, delivery=mine, protected=protected, now=NOW
    )
    assert context.sender == ME
    assert (context.sender_tracks_24h, context.sender_tracks_30d) == (6, 9)
    assert context.asset_sha256 == "a" * 64
    assert [(u.track_id, u.sender, u.asset_sha256) for u in context.isrc_uses] == [
        (earlier.id, OTHER, "b" * 64)
    ]
    assert context.protected is protected

    msg = message([{"isrc": "GBAYC2699999"}])
    codes = {s.code for s in metadata_findings(msg.tracks[0], msg, context)}
    assert {"spam_isrc_reused_different_audio", "spam_isrc_reused_other_sender"} <= codes


def test_icpn_reuse_and_uploader_fallback(session: Session, tmp_path: Path) -> None:
    upload = _delivery(session, 3, None, uploader="api-key-7")
    other = _delivery(session, 4, OTHER)
    track = _track(session, upload, "api-key-7|isrc:GBAYC2600001", isrc="GBAYC2600001")
    own = Release(release_key="api-key-7|icpn:4006381333931", delivery_id=upload.id)
    own.icpn = "4006381333931"
    theirs = Release(
        release_key=f"{OTHER}|icpn:4006381333931",
        delivery_id=other.id,
        icpn="4006381333931",
        title="Someone Else's Album",
    )
    session.add_all([theirs, own])  # theirs first: only earlier releases are reuses
    session.flush()
    session.add(ReleaseTrack(release_id=own.id, track_id=track.id, sequence=1))
    session.flush()

    operator = tmp_path / "protected.txt"
    operator.write_text("Mara Moon\n")
    protected = load_protected_artists(operator)
    context = build_catalog_context(
        session, track=track, delivery=upload, protected=protected, now=NOW
    )
    assert context.sender == "api-key-7"
    assert (context.sender_tracks_24h, context.sender_tracks_30d) == (1, 1)
    assert [(u.icpn, u.release_id, u.sender, u.title) for u in context.icpn_uses] == [
        ("4006381333931", theirs.id, OTHER, "Someone Else's Album")
    ]
    assert context.protected.match("Mara Moon") is not None
    assert context.isrc_uses == ()

    msg = message()
    specs = metadata_findings(msg.tracks[0], msg, context)
    reuse = next(s for s in specs if s.code == "spam_icpn_reused")
    assert reuse.evidence["other_senders"] == [OTHER]


def test_key_helpers() -> None:
    assert sender_of("S|isrc:X") == "S" and sender_of(None) is None and sender_of("nokey") is None
    track = Track(declared_hash_algorithm="SHA-256", declared_hash_value=" ABC ")
    assert declared_hash(track) == "sha256:abc"
    assert declared_hash(Track()) is None
