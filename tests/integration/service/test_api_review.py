"""Review, filter, audit, appeals, rescans and auth against PostgreSQL, with the worker steps
run in-process (the real worker is exercised in test_workers.py and the e2e tests)."""

from __future__ import annotations

import secrets

import pytest

from integrity.db.session import create_db_engine, session_factory, session_scope
from integrity.service.filtering import SURFACES_ALLOWED
from tests.service_support import (
    TrackSpec,
    make_ern,
    multipart_body,
    random_isrc,
    run_worker_steps,
    signed_headers,
    unique_audio,
)

pytestmark = pytest.mark.postgres


def _deliver_and_process(service, tracks: list[TrackSpec], files: dict[str, bytes]) -> dict:
    """Upload through the webhook, then run the worker steps in-process; the delivery view."""
    message = make_ern(f"MSG-{secrets.token_hex(6)}", tracks)
    body, content_type = multipart_body(message, files)
    headers = signed_headers(
        secret=service.secret, body=body, content_type=content_type, key=service.uploader_key
    )
    response = service.client.post("/v1/deliveries", content=body, headers=headers)
    assert response.status_code == 202, response.text
    delivery_id = response.json()["delivery_id"]
    run_worker_steps(service.settings, delivery_id)
    view = service.client.get(
        f"/v1/deliveries/{delivery_id}", headers=service.auth(service.moderator_key)
    )
    assert view.status_code == 200
    return view.json() | {"delivery_id": delivery_id}


@pytest.fixture()
def processed(service):
    """One delivery: a decodable track and one whose audio file is missing (→ review)."""
    isrc_ok = random_isrc("T01")
    isrc_missing = random_isrc("M01")
    view = _deliver_and_process(
        service,
        [
            TrackSpec(isrc_ok, "Morning Over The Harbour", "robin.wav"),
            TrackSpec(isrc_missing, "Gone", "gone.ogg"),
        ],
        {"robin.wav": unique_audio()},
    )
    by_isrc = {track["isrc"]: track for track in view["tracks"]}
    return view, by_isrc[isrc_ok], by_isrc[isrc_missing]


def test_processed_delivery_reports_each_track(service, processed):
    view, ok, missing = processed
    assert view["status"] == "completed"
    assert ok["state"] == "scored"
    assert missing["state"] == "failed"
    assert missing["decision"] == "review"


def test_flagged_track_is_queued_claimed_decided_and_audited(service, processed):
    _, _, missing = processed
    moderator = service.auth(service.moderator_key)
    queue = service.client.get("/v1/review/queue", headers=moderator).json()["items"]
    item = next(i for i in queue if i["track_id"] == missing["id"])
    assert item["decision"] == "review"
    assert "audio_file_missing" in item["reasons"]
    assert 0 < item["risk"] <= 1
    detail = service.client.get(f"/v1/tracks/{missing['id']}", headers=moderator).json()
    assert any(f["code"] == "audio_file_missing" for f in detail["findings"])

    claim = service.client.post(f"/v1/tracks/{missing['id']}/claim", headers=moderator)
    assert claim.status_code == 200
    admin = service.auth(service.admin_key)
    # Another moderator (the admin) cannot decide while the claim is live.
    taken = service.client.post(
        f"/v1/tracks/{missing['id']}/decision",
        json={"action": "approve", "reason": "ok"},
        headers=admin,
    )
    assert taken.status_code == 409

    before = service.client.post(
        "/v1/filter",
        json={"tracks": [missing["id"], missing["isrc"]], "surface": "search"},
        headers=service.auth(service.service_key),
    ).json()["results"]
    assert [r["keep"] for r in before] == [True, True]

    decided = service.client.post(
        f"/v1/tracks/{missing['id']}/decision",
        json={"action": "remove", "reason": "no_audio", "note": "file never arrived"},
        headers=moderator,
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["decision"] == "block"
    after = service.client.post(
        "/v1/filter",
        json={"tracks": [missing["id"], missing["isrc"]], "surface": "search"},
        headers=service.auth(service.service_key),
    ).json()["results"]
    assert [r["keep"] for r in after] == [False, False]
    assert "moderator:block" in after[0]["reasons"] and "no_audio" in after[0]["reasons"]

    queue = service.client.get("/v1/review/queue", headers=moderator).json()["items"]
    assert missing["id"] not in [i["track_id"] for i in queue]
    events = service.client.get(f"/v1/audit?track_id={missing['id']}", headers=moderator).json()[
        "events"
    ]
    actions = [e["action"] for e in events]
    assert actions == ["track.analyzed", "track.scored", "review.claim", "review.remove"]
    final = events[-1]
    assert final["actor"] == "moderator-1" and final["role"] == "moderator"
    assert (final["before"], final["after"], final["reason"]) == ("review", "block", "no_audio")
    assert final["model_versions"]["pipeline"]


def test_filter_answers_per_surface_and_names_unknown_tracks(service, processed):
    _, ok, missing = processed
    headers = service.auth(service.service_key)
    allowed = SURFACES_ALLOWED[ok["decision"]]  # the models' call on the good track
    for surface, flagged_kept in (("recommendation", False), ("search", True)):
        results = service.client.post(
            "/v1/filter",
            json={"tracks": [ok["id"], missing["id"]], "surface": surface},
            headers=headers,
        ).json()["results"]
        expected = [surface in allowed, flagged_kept]
        assert [r["keep"] for r in results] == expected, (surface, results)
    unknown = service.client.post(
        "/v1/filter",
        json={"tracks": [10**9, "ZZ0000000000"], "surface": "search"},
        headers=headers,
    ).json()["results"]
    assert [r["reasons"] for r in unknown] == [["unknown_track"], ["unknown_track"]]
    bad = service.client.post(
        "/v1/filter", json={"tracks": [1], "surface": "radio"}, headers=headers
    )
    assert bad.status_code == 422 and bad.json()["field"] == "surface"


def test_appeal_puts_a_decided_track_back_in_the_queue(service, processed):
    _, _, missing = processed
    moderator = service.auth(service.moderator_key)
    service.client.post(
        f"/v1/tracks/{missing['id']}/decision",
        json={"action": "filter", "reason": "low_quality"},
        headers=moderator,
    )
    appeal = service.client.post(
        f"/v1/tracks/{missing['id']}/appeals",
        json={"reason": "file_resent", "note": "we uploaded the audio again"},
        headers=service.auth(service.uploader_key),
    )
    assert appeal.status_code == 201, appeal.text
    queue = service.client.get("/v1/review/queue", headers=moderator).json()["items"]
    item = next(i for i in queue if i["track_id"] == missing["id"])
    assert item["appeal_open"] is True and item["decision"] == "filter"
    service.client.post(
        f"/v1/tracks/{missing['id']}/decision",
        json={"action": "approve", "reason": "appeal_upheld"},
        headers=moderator,
    )
    appeals = service.client.get("/v1/appeals", headers=moderator).json()["appeals"]
    assert next(a for a in appeals if a["track_id"] == missing["id"])["status"] == "resolved"


@pytest.mark.parametrize(
    ("method", "path", "role", "status"),
    [
        ("get", "/v1/review/queue", "uploader", 403),
        ("get", "/v1/review/queue", "service", 403),
        ("post", "/v1/rescans", "moderator", 403),
        ("get", "/v1/audit", "service", 403),
        ("post", "/v1/models/x/versions/1/activate", "moderator", 403),
        ("get", "/v1/review/queue", "nobody", 401),
    ],
)
def test_wrong_roles_are_refused(service, method, path, role, status):
    key = {
        "uploader": service.uploader_key,
        "service": service.service_key,
        "moderator": service.moderator_key,
        "nobody": "ik_not-a-key",
    }[role]
    kwargs = {"json": {"scope": {"kind": "all"}}} if method == "post" else {}
    response = getattr(service.client, method)(path, headers=service.auth(key), **kwargs)
    assert response.status_code == status, response.text


def test_uploaders_see_only_their_own_deliveries(service, processed):
    view, _, _ = processed
    from tests.service_support import create_accounts

    other = create_accounts(service.settings, f"other-{secrets.token_hex(4)}")
    response = service.client.get(
        f"/v1/deliveries/{view['delivery_id']}", headers=service.auth(other["uploader"])
    )
    assert response.status_code == 404


def test_rescan_is_recorded_and_reports_progress(service, processed):
    admin = service.auth(service.admin_key)
    created = service.client.post("/v1/rescans", json={"scope": {"kind": "all"}}, headers=admin)
    assert created.status_code == 202, created.text
    rescan = created.json()
    assert rescan["status"] == "queued" and rescan["total"] >= 1
    engine = create_db_engine(service.settings.database_url)
    from integrity.service import rescans

    more = True
    while more:
        with session_scope(session_factory(engine)) as session:
            more = rescans.run_batch(session, rescan_id=rescan["id"], settings=service.settings)
    engine.dispose()
    progress = service.client.get(f"/v1/rescans/{rescan['id']}", headers=admin).json()
    assert progress["status"] == "completed" and progress["done"] == progress["total"]
    bad = service.client.post("/v1/rescans", json={"scope": {"kind": "since"}}, headers=admin)
    assert bad.status_code == 422 and bad.json()["field"] == "scope.value"


def test_health_readiness_and_metrics(service, processed):
    assert service.client.get("/healthz").json() == {"status": "ok"}
    ready = service.client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok", "storage": "ok"}
    text = service.client.get("/metrics").text
    assert 'integrity_webhook_requests_total{outcome="accepted"}' in text
    assert "integrity_queue_depth" in text
    assert 'integrity_decisions{decision="review",reason="",source="policy"}' in text


def test_per_key_rate_limit_answers_429(service):
    from integrity.api.auth import RateLimiter

    service.client.app.state.rate_limiter = RateLimiter(default_per_minute=1, burst=2)
    headers = service.auth(service.service_key)
    statuses = [
        service.client.post(
            "/v1/filter", json={"tracks": [1], "surface": "search"}, headers=headers
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]


def test_admin_lists_the_registry_and_activates_a_version(service):
    admin = service.auth(service.admin_key)
    models = service.client.get("/v1/models", headers=admin).json()["models"]
    assert models, "the repository ships model versions under models/"
    name, version = models[0]["name"], models[0]["version"]
    activated = service.client.post(f"/v1/models/{name}/versions/{version}/activate", headers=admin)
    assert activated.status_code == 200, activated.text
    listed = service.client.get("/v1/models", headers=admin).json()["models"]
    assert next(m for m in listed if (m["name"], m["version"]) == (name, version))["active"]
    missing = service.client.post(f"/v1/models/{name}/versions/0.0.0-none/activate", headers=admin)
    assert missing.status_code == 404 and missing.json()["field"] == "version"
    events = service.client.get("/v1/audit?action=model.activated", headers=admin).json()
    assert events["events"][-1]["after"] == version


def test_a_cancelled_rescan_stops_and_a_stalled_one_is_found_for_resumption(service, processed):
    from datetime import timedelta

    from sqlalchemy import update

    from integrity.db.models import utc_now
    from integrity.db.service_models import Rescan
    from integrity.service import rescans

    admin = service.auth(service.admin_key)
    first = service.client.post("/v1/rescans", json={"scope": {"kind": "all"}}, headers=admin)
    cancelled = service.client.post(f"/v1/rescans/{first.json()['id']}/cancel", headers=admin)
    assert cancelled.json()["status"] == "cancelled"
    second = service.client.post(
        "/v1/rescans", json={"scope": {"kind": "sender", "value": service.sender}}, headers=admin
    ).json()
    engine = create_db_engine(service.settings.database_url)
    factory = session_factory(engine)
    with session_scope(factory) as session:
        assert not rescans.run_batch(
            session, rescan_id=first.json()["id"], settings=service.settings
        )
        session.execute(
            update(Rescan)
            .where(Rescan.id == second["id"])
            .values(updated_at=utc_now() - timedelta(hours=1))
        )
    with session_scope(factory) as session:
        stalled = rescans.stalled_rescans(session, older_than_s=60)
    engine.dispose()
    assert second["id"] in stalled and first.json()["id"] not in stalled
    assert second["total"] == 1  # the sender's scored track; the failed one has nothing to score


def test_decision_audit_names_the_model_versions_that_scored_the_track(service, processed):
    """Not the registry's active versions: the ones recorded on the track when it was scored."""
    from integrity.catalog.pipeline import PIPELINE_VERSION
    from integrity.db.models import Track
    from integrity.db.session import create_db_engine, session_factory, session_scope

    _, ok, _ = processed
    engine = create_db_engine(service.settings.database_url)
    try:
        with session_scope(session_factory(engine)) as session:
            scored_with = dict(session.get(Track, ok["id"]).model_versions)
    finally:
        engine.dispose()
    assert set(scored_with) == {"synthetic", "spam"}
    moderator = service.auth(service.moderator_key)
    decided = service.client.post(
        f"/v1/tracks/{ok['id']}/decision",
        json={"action": "filter", "reason": "test"},
        headers=moderator,
    )
    assert decided.status_code == 200, decided.text
    events = service.client.get(f"/v1/audit?track_id={ok['id']}", headers=moderator).json()[
        "events"
    ]
    by_action = {event["action"]: event for event in events}
    expected = {"pipeline": PIPELINE_VERSION, **scored_with}
    assert by_action["track.scored"]["model_versions"] == expected
    assert by_action["review.filter"]["model_versions"] == expected
