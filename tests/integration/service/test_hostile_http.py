"""Hostile input at the HTTP edge, against PostgreSQL: every refusal is a 4xx naming the field,
never a driver error (500), and nothing a client reads names where deliveries are stored."""

from __future__ import annotations

import secrets

import pytest

from integrity.db.models import MAX_ID, Delivery
from integrity.db.session import create_db_engine, session_factory, session_scope
from integrity.service import steps
from tests.service_support import (
    TrackSpec,
    make_ern,
    multipart_body,
    random_isrc,
    signed_headers,
)

pytestmark = pytest.mark.postgres

NUL = "\x00"
OVER_INT4 = MAX_ID + 1
OVER_INT8 = 2**63 + 1
HUGE = 2**70


def _upload(service, message: bytes, files: dict[str, bytes], *, truncate: int = 0):
    body, content_type = multipart_body(message, files)
    body = body[: len(body) - truncate] if truncate else body
    headers = signed_headers(
        secret=service.secret, body=body, content_type=content_type, key=service.uploader_key
    )
    return service.client.post("/v1/deliveries", content=body, headers=headers)


def _ingested(service, files: dict[str, bytes], *, analyse: bool = False) -> tuple[int, list[int]]:
    """A delivery uploaded through the webhook and ingested (and analysed) in-process."""
    names = list(files)
    tracks = [TrackSpec(random_isrc("H01"), f"Track {i}", name) for i, name in enumerate(names)]
    response = _upload(service, make_ern(f"MSG-{secrets.token_hex(6)}", tracks), files)
    assert response.status_code == 202, response.text
    delivery_id = response.json()["delivery_id"]
    engine = create_db_engine(service.settings.database_url)
    factory = session_factory(engine)
    try:
        with session_scope(factory) as session:
            track_ids = steps.ingest_step(
                session, delivery_id=delivery_id, settings=service.settings
            )
        for track_id in track_ids if analyse else []:
            with session_scope(factory) as session:
                steps.analyze_step(
                    session, delivery_id=delivery_id, track_id=track_id, settings=service.settings
                )
    finally:
        engine.dispose()
    return delivery_id, track_ids


def _assert_refused(response, status: int, field: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["field"] == field, body
    assert field in body["detail"] or body["detail"], body


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/audit?actor=mod{nul}erator", "actor"),
        ("/v1/audit?action=review{nul}", "action"),
        ("/v1/review/queue?sender=acme{nul}", "sender"),
        ("/v1/appeals?status=open{nul}", "status"),
    ],
)
def test_a_nul_in_a_query_parameter_is_a_422_naming_it(service, path, field):
    response = service.client.get(
        path.format(nul="%00"), headers=service.auth(service.admin_key)
    )
    _assert_refused(response, 422, field)
    assert "NUL" in response.json()["detail"]


@pytest.mark.parametrize(
    ("role", "path", "body", "field"),
    [
        ("moderator", "/v1/tracks/{id}/decision", {"action": "approve", "reason": NUL}, "reason"),
        (
            "moderator",
            "/v1/tracks/{id}/decision",
            {"action": "approve", "reason": "ok", "note": "see" + NUL},
            "note",
        ),
        ("uploader", "/v1/tracks/{id}/appeals", {"reason": "wrong" + NUL}, "reason"),
        ("admin", "/v1/rescans", {"scope": {"kind": "sender", "value": NUL}}, "scope.value"),
    ],
)
def test_a_nul_in_a_body_text_field_is_a_422_naming_it(service, role, path, body, field):
    _, (track_id,) = _ingested(service, {"a.wav": b"RIFF not really audio"})
    key = {"moderator": service.moderator_key, "uploader": service.uploader_key}.get(
        role, service.admin_key
    )
    response = service.client.post(
        path.format(id=track_id), json=body, headers=service.auth(key)
    )
    _assert_refused(response, 422, field)


def test_a_nul_in_a_path_name_is_a_422_naming_it(service):
    response = service.client.post(
        "/v1/models/synth%00etic/versions/1.0.0/activate", headers=service.auth(service.admin_key)
    )
    _assert_refused(response, 422, "name")


@pytest.mark.parametrize("value", [OVER_INT4, OVER_INT8, HUGE])
@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", "/v1/tracks/{}", "track_id"),
        ("GET", "/v1/deliveries/{}", "delivery_id"),
        ("GET", "/v1/rescans/{}", "rescan_id"),
        ("POST", "/v1/tracks/{}/claim", "track_id"),
        ("POST", "/v1/rescans/{}/cancel", "rescan_id"),
    ],
)
def test_ids_outside_the_id_column_in_paths_are_a_422_naming_them(
    service, method, path, field, value
):
    response = service.client.request(
        method, path.format(value), headers=service.auth(service.admin_key)
    )
    _assert_refused(response, 422, field)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (f"track_id={OVER_INT4}", "track_id"),
        (f"delivery_id={HUGE}", "delivery_id"),
        (f"after_id={OVER_INT8}", "after_id"),
    ],
)
def test_ids_outside_the_id_column_in_queries_are_a_422_naming_them(service, query, field):
    response = service.client.get(f"/v1/audit?{query}", headers=service.auth(service.admin_key))
    _assert_refused(response, 422, field)


def test_one_bad_item_in_a_filter_batch_gets_its_own_error_and_the_rest_are_answered(service):
    _, (track_id,) = _ingested(service, {"a.wav": b"RIFF not really audio"})
    items = [track_id, OVER_INT4, HUGE, -(2**40), "QZ" + NUL + "X", "QZTST2600001"]
    response = service.client.post(
        "/v1/filter",
        json={"tracks": items, "surface": "search"},
        headers=service.auth(service.service_key),
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["track"] for r in results] == items
    assert results[0]["track_ids"] == [track_id] and "error" not in results[0]
    for index in (1, 2, 3):
        assert results[index]["reasons"] == ["invalid_track_id"]
        assert results[index]["error"].startswith(f"tracks[{index}]: ")
    assert results[4]["reasons"] == ["invalid_isrc"]
    assert results[4]["error"].startswith("tracks[4]: ")
    assert results[5]["reasons"] == ["unknown_track"] and "error" not in results[5]


def test_a_truncated_multipart_body_is_refused_and_nothing_is_recorded(service):
    isrc = random_isrc("T02")
    message = make_ern(f"MSG-{secrets.token_hex(6)}", [TrackSpec(isrc, "Cut", "cut.wav")])
    # Cut inside the audio part: the closing boundary and the part's last bytes never come.
    response = _upload(service, message, {"cut.wav": b"RIFF" + b"\1" * 4096}, truncate=1500)
    _assert_refused(response, 400, "body")
    assert "truncated" in response.json()["detail"]
    engine = create_db_engine(service.settings.database_url)
    try:
        with session_factory(engine)() as session:
            assert session.query(Delivery).filter(Delivery.uploader == service.sender).count() == 0
    finally:
        engine.dispose()
    assert sorted(p.name for p in service.settings.storage_dir.iterdir()) == [".incoming"]


def test_no_refusal_or_finding_names_the_storage_folder(service):
    storage_dir = str(service.settings.storage_dir)
    unreadable = _upload(service, b"<?xml version='1.0'?><ern:NewReleaseMessage", {})
    _assert_refused(unreadable, 422, "message")
    assert "message.xml" in unreadable.json()["detail"]
    assert storage_dir not in unreadable.text
    assert str(service.settings.data_dir) not in unreadable.text
    # An undecodable audio file: the decoder's reason reaches the track's findings.
    _, (track_id,) = _ingested(service, {"noise.ogg": secrets.token_bytes(4096)}, analyse=True)
    detail = service.client.get(
        f"/v1/tracks/{track_id}", headers=service.auth(service.uploader_key)
    )
    assert detail.status_code == 200, detail.text
    decode = [f for f in detail.json()["findings"] if f["code"] == "audio_decode_failed"]
    assert decode and "noise.ogg" in decode[0]["message"], detail.json()["findings"]
    assert str(service.settings.data_dir) not in detail.text


def test_a_json_body_over_the_cap_is_a_413_before_it_is_parsed(service):
    cap = service.settings.api_max_body_bytes
    response = service.client.post(
        "/v1/filter",
        json={"tracks": ["X" * (cap + 1)], "surface": "search"},
        headers=service.auth(service.service_key),
    )
    _assert_refused(response, 413, "body")


def test_unknown_keys_are_rate_limited_per_client_address(service):
    burst = service.settings.api_unknown_key_burst
    known = service.auth(service.moderator_key)
    # Its first use is a lookup too (one token of the address's burst); then it is cached.
    assert service.client.get("/v1/appeals", headers=known).status_code == 200
    burst -= 1
    answers = [
        service.client.get(
            "/v1/appeals", headers={"authorization": f"Bearer guess-{secrets.token_hex(8)}"}
        )
        for _ in range(burst + 5)
    ]
    statuses = [a.status_code for a in answers]
    assert statuses[:burst] == [401] * burst, statuses
    assert set(statuses[burst:]) == {429}, statuses
    assert int(answers[-1].headers["retry-after"]) >= 1
    assert answers[-1].json()["field"] == "authorization"
    # A key known to be good is answered from the cache and does not draw from that bucket.
    assert service.client.get("/v1/appeals", headers=known).status_code == 200
