"""The pipeline steps on real deliveries, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from integrity.catalog import pipeline
from integrity.catalog.assets import DUPLICATE_FINDINGS_KEPT
from integrity.catalog.scan import discover_deliveries, scan_deliveries
from integrity.config import Settings
from integrity.db.models import (
    Analysis,
    AudioAsset,
    Delivery,
    Finding,
    Release,
    ReleaseTrack,
    Track,
)
from integrity.db.session import session_scope
from integrity.service.audit import MAX_PAGE
from integrity.service.review import review_queue, track_detail
from tests.service_support import TrackSpec, make_ern, unique_audio

MESSAGE = "NewReleaseMessage.xml"


def _scan(folder: Path, settings: Settings, factory: sessionmaker[Session]) -> int:
    [delivery_id] = scan_deliveries(
        discover_deliveries([folder]), settings=settings, factory=factory
    )
    return delivery_id


def _codes(session: Session, **where: object) -> set[str]:
    query = select(Finding.code)
    for name, value in where.items():
        query = query.where(getattr(Finding, name) == value)
    return set(session.scalars(query))


def _counts(session: Session) -> dict[str, int]:
    return {
        model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Delivery, Release, Track, ReleaseTrack, AudioAsset, Analysis, Finding)
    }


def test_album_is_ingested_verified_and_measured(album_copy, pipeline_settings, factory):
    delivery_id = _scan(album_copy, pipeline_settings, factory)
    with session_scope(factory) as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery.status == "completed"
        assert (delivery.ern_version, delivery.message_id) == ("4.3.2", "LANTERN-2026-0001-1")
        assert delivery.sender_dpid == "PADPIDA2026112401E"
        [release] = session.scalars(select(Release)).all()
        assert (release.icpn, release.title, release.contains_ai) == (
            "5099902894720",
            "Lights on the Water",
            "Partly",
        )
        tracks = session.scalars(select(Track).order_by(Track.id)).all()
        assert [t.isrc for t in tracks] == [f"GBLNT260000{i}" for i in range(1, 5)]
        assert [link.sequence for link in release.tracks] == [1, 2, 3, 4]
        assert all(t.state == "scored" and t.asset_sha256 for t in tracks)
        assert tracks[3].contains_ai == "All"
        assert tracks[3].ai_contributions[0]["special"] == "GenerativeAI"
        analyses = {a.asset_sha256: a for a in session.scalars(select(Analysis))}
        for track in tracks:
            analysis = analyses[track.asset_sha256]
            assert analysis.status == "ok"
            assert abs(analysis.duration_s - track.declared_duration_s) < 1.0
            assert -30.0 < analysis.loudness_lufs < -5.0
        # The files match their declared MD5 sums, so no audio problems are reported.
        assert not _codes(session, source="audio") - {"audio_hash_not_declared"}


def test_rerun_changes_nothing(album_copy, pipeline_settings, factory):
    first = _scan(album_copy, pipeline_settings, factory)
    with session_scope(factory) as session:
        before = _counts(session)
        stamps = [(t.id, t.updated_at, t.state) for t in session.scalars(select(Track))]
    second = _scan(album_copy, pipeline_settings, factory)
    with session_scope(factory) as session:
        assert second == first
        assert _counts(session) == before
        assert [(t.id, t.updated_at, t.state) for t in session.scalars(select(Track))] == stamps


def test_damaged_audio_becomes_findings_not_failures(album_copy, pipeline_settings, factory):
    resources = album_copy / "resources"
    (resources / "02_cold_iron.mp3").unlink()  # missing
    (resources / "03_night_ferry.mp3").write_bytes(b"\xff\xfb" + b"not audio" * 500)  # corrupt
    flac = resources / "01_harbour_lights.flac"
    flac.write_bytes(flac.read_bytes()[:-1000] + bytes(1000))  # bytes changed: hash mismatch
    delivery_id = _scan(album_copy, pipeline_settings, factory)
    with session_scope(factory) as session:
        assert session.get(Delivery, delivery_id).status == "completed"
        tracks = {t.isrc: t for t in session.scalars(select(Track))}
        assert "audio_file_missing" in _codes(session, track_id=tracks["GBLNT2600002"].id)
        assert tracks["GBLNT2600002"].decision == "review"
        corrupt = _codes(session, track_id=tracks["GBLNT2600003"].id)
        assert {"audio_hash_mismatch", "audio_decode_failed"} <= corrupt
        assert "audio_hash_mismatch" in _codes(session, track_id=tracks["GBLNT2600001"].id)
        # The untouched track went through as usual.
        assert tracks["GBLNT2600004"].state == "scored"
        assert tracks["GBLNT2600004"].decision == "filter"  # declared fully AI-generated


def test_duration_mismatch_is_reported(album_copy, pipeline_settings, factory):
    message = album_copy / MESSAGE
    message.write_text(
        message.read_text().replace(
            "<Duration>PT0M36S</Duration>", "<Duration>PT3M36S</Duration>", 1
        )
    )
    _scan(album_copy, pipeline_settings, factory)
    with session_scope(factory) as session:
        [finding] = session.scalars(select(Finding).where(Finding.code == "duration_mismatch"))
        assert finding.evidence["declared_s"] == 216.0
        assert abs(finding.evidence["actual_s"] - 36.0) < 0.5


def test_unreadable_message_fails_the_delivery_with_a_reason(tmp_path, pipeline_settings, factory):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / MESSAGE).write_text("<ern:NewReleaseMessage xmlns:ern='http://ddex.net/xml/ern/43'>")
    delivery_id = _scan(folder, pipeline_settings, factory)
    with session_scope(factory) as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery.status == "failed"
        assert MESSAGE in delivery.error
        assert _codes(session, delivery_id=delivery_id) == {"ern_unreadable"}
        assert session.scalar(select(func.count()).select_from(Track)) == 0


def test_test_message_never_reaches_production_state(album_copy, pipeline_settings, factory):
    message = album_copy / MESSAGE
    message.write_text(message.read_text().replace("LiveMessage", "TestMessage"))
    delivery_id = _scan(album_copy, pipeline_settings, factory)
    with session_scope(factory) as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery.status == "completed"
        assert "TestMessage" in delivery.error
        assert session.scalar(select(func.count()).select_from(Track)) == 0
        assert session.scalar(select(func.count()).select_from(Release)) == 0


def test_redelivery_updates_the_same_track(album_copy, pipeline_settings, factory):
    _scan(album_copy, pipeline_settings, factory)
    message = album_copy / MESSAGE
    text = message.read_text().replace("LANTERN-2026-0001-1", "LANTERN-2026-0001-2")
    message.write_text(text.replace(">Cold Iron<", ">Cold Iron (Remastered)<"))
    second = _scan(album_copy, pipeline_settings, factory)
    with session_scope(factory) as session:
        tracks = session.scalars(select(Track).where(Track.isrc == "GBLNT2600002")).all()
        assert len(tracks) == 1
        assert tracks[0].title == "Cold Iron (Remastered)"
        assert tracks[0].delivery_id == second
        assert session.scalar(select(func.count()).select_from(Release)) == 1
        # Assets are content-addressed: the second delivery decoded nothing new.
        assert session.scalar(select(func.count()).select_from(Analysis)) == 4


def test_register_is_idempotent_on_content_and_webhook_id(album_copy, factory):
    with session_scope(factory) as session:
        first, created = pipeline.register_delivery(
            session,
            storage_path=album_copy,
            message_filename=MESSAGE,
            source="test",
            webhook_id="msg_1",
        )
        assert created
        again, created_again = pipeline.register_delivery(
            session,
            storage_path=album_copy,
            message_filename=MESSAGE,
            source="test",
            webhook_id="msg_1",
        )
        assert (again.id, created_again) == (first.id, False)


def test_sped_up_reupload_is_found_with_its_evidence(album_copy, pipeline_settings, factory):
    _scan(album_copy, pipeline_settings, factory)
    with session_scope(factory) as session:
        tracks = {t.title: t for t in session.scalars(select(Track))}
        duplicates = session.scalars(select(Finding).where(Finding.code.like("duplicate_%"))).all()
        assert [f.track_id for f in duplicates] == [tracks["Night Ferry"].id]
        evidence = duplicates[0].evidence
        assert evidence["track_id"] == tracks["Harbour Lights"].id
        assert evidence["isrc"] == "GBLNT2600001"
        assert 1.02 < evidence["time_scale"] < 1.07  # generated 4 % faster
        assert tracks["Night Ferry"].decision == "review"
        assert "faster" in duplicates[0].message


def test_same_file_under_another_isrc_is_an_identical_duplicate(
    album_copy, pipeline_settings, factory
):
    message = album_copy / MESSAGE
    text = message.read_text()
    # Track 2 now points at track 1's file (its declared hash no longer matches, as in real
    # re-uploads where the metadata is copied carelessly).
    message.write_text(
        text.replace("resources/02_cold_iron.mp3", "resources/01_harbour_lights.flac")
    )
    _scan(album_copy, pipeline_settings, factory)
    with session_scope(factory) as session:
        tracks = {t.title: t for t in session.scalars(select(Track))}
        codes = _codes(session, track_id=tracks["Cold Iron"].id)
        assert "duplicate_audio_identical" in codes
        assert "duplicate_audio_identical" not in _codes(
            session, track_id=tracks["Harbour Lights"].id
        )


def test_an_unexpected_crash_on_one_track_is_recorded_and_the_scan_goes_on(
    album_copy, pipeline_settings, factory, monkeypatch
):
    real_analyze = pipeline.analyze_track
    crashed: list[int] = []

    def analyze_or_crash(session, *, track_id, **kwargs):
        if not crashed:  # the first track analysed hits a bug
            crashed.append(track_id)
            raise ValueError("features: array of sample count 0")
        return real_analyze(session, track_id=track_id, **kwargs)

    monkeypatch.setattr(pipeline, "analyze_track", analyze_or_crash)
    delivery_id = _scan(album_copy, pipeline_settings, factory)
    with session_scope(factory) as session:
        tracks = session.scalars(select(Track).order_by(Track.id)).all()
        states = {t.id: t.state for t in tracks}
        assert states.pop(crashed[0]) == pipeline.TRACK_FAILED
        assert set(states.values()) == {"scored"}  # every other track went on
        [message] = session.scalars(
            select(Finding.message).where(
                Finding.code == "track_processing_failed", Finding.track_id == crashed[0]
            )
        )
        assert message == "unexpected ValueError: features: array of sample count 0"
        # The delivery closes; the failed track carries the error for a person to see.
        assert session.get(Delivery, delivery_id).status == "completed"


TRACKS_ON_ONE_FILE = 300


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_many_tracks_on_one_file_get_a_bounded_number_of_duplicate_findings(
    tmp_path, pipeline_settings, factory
):
    # A spammer delivers one file under 300 ISRCs: each track names at most
    # DUPLICATE_FINDINGS_KEPT earlier copies and counts the rest (uncapped: 44,850 findings).
    folder = tmp_path / "one-file"
    folder.mkdir()
    (folder / "loop.wav").write_bytes(unique_audio())
    specs = [
        TrackSpec(isrc=f"QZSPM26{n:05d}", title=f"Loop {n}", filename="loop.wav")
        for n in range(TRACKS_ON_ONE_FILE)
    ]
    (folder / MESSAGE).write_bytes(make_ern("SPAM-ONE-FILE", specs))
    _scan(folder, pipeline_settings, factory)
    with session_scope(factory) as session:
        tracks = session.scalars(select(Track).order_by(Track.id)).all()
        assert len(tracks) == TRACKS_ON_ONE_FILE
        per_track = dict(
            session.execute(
                select(Finding.track_id, func.count())
                .where(Finding.code == "duplicate_audio_identical")
                .group_by(Finding.track_id)
            ).all()
        )
        assert sum(per_track.values()) == sum(
            min(i, DUPLICATE_FINDINGS_KEPT) for i in range(TRACKS_ON_ONE_FILE)
        )
        last = session.scalars(
            select(Finding).where(
                Finding.track_id == tracks[-1].id, Finding.code == "duplicate_audio_identical"
            )
        ).all()
        assert len(last) == DUPLICATE_FINDINGS_KEPT
        # The earliest copies are named; the other 289 are counted.
        earliest = [t.id for t in tracks[:DUPLICATE_FINDINGS_KEPT]]
        assert [f.evidence["track_id"] for f in last] == earliest
        assert {f.evidence["copies_not_listed"] for f in last} == {
            TRACKS_ON_ONE_FILE - 1 - DUPLICATE_FINDINGS_KEPT
        }
        assert all(t.decision == "review" for t in tracks[1:])


def test_a_corrected_redelivery_leaves_review(album_copy, pipeline_settings, factory):
    # The first delivery declares a wrong MD5 for track 1; the label corrects it in a new
    # message. What the first delivery found is superseded: the decision, the review queue
    # and the track view see only the current delivery's findings.
    message = album_copy / MESSAGE
    good = message.read_text()
    right_md5 = "7632d76822de59ed2dd01017888fe180"  # 01_harbour_lights.flac, as generated
    assert right_md5 in good
    message.write_text(good.replace(right_md5, "0" * len(right_md5)))
    first = _scan(album_copy, pipeline_settings, factory)
    with session_scope(factory) as session:
        [track] = session.scalars(select(Track).where(Track.isrc == "GBLNT2600001")).all()
        assert "audio_hash_mismatch" in _codes(session, track_id=track.id)
        assert track.decision == "review"
        assert track.id in {item.track_id for item in review_queue(session, limit=MAX_PAGE)}
    message.write_text(good.replace("LANTERN-2026-0001-1", "LANTERN-2026-0001-2"))
    second = _scan(album_copy, pipeline_settings, factory)
    assert second != first
    with session_scope(factory) as session:
        track = session.get(Track, track.id)
        assert track.delivery_id == second
        assert track.decision == "clear", track.decision_reasons
        # Kept for the record, under the delivery that made it...
        assert "audio_hash_mismatch" in _codes(session, track_id=track.id, delivery_id=first)
        # ...but no longer counted anywhere.
        assert track.id not in {item.track_id for item in review_queue(session, limit=MAX_PAGE)}
        detail = track_detail(session, track_id=track.id)
        assert "audio_hash_mismatch" not in {f["code"] for f in detail["findings"]}
        assert detail["decision"] == "clear"
