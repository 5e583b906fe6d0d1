"""The moderator console against PostgreSQL through the app: sign-in and sessions, CSRF, roles,
the queue's filters and its SQL risk (the same as the review API's), decisions with conflicts,
bulk actions, undo, live counts shared with /metrics. The browser flow is in tests/e2e/console."""

from __future__ import annotations

import re
import secrets
from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from integrity.api import create_app
from integrity.db.models import Finding
from integrity.db.service_models import AuditEvent, ReviewClaim
from integrity.db.session import create_db_engine, session_factory, session_scope
from integrity.service import moderation, review
from integrity.service.errors import ServiceError
from tests.console_support import seed_queue

pytestmark = pytest.mark.postgres

CSRF_RE = re.compile(r'data-csrf="([^"]+)"')
LOGIN_CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def sign_in(client: TestClient, key: str) -> str:
    """Sign in through the form; the session's CSRF token."""
    form = client.get("/console/login")
    token = LOGIN_CSRF_RE.search(form.text).group(1)
    response = client.post(
        "/console/login",
        data={"api_key": key, "csrf": token, "next": "/console/queue"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = client.get("/console/queue")
    assert page.status_code == 200
    return CSRF_RE.search(page.text).group(1)


@pytest.fixture()
def db(service):
    engine = create_db_engine(service.settings.database_url)
    factory = session_factory(engine)
    yield factory
    engine.dispose()


def seed(db, **kwargs):
    with session_scope(db) as session:
        return seed_queue(session, **kwargs)


@pytest.fixture()
def browser(service):
    """Open another browser: its own app instance and cookie jar (each with its own event loop,
    as separate API processes would be)."""
    with ExitStack() as stack:

        def open_browser() -> TestClient:
            return stack.enter_context(TestClient(create_app(service.settings)))

        yield open_browser


def test_sign_in_sets_a_strict_session_cookie_and_refuses_other_roles(service, browser):
    client = browser()
    page = client.get("/console/queue", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/console/login")
    for key, status in ((service.uploader_key, 403), (service.service_key, 403), ("ik_nope", 401)):
        form = client.get("/console/login")
        token = LOGIN_CSRF_RE.search(form.text).group(1)
        refused = client.post("/console/login", data={"api_key": key, "csrf": token})
        assert refused.status_code == status
        assert "integrity_console=" not in refused.headers.get("set-cookie", "")
    # The sign-in form's own CSRF check: a token that is not this browser's cookie.
    forged = browser().post(
        "/console/login", data={"api_key": service.moderator_key, "csrf": "forged"}
    )
    assert forged.status_code == 403

    form = client.get("/console/login")
    token = LOGIN_CSRF_RE.search(form.text).group(1)
    response = client.post(
        "/console/login",
        data={"api_key": service.moderator_key, "csrf": token, "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/console/queue"  # no open redirect
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("integrity_console=")
    ).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=28800" in cookie
    page = client.get("/console/queue")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "default-src 'none'" in policy
    assert "<script>" not in page.text and " on" + "click=" not in page.text


def test_csrf_is_required_and_sign_out_ends_the_session_server_side(service, db, browser):
    seeded = seed(db, sender="csrf-sender", count=1, kind="spam")
    client = browser()
    csrf = sign_in(client, service.moderator_key)
    track_id = seeded.track_ids[0]
    for token in ("", "not-the-token"):
        refused = client.post(
            f"/console/tracks/{track_id}/decision",
            data={"csrf": token, "action": "remove", "reason": "spam"},
        )
        assert refused.status_code == 403
        assert "csrf" in refused.text
    with session_scope(db) as session:
        assert moderation.last_state_event(session, track_id=track_id) is None

    # A track without analysed audio has no plot to show: a plain 404, not an error page.
    for media in ("artifacts.png", "artifacts.json"):
        missing = client.get(f"/console/tracks/{track_id}/{media}")
        assert missing.status_code == 404 and missing.json()["field"] == "track_id", media

    cookie = client.cookies.get("integrity_console")
    out = client.post("/console/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    replay = browser()
    replay.cookies.set("integrity_console", cookie, path="/console")
    assert replay.get("/console/queue", follow_redirects=False).status_code == 303
    # Audio, both plots and the plot's peaks: signed-in moderators only.
    for media in ("audio", "spectrogram.png", "artifacts.png", "artifacts.json"):
        assert replay.get(f"/console/tracks/{track_id}/{media}").status_code == 401, media


def test_queue_risk_in_sql_matches_the_review_api_and_filters_work(service, db, browser):
    sender = f"filter-{secrets.token_hex(3)}"
    dup = seed(db, sender=sender, count=3, kind="duplicate", score=0.7, waited_s=7200)
    spam = seed(db, sender=sender, count=2, kind="spam")
    with session_scope(db) as session:
        page = moderation.queue_page(
            session, queue_filter=moderation.QueueFilter(sender=sender), limit=500
        )
        by_id = {row.track_id: row for row in page.rows}
        for track_id in dup.track_ids + spam.track_ids:
            rows = session.execute(
                select(Finding.code, Finding.severity, Finding.evidence).where(
                    Finding.track_id == track_id
                )
            ).all()
            assert by_id[track_id].risk == review.risk_of([tuple(r) for r in rows])[0]
        assert by_id[dup.track_ids[0]].risk == 0.7
        assert by_id[spam.track_ids[0]].risk == 0.7  # 0.6 + 2 × 0.05
        assert by_id[dup.track_ids[0]].top_code == "duplicate_audio"
        assert page.total == 5

        def ids(**kwargs):
            chosen = moderation.QueueFilter(sender=sender, **kwargs)
            return [r.track_id for r in moderation.queue_page(session, queue_filter=chosen).rows]

        assert sorted(ids(reason=moderation.ReasonFamily.SPAM)) == spam.track_ids
        assert sorted(ids(reason=moderation.ReasonFamily.DUPLICATE)) == dup.track_ids
        assert ids(reason=moderation.ReasonFamily.AI) == []
        assert sorted(ids(min_age_s=3600)) == dup.track_ids
        assert ids(sort=moderation.QueueSort.OLDEST)[:3] == dup.track_ids
        assert ids(sort=moderation.QueueSort.NEWEST)[-3:] == list(reversed(dup.track_ids))
        assert ids(min_risk=0.71) == []
        assert sorted(ids(delivery_id=spam.delivery_id)) == spam.track_ids

    client = browser()
    sign_in(client, service.moderator_key)
    page = client.get("/console/queue", params={"sender": sender, "reason": "spam"})
    assert page.status_code == 200
    assert all(f'id="row-{i}"' in page.text for i in spam.track_ids)
    assert not any(f'id="row-{i}"' in page.text for i in dup.track_ids)
    assert "catalog spam" in page.text
    bad = client.get("/console/queue", params={"min_risk": "2"})
    assert bad.status_code == 422 and "min_risk" in bad.text


def test_decision_changes_the_filter_and_a_stale_page_is_told_of_the_conflict(service, db, browser):
    seeded = seed(db, sender="conflict-sender", count=2, kind="spam")
    first, second = seeded.track_ids
    ann, bob = browser(), browser()
    ann_csrf = sign_in(ann, service.moderator_key)
    bob_csrf = sign_in(bob, service.admin_key)
    bob_page = bob.get(f"/console/tracks/{first}")  # bob looks first, then his claim lapses
    seen = re.search(r'name="seen_event_id" value="(\d+)"', bob_page.text).group(1)
    with session_scope(db) as session:
        session.delete(session.get(ReviewClaim, first))
    ann.get(f"/console/tracks/{first}")
    decided = ann.post(
        f"/console/tracks/{first}/decision",
        data={"csrf": ann_csrf, "action": "remove", "reason": "spam", "seen_event_id": "0"},
        follow_redirects=False,
    )
    assert decided.status_code == 303
    assert decided.headers["location"].startswith(f"/console/tracks/{second}")  # submit & next
    filtered = service.client.post(
        "/v1/filter",
        json={"tracks": [first], "surface": "search"},
        headers=service.auth(service.service_key),
    ).json()["results"][0]
    assert (filtered["keep"], filtered["decision"]) == (False, "block")

    stale = bob.post(
        f"/console/tracks/{first}/decision",
        data={"csrf": bob_csrf, "action": "approve", "reason": "ok", "seen_event_id": seen},
    )
    assert stale.status_code == 409
    assert "moderator-1 decided remove (spam)" in stale.text
    with session_scope(db) as session:
        assert moderation.last_state_event(session, track_id=first).actor == "moderator-1"


def test_bulk_on_a_filter_is_one_event_per_track_and_undo_reverses_it(service, db, browser):
    sender = f"bulk-{secrets.token_hex(3)}"
    spam = seed(db, sender=sender, count=4, kind="spam")
    other = seed(db, sender=f"{sender}-other", count=1, kind="spam")
    client = browser()
    csrf = sign_in(client, service.moderator_key)
    admin = browser()
    sign_in(admin, service.admin_key)
    admin.get(f"/console/tracks/{spam.track_ids[0]}")  # claimed by someone else: skipped
    result = client.post(
        "/console/bulk",
        data={
            "csrf": csrf,
            "scope": "matching",
            "sender": sender,
            "action": "remove",
            "reason": "spam",
        },
    )
    assert result.status_code == 200
    assert "claimed by admin-1" in result.text
    with session_scope(db) as session:
        events = session.scalars(
            select(AuditEvent).where(
                AuditEvent.track_id.in_(spam.track_ids + other.track_ids),
                AuditEvent.action == "review.remove",
            )
        ).all()
        assert sorted(e.track_id for e in events) == spam.track_ids[1:]
        undoable = moderation.last_undoable(session, actor="moderator-1", window_s=60)
        assert sorted(e.track_id for e in undoable) == spam.track_ids[1:]
    page = client.get("/console/queue")
    assert "on 3 tracks" in page.text and 'id="undo-button"' in page.text

    undone = client.post("/console/undo", data={"csrf": csrf}, follow_redirects=False)
    assert undone.status_code == 303
    results = service.client.post(
        "/v1/filter",
        json={"tracks": spam.track_ids, "surface": "search"},
        headers=service.auth(service.service_key),
    ).json()["results"]
    assert [r["decision"] for r in results] == ["review"] * 4
    with session_scope(db) as session:
        reversals = session.scalars(
            select(AuditEvent).where(
                AuditEvent.track_id.in_(spam.track_ids), AuditEvent.action == "review.undo"
            )
        ).all()
        assert sorted(e.track_id for e in reversals) == spam.track_ids[1:]
        assert all(e.before == "block" and e.after == "review" for e in reversals)
    again = client.post("/console/undo", data={"csrf": csrf})
    assert again.status_code == 409 and "nothing to undo" in again.text


def test_undo_restores_the_previous_human_decision_and_reopens_appeals(service, db, browser):
    seeded = seed(db, sender="undo-sender", count=1, kind="duplicate")
    (track_id,) = seeded.track_ids
    with session_scope(db) as session:
        review.decide(
            session,
            track_id=track_id,
            action="escalate",
            reason="needs_second_opinion",
            note=None,
            actor="lead",
            role="moderator",
        )
    with session_scope(db) as session:
        seen = moderation.last_state_event(session, track_id=track_id).id
        moderation.decide_unless_changed(
            session,
            track_id=track_id,
            action="approve",
            reason="ok",
            note=None,
            actor="ann",
            role="moderator",
            seen_event_id=seen,
        )
    with session_scope(db) as session:
        (reversal,) = moderation.undo_last(session, actor="ann", role="moderator", window_s=60)
        assert (reversal.before, reversal.after) == ("clear", "escalated")
    with session_scope(db) as session:
        detail = review.track_detail(session, track_id=track_id)
        assert detail["decision"] == "escalated" and detail["moderation"]["actor"] == "lead"
        with pytest.raises(ServiceError, match="nothing to undo"):
            moderation.undo_last(session, actor="lead", role="moderator", window_s=0)


def test_counts_are_the_metrics_numbers_and_models_page_is_admin_only(service, db, browser):
    seed(db, sender="count-sender", count=2, kind="spam", waited_s=600)
    client = browser()
    sign_in(client, service.moderator_key)
    counts = client.get("/console/counts").json()
    metrics = service.client.get("/metrics").text
    depth = re.search(r"^integrity_review_queue_depth (\S+)$", metrics, re.M).group(1)
    assert float(depth) == counts["queue_depth"] >= 2
    assert counts["oldest_waiting_s"] >= 600
    assert re.search(r"^integrity_review_decided_today \S+$", metrics, re.M)
    assert client.get("/console/models").status_code == 403
    admin = browser()
    sign_in(admin, service.admin_key)
    models = admin.get("/console/models")
    assert models.status_code == 200 and "synthetic" in models.text


def test_appeal_shows_the_statement_beside_the_evidence_and_requeues(service, db, browser):
    seeded = seed(db, sender=service.sender, count=1, kind="spam")
    (track_id,) = seeded.track_ids
    client = browser()
    csrf = sign_in(client, service.moderator_key)
    client.get(f"/console/tracks/{track_id}")
    client.post(
        f"/console/tracks/{track_id}/decision",
        data={"csrf": csrf, "action": "remove", "reason": "spam", "seen_event_id": "0"},
    )
    appeal = service.client.post(
        f"/v1/tracks/{track_id}/appeals",
        json={"reason": "original_work", "note": "We own the masters; see contract 42."},
        headers=service.auth(service.uploader_key),
    )
    assert appeal.status_code == 201, appeal.text
    page = client.get("/console/appeals")
    assert page.status_code == 200
    assert "We own the masters; see contract 42." in page.text
    assert "spam title hashtag" in page.text  # the evidence beside it
    queue = client.get("/console/queue", params={"sender": service.sender})
    assert f'id="row-{track_id}"' in queue.text and "appealed" in queue.text
    mine = client.get("/console/mine")
    assert "review.remove" in mine.text
