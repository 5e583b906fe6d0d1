"""Folder scans have no credentials: each MessageSender DPID is its own (local) sender.

So a scanned message from another DPID that reuses an ISRC is a second track, flagged for a
moderator, and never overwrites the first DPID's track; the same DPID's redelivery still
updates its own track. Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from integrity.catalog.scan import discover_deliveries, scan_deliveries
from integrity.config import Settings
from integrity.db.models import Finding, Track
from tests.service_support import OTHER_SENDER_DPID, TEST_SENDER_DPID, TrackSpec, make_ern

ISRC = "QZSCN2600001"


def _scan_message(folder: Path, message: bytes, settings: Settings, factory) -> None:
    folder.mkdir(parents=True)
    (folder / "message.xml").write_bytes(message)
    scan_deliveries(discover_deliveries([folder]), settings=settings, factory=factory)


def test_scanned_dpids_are_separate_senders(
    tmp_path: Path, pipeline_settings: Settings, factory: sessionmaker[Session]
) -> None:
    first = make_ern("SCAN-1", [TrackSpec(ISRC, "Harbour Lights", "a.wav")])
    _scan_message(tmp_path / "first", first, pipeline_settings, factory)
    claim = make_ern(
        "SCAN-2", [TrackSpec(ISRC, "Taken Over", "b.wav")], sender_dpid=OTHER_SENDER_DPID
    )
    _scan_message(tmp_path / "claim", claim, pipeline_settings, factory)
    again = make_ern("SCAN-3", [TrackSpec(ISRC, "Harbour Lights (Remaster)", "a.wav")])
    _scan_message(tmp_path / "again", again, pipeline_settings, factory)

    with factory() as session:
        tracks = session.scalars(select(Track).where(Track.isrc == ISRC).order_by(Track.id)).all()
        assert [(t.sender_dpid, t.title) for t in tracks] == [
            (TEST_SENDER_DPID, "Harbour Lights (Remaster)"),  # its own redelivery updated it
            (OTHER_SENDER_DPID, "Taken Over"),
        ]
        assert all(t.sender_id is None for t in tracks)  # no credentials: a local operator
        claims = session.scalars(
            select(Finding).where(Finding.code == "isrc_claimed_by_other_sender")
        ).all()
        assert [(f.track_id, f.evidence["claimed_by_track_ids"]) for f in claims] == [
            (tracks[1].id, [tracks[0].id])
        ]
