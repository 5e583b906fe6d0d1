"""A sender touches only its own catalog, and an uploader sees only what is its own.

Each test is one of the defects found by trying the service as a hostile distributor would
(issue 10): against PostgreSQL and a private Redis, with the worker steps run in-process. Two
senders sharing a DPID is allowed (a label delivering through two accounts), which is what
let one replace, purge or shadow the other's catalog when rows were keyed by the DPID.
"""

from __future__ import annotations

import json
import secrets

import pytest
from sqlalchemy import select

from integrity.catalog import pipeline
from integrity.db.models import Delivery, Release
from integrity.db.session import create_db_engine, session_factory, session_scope
from integrity.service import accounts
from integrity.service.intake import MESSAGE_SENDER_FIELD
from tests.service_support import (
    OTHER_SENDER_DPID,
    TEST_SENDER_DPID,
    TrackSpec,
    add_uploader,
    fixture_uploader,
    make_ern,
    make_purge,
    random_isrc,
    run_worker_steps,
    unique_audio,
    upload,
)

pytestmark = pytest.mark.postgres

MODERATOR_NOTE = "internal: same uploader ring as ticket 4411, do not tell them"


def _accepted(response) -> int:
    assert response.status_code == 202, response.text
    return int(response.json()["delivery_id"])


def _rows(service, statement):
    engine = create_db_engine(service.settings.database_url)
    try:
        with session_scope(session_factory(engine)) as session:
            return list(session.scalars(statement))
    finally:
        engine.dispose()


def _get_track(service, key: str, track_id: int):
    return service.client.get(f"/v1/tracks/{track_id}", headers=service.auth(key))


def test_an_ern_naming_a_dpid_the_sender_has_not_registered_is_refused_naming_the_field(
    service,
):
    other = add_uploader(service, dpids=(OTHER_SENDER_DPID,))
    message = make_ern(
        f"MSG-{secrets.token_hex(6)}", [TrackSpec(random_isrc("DP1"), "Borrowed", "a.wav")]
    )  # MessageSender is TEST_SENDER_DPID: the fixture sender's, not `other`'s
    response = upload(service, other, message, {"a.wav": unique_audio()})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == MESSAGE_SENDER_FIELD
    assert TEST_SENDER_DPID in response.json()["detail"]
    assert OTHER_SENDER_DPID in response.json()["detail"]  # what it may send as
    assert _rows(service, select(Delivery).where(Delivery.uploader == other.name)) == []
    stored = [p for p in service.settings.storage_dir.iterdir() if not p.name.startswith(".")]
    assert stored == []


def test_another_sender_cannot_replace_a_track_by_its_isrc(service):
    owner = fixture_uploader(service)
    rival = add_uploader(service, dpids=(TEST_SENDER_DPID,))  # even under the same DPID
    isrc = random_isrc("RP1")
    original = make_ern(f"MSG-{secrets.token_hex(6)}", [TrackSpec(isrc, "Harbour Lights", "a.wav")])
    (own_track,) = run_worker_steps(
        service.settings, _accepted(upload(service, owner, original, {"a.wav": unique_audio()}))
    )
    before = _get_track(service, owner.key, own_track).json()

    takeover = make_ern(f"MSG-{secrets.token_hex(6)}", [TrackSpec(isrc, "Taken Over", "b.wav")])
    rival_delivery = _accepted(upload(service, rival, takeover, {"b.wav": unique_audio()}))
    (rival_track,) = run_worker_steps(service.settings, rival_delivery)

    assert rival_track != own_track
    after = _get_track(service, owner.key, own_track)
    assert after.status_code == 200, after.text
    assert after.json()["title"] == "Harbour Lights"
    assert after.json()["delivery_id"] == before["delivery_id"]
    # The rival sees its own track, not the owner's, and cannot appeal the owner's.
    assert _get_track(service, rival.key, own_track).status_code == 404
    assert _get_track(service, rival.key, rival_track).json()["title"] == "Taken Over"
    appeal = service.client.post(
        f"/v1/tracks/{own_track}/appeals",
        json={"reason": "mine"},
        headers=service.auth(rival.key),
    )
    assert appeal.status_code == 404 and appeal.json()["field"] == "track_id"


def test_another_senders_purge_release_message_cannot_take_a_release_down(service):
    owner = fixture_uploader(service)
    rival = add_uploader(service, dpids=(TEST_SENDER_DPID,))
    icpn = f"{secrets.randbelow(10**12):012d}0"
    album = make_ern(
        f"MSG-{secrets.token_hex(6)}",
        [TrackSpec(random_isrc("PG1"), "Harbour Lights", "a.wav")],
        icpn=icpn,
    )
    run_worker_steps(
        service.settings, _accepted(upload(service, owner, album, {"a.wav": unique_audio()}))
    )

    purge = make_purge(f"MSG-{secrets.token_hex(6)}", icpn=icpn)
    run_worker_steps(service.settings, _accepted(upload(service, rival, purge, {})))
    (release,) = _rows(service, select(Release).where(Release.icpn == icpn))
    assert release.taken_down is False

    # The owner's own purge does take it down (the purge itself works).
    run_worker_steps(
        service.settings,
        _accepted(upload(service, owner, make_purge(f"MSG-{secrets.token_hex(6)}", icpn=icpn), {})),
    )
    (release,) = _rows(service, select(Release).where(Release.icpn == icpn))
    assert release.taken_down is True


def test_another_senders_delivery_of_an_isrc_leaves_the_filter_answer_and_is_a_finding(service):
    owner = fixture_uploader(service)
    rival = add_uploader(service, dpids=(OTHER_SENDER_DPID,))
    isrc = random_isrc("FL1")
    original = make_ern(f"MSG-{secrets.token_hex(6)}", [TrackSpec(isrc, "Harbour Lights", "a.wav")])
    (own_track,) = run_worker_steps(
        service.settings, _accepted(upload(service, owner, original, {"a.wav": unique_audio()}))
    )

    def answer() -> list[dict]:
        response = service.client.post(
            "/v1/filter",
            json={"tracks": [isrc], "surface": "recommendation"},
            headers=service.auth(service.service_key),
        )
        assert response.status_code == 200, response.text
        return response.json()["results"]

    before = answer()
    assert before[0]["track_ids"] == [own_track]
    # The rival's copy names a file it does not send: its own track lands in review.
    claim = make_ern(
        f"MSG-{secrets.token_hex(6)}",
        [TrackSpec(isrc, "Harbour Lights", "missing.wav")],
        sender_dpid=OTHER_SENDER_DPID,
    )
    (rival_track,) = run_worker_steps(
        service.settings, _accepted(upload(service, rival, claim, {}))
    )
    assert rival_track != own_track
    assert answer() == before
    # Nor once the first claimant's track is scored again (a rescan, a model change).
    engine = create_db_engine(service.settings.database_url)
    try:
        with session_scope(session_factory(engine)) as session:
            pipeline.score_track(session, track_id=own_track, settings=service.settings)
    finally:
        engine.dispose()
    assert answer() == before

    detail = _get_track(service, service.moderator_key, rival_track).json()
    (finding,) = [f for f in detail["findings"] if f["code"] == "isrc_claimed_by_other_sender"]
    assert finding["evidence"]["claimed_by_track_ids"] == [own_track]
    assert finding["evidence"]["claimed_by_dpids"] == [TEST_SENDER_DPID]
    assert detail["decision"] == "review"
    # The owner's track carries no such finding: it claimed the ISRC first.
    own = _get_track(service, service.moderator_key, own_track).json()
    assert "isrc_claimed_by_other_sender" not in {f["code"] for f in own["findings"]}
    # The rival's track is still answered by its id.
    by_id = service.client.post(
        "/v1/filter",
        json={"tracks": [rival_track], "surface": "recommendation"},
        headers=service.auth(service.service_key),
    ).json()["results"]
    assert by_id[0]["track_ids"] == [rival_track] and by_id[0]["keep"] is False


def test_the_same_message_bytes_from_another_sender_are_its_own_delivery(service):
    owner = fixture_uploader(service)
    rival = add_uploader(service, dpids=(TEST_SENDER_DPID,))
    message = make_ern(
        f"MSG-{secrets.token_hex(6)}", [TrackSpec(random_isrc("BY1"), "Harbour Lights", "a.wav")]
    )
    files = {"a.wav": unique_audio()}
    first = _accepted(upload(service, owner, message, files))
    copy = upload(service, rival, message, files)
    second = _accepted(copy)
    assert second != first and copy.json()["duplicate"] is False
    own_view = service.client.get(f"/v1/deliveries/{second}", headers=service.auth(rival.key))
    assert own_view.status_code == 200
    assert (
        service.client.get(f"/v1/deliveries/{first}", headers=service.auth(rival.key)).status_code
        == 404
    )
    # Each sender's copy stays its own: the same bytes again from the rival are its replay.
    again = upload(service, rival, message, files)
    assert again.json() == {"delivery_id": second, "duplicate": True}


def test_webhook_ids_are_scoped_per_sender(service):
    owner = fixture_uploader(service)
    rival = add_uploader(service, dpids=(TEST_SENDER_DPID,))
    webhook_id = f"msg_{secrets.token_hex(8)}"

    def message() -> bytes:
        return make_ern(
            f"MSG-{secrets.token_hex(6)}", [TrackSpec(random_isrc("WH1"), "Tide", "a.wav")]
        )

    first = _accepted(upload(service, owner, message(), {"a.wav": b"x"}, webhook_id=webhook_id))
    # The rival using the same id neither burns it nor is refused: it is the rival's own id.
    rival_first = upload(service, rival, message(), {"a.wav": b"y"}, webhook_id=webhook_id)
    assert _accepted(rival_first) != first and rival_first.json()["duplicate"] is False
    replay = upload(service, owner, message(), {"a.wav": b"z"}, webhook_id=webhook_id)
    assert replay.json() == {"delivery_id": first, "duplicate": True}
    rival_replay = upload(service, rival, message(), {"a.wav": b"w"}, webhook_id=webhook_id)
    assert rival_replay.json() == {
        "delivery_id": rival_first.json()["delivery_id"],
        "duplicate": True,
    }


def test_a_disabled_sender_is_refused(service):
    from integrity.api.auth import KeyCache

    sender = add_uploader(service, dpids=(TEST_SENDER_DPID,))
    message = make_ern(
        f"MSG-{secrets.token_hex(6)}", [TrackSpec(random_isrc("DS1"), "Tide", "a.wav")]
    )
    delivery_id = _accepted(upload(service, sender, message, {"a.wav": b"x"}))
    engine = create_db_engine(service.settings.database_url)
    try:
        with session_scope(session_factory(engine)) as session:
            row = accounts.sender_by_name(session, name=sender.name)
            accounts.set_disabled(session, sender=row, disabled=True)
    finally:
        engine.dispose()
    later = make_ern(
        f"MSG-{secrets.token_hex(6)}", [TrackSpec(random_isrc("DS2"), "Tide", "a.wav")]
    )
    # Refused at once, even while this API process still has the key cached...
    refused = upload(service, sender, later, {"a.wav": b"x"})
    assert refused.status_code == 403 and refused.json()["field"] == "sender"
    assert "disabled" in refused.json()["detail"]
    # ...and every uploader call once the key cache has expired (a fresh cache stands for it).
    service.client.app.state.key_cache = KeyCache(max_entries=service.settings.api_key_cache_size)
    status = service.client.get(f"/v1/deliveries/{delivery_id}", headers=service.auth(sender.key))
    assert status.status_code == 403 and status.json()["field"] == "sender"
    assert len(_rows(service, select(Delivery).where(Delivery.uploader == sender.name))) == 1


def test_an_uploader_sees_its_decision_without_moderator_notes_or_other_senders_metadata(
    service,
):
    owner = fixture_uploader(service)
    copier = add_uploader(service, dpids=(OTHER_SENDER_DPID,))
    audio = unique_audio()
    owner_isrc, copier_isrc = random_isrc("UV1"), random_isrc("UV2")
    original = make_ern(
        f"MSG-{secrets.token_hex(6)}", [TrackSpec(owner_isrc, "Harbour Lights", "a.wav")]
    )
    (own_track,) = run_worker_steps(
        service.settings, _accepted(upload(service, owner, original, {"a.wav": audio}))
    )
    reupload = make_ern(
        f"MSG-{secrets.token_hex(6)}",
        [TrackSpec(copier_isrc, "Night Drive", "copy.wav")],
        sender_dpid=OTHER_SENDER_DPID,
    )
    (copy_track,) = run_worker_steps(
        service.settings, _accepted(upload(service, copier, reupload, {"copy.wav": audio}))
    )
    decided = service.client.post(
        f"/v1/tracks/{copy_track}/decision",
        json={"action": "remove", "reason": "duplicate", "note": MODERATOR_NOTE},
        headers=service.auth(service.moderator_key),
    )
    assert decided.status_code == 200, decided.text

    # The moderator sees everything: the other track's metadata, the note, who decided.
    full = _get_track(service, service.moderator_key, copy_track).json()
    full_text = json.dumps(full)
    assert "Harbour Lights" in full_text and owner_isrc in full_text
    assert MODERATOR_NOTE in full_text and "moderator-1" in full_text
    assert any(d.get("track_id") == own_track for d in full["duplicates"])

    view = _get_track(service, copier.key, copy_track)
    assert view.status_code == 200, view.text
    seen = view.json()
    text = json.dumps(seen)
    # Its own track, decision and public reason...
    assert seen["title"] == "Night Drive" and seen["isrc"] == copier_isrc
    assert seen["decision"] == "block" and seen["moderation"]["reason"] == "duplicate"
    assert "duplicate_audio_identical" in {f["code"] for f in seen["findings"]}
    assert seen["duplicates"] and all(
        d["other"] == "a track already in the catalog" for d in seen["duplicates"]
    )
    # ...and nothing of the other sender's track or of the moderators' internals.
    for private in (
        "Harbour Lights",
        owner_isrc,
        TEST_SENDER_DPID,
        owner.name,
        MODERATOR_NOTE,
        "moderator-1",
    ):
        assert private not in text, private
    assert all(d.get("track_id") is None for d in seen["duplicates"])
    assert all(event["note"] is None for event in seen["history"])
