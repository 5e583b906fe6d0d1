"""The upload webhook against PostgreSQL and a private Redis: signed, capped, idempotent, stored."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest
import redis

from integrity.db.models import Delivery
from integrity.db.service_models import WebhookReceipt
from integrity.db.session import create_db_engine, session_factory
from tests.service_support import (
    TrackSpec,
    make_ern,
    multipart_body,
    signed_headers,
)

pytestmark = pytest.mark.postgres

AUDIO = Path(__file__).resolve().parents[3].parent / "shared" / "audio" / "librosa-data"
SMALL_OGG = AUDIO / "456440__inspectorj__bird-whistling-robin-single-13.ogg"


def _upload(
    service,
    *,
    message_id=None,
    webhook_id=None,
    timestamp=None,
    files=None,
    key=None,
    message=None,
    secret=None,
):
    message_id = message_id or f"MSG-{secrets.token_hex(6)}"
    if message is None:
        message = make_ern(message_id, [TrackSpec("QZTST2600001", "Robin", "robin.ogg")])
    files = {"robin.ogg": SMALL_OGG.read_bytes()} if files is None else files
    body, content_type = multipart_body(message, files)
    headers = signed_headers(
        secret=secret or service.secret,
        body=body,
        content_type=content_type,
        key=key or service.uploader_key,
        webhook_id=webhook_id,
        timestamp=timestamp,
    )
    return service.client.post("/v1/deliveries", content=body, headers=headers), headers


def _rows(service, model):
    engine = create_db_engine(service.settings.database_url)
    try:
        with session_factory(engine)() as session:
            return list(session.query(model).all())
    finally:
        engine.dispose()


def _queue_depth(service, stage: str) -> int:
    client = redis.Redis.from_url(service.settings.redis_url)
    return int(client.llen(f"{service.settings.queue_prefix}{stage}"))


def test_signed_upload_is_stored_registered_and_sent_to_ingest_after_commit(service):
    response, headers = _upload(service)
    assert response.status_code == 202, response.text
    delivery_id = response.json()["delivery_id"]
    assert response.json()["duplicate"] is False
    delivery = next(d for d in _rows(service, Delivery) if d.id == delivery_id)
    stored = Path(delivery.storage_path)
    assert stored.parent == service.settings.storage_dir
    assert (stored / "robin.ogg").read_bytes() == SMALL_OGG.read_bytes()
    assert (stored / delivery.message_filename).read_bytes().startswith(b"<?xml")
    assert delivery.uploader == service.sender and delivery.webhook_id == headers["webhook-id"]
    assert _queue_depth(service, "ingest") == 1
    status = service.client.get(
        f"/v1/deliveries/{delivery_id}", headers=service.auth(service.uploader_key)
    )
    assert status.status_code == 200
    assert status.json()["status"] == "received"
    audit = service.client.get(
        f"/v1/audit?delivery_id={delivery_id}", headers=service.auth(service.moderator_key)
    ).json()["events"]
    assert [e["action"] for e in audit] == ["delivery.received"]
    assert audit[0]["evidence"]["webhook_id"] == headers["webhook-id"]
    # Nothing is left in the spool once the files are stored.
    assert list((service.settings.storage_dir / ".incoming").iterdir()) == []


def test_replayed_webhook_id_and_repeated_message_id_answer_the_same_delivery(service):
    first, headers = _upload(service, message_id="MSG-REPLAY")
    delivery_id = first.json()["delivery_id"]
    again, _ = _upload(service, message_id="MSG-REPLAY", webhook_id=headers["webhook-id"])
    assert again.status_code == 202
    assert again.json() == {"delivery_id": delivery_id, "duplicate": True}
    # A new webhook id carrying the same ERN MessageId is the same delivery too.
    other_ern = make_ern("MSG-REPLAY", [TrackSpec("QZTST2600009", "Other", "robin.ogg")])
    same_message, _ = _upload(service, message=other_ern)
    assert same_message.json() == {"delivery_id": delivery_id, "duplicate": True}
    dirs = [p for p in service.settings.storage_dir.iterdir() if not p.name.startswith(".")]
    assert len(dirs) == 1
    assert _queue_depth(service, "ingest") == 1
    receipts = [r for r in _rows(service, WebhookReceipt) if r.delivery_id == delivery_id]
    assert len(receipts) == 2  # the first call and the new-webhook-id call; the replay adds none


@pytest.mark.parametrize(
    ("change", "status", "fragment"),
    [
        ("bad_signature", 401, "webhook-signature"),
        ("stale_timestamp", 401, "window"),
        ("future_timestamp", 401, "window"),
        ("missing_signature", 401, "webhook-signature header is missing"),
        ("no_auth", 401, "Bearer"),
        ("moderator_key", 403, "may not deliveries:write"),
    ],
)
def test_unsigned_stale_or_unauthorised_uploads_are_refused_and_store_nothing(
    service, change, status, fragment
):
    message = make_ern("MSG-BAD", [TrackSpec("QZTST2600001", "Robin", "robin.ogg")])
    body, content_type = multipart_body(message, {"robin.ogg": b"abc"})
    timestamp = int(time.time())
    if change == "stale_timestamp":
        timestamp -= service.settings.webhook_tolerance_s + 5
    if change == "future_timestamp":
        timestamp += service.settings.webhook_tolerance_s + 5
    headers = signed_headers(
        secret=service.secret,
        body=body,
        content_type=content_type,
        key=service.uploader_key,
        timestamp=timestamp,
    )
    if change == "bad_signature":
        headers["webhook-signature"] = signed_headers(
            secret=service.secret, body=body + b"x", content_type=content_type, key="k"
        )["webhook-signature"]
    if change == "missing_signature":
        del headers["webhook-signature"]
    if change == "no_auth":
        del headers["authorization"]
    if change == "moderator_key":
        headers["authorization"] = f"Bearer {service.moderator_key}"
    response = service.client.post("/v1/deliveries", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert fragment in response.text
    assert _rows(service, Delivery) == [] or all(
        d.uploader != service.sender for d in _rows(service, Delivery)
    )
    assert _queue_depth(service, "ingest") == 0


def test_oversized_bodies_are_refused_before_and_while_reading(service):
    cap = service.settings.webhook_max_body_bytes
    big = {"big.ogg": b"\0" * (cap + 1)}
    declared, _ = _upload(service, files=big)
    assert declared.status_code == 413
    assert "limit" in declared.json()["detail"]
    # Without a Content-Length (chunked), the streamed body is cut at the cap.
    message = make_ern("MSG-CHUNKED", [TrackSpec("QZTST2600001", "Robin", "big.ogg")])
    body, content_type = multipart_body(message, big)
    headers = signed_headers(
        secret=service.secret, body=body, content_type=content_type, key=service.uploader_key
    )
    chunk = 64 * 1024

    def stream():
        for start in range(0, len(body), chunk):
            yield body[start : start + chunk]

    chunked = service.client.post("/v1/deliveries", content=stream(), headers=headers)
    assert chunked.status_code == 413
    assert list((service.settings.storage_dir / ".incoming").iterdir()) == []
    assert _queue_depth(service, "ingest") == 0


@pytest.mark.parametrize(
    ("message", "files", "field"),
    [
        (b"<ern:NewReleaseMessage><unclosed>", {}, "message"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', {}, "message"),
        (None, {"../escape.ogg": b"x"}, "files"),
        (None, {".hidden": b"x"}, "files"),
    ],
)
def test_malformed_xml_and_unsafe_file_names_are_refused_with_the_field_named(
    service, message, files, field
):
    response, _ = _upload(service, message=message, files=files)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert [p for p in service.settings.storage_dir.iterdir() if not p.name.startswith(".")] == []


def test_a_rotated_secret_and_the_old_one_both_verify(service):
    from integrity.db.session import session_scope
    from integrity.service import accounts

    engine = create_db_engine(service.settings.database_url)
    with session_scope(session_factory(engine)) as session:
        sender = accounts.sender_by_name(session, name=service.sender)
        new_secret = accounts.rotate_secret(session, sender=sender, revoke_old=False)
    engine.dispose()
    old, _ = _upload(service)
    new, _ = _upload(service, secret=new_secret)
    assert old.status_code == new.status_code == 202
