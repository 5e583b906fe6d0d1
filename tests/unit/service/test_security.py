"""Webhook signatures (Standard Webhooks) and API keys."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from integrity.service import security

NOW = 1_800_000_000
TOLERANCE_S = 300


def test_signature_matches_the_standard_webhooks_construction():
    secret = security.new_webhook_secret()
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    assert len(key) == security.WEBHOOK_SECRET_BYTES
    body = b'{"a": 1}'
    expected = base64.b64encode(
        hmac.new(key, f"msg_1.{NOW}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    signature = security.sign_webhook(secret=secret, webhook_id="msg_1", timestamp=NOW, body=body)
    assert signature == f"v1,{expected}"


def test_any_of_several_signatures_and_secrets_verifies_for_rotation():
    old, new = security.new_webhook_secret(), security.new_webhook_secret()
    body = b"payload"
    sig_old = security.sign_webhook(secret=old, webhook_id="id", timestamp=NOW, body=body)
    sig_new = security.sign_webhook(secret=new, webhook_id="id", timestamp=NOW, body=body)
    header = f"v1,AAAA {sig_old} {sig_new}"
    assert security.verify_webhook(
        secrets_=[new], webhook_id="id", timestamp=NOW, body=body, signature=header
    )
    assert security.verify_webhook(
        secrets_=[old, new], webhook_id="id", timestamp=NOW, body=body, signature=sig_old
    )


@pytest.mark.parametrize(
    ("webhook_id", "timestamp", "body"),
    [("other", NOW, b"payload"), ("id", NOW + 1, b"payload"), ("id", NOW, b"payload!")],
)
def test_any_change_to_id_timestamp_or_body_breaks_the_signature(webhook_id, timestamp, body):
    secret = security.new_webhook_secret()
    signature = security.sign_webhook(
        secret=secret, webhook_id="id", timestamp=NOW, body=b"payload"
    )
    assert not security.verify_webhook(
        secrets_=[secret],
        webhook_id=webhook_id,
        timestamp=timestamp,
        body=body,
        signature=signature,
    )


@pytest.mark.parametrize("header", ["", "v2,abc", "v1,", "v1,not base64!!", "garbage"])
def test_malformed_signature_headers_never_verify(header):
    secret = security.new_webhook_secret()
    assert not security.verify_webhook(
        secrets_=[secret], webhook_id="id", timestamp=NOW, body=b"x", signature=header
    )


def test_header_checks_name_the_failing_header():
    good = {"webhook_id": "id", "timestamp": str(NOW), "signature": "v1,x"}
    assert security.check_webhook_headers(**good, now=NOW, tolerance_s=TOLERANCE_S) == NOW
    cases = {
        "webhook-id": {**good, "webhook_id": None},
        "webhook-timestamp header is missing": {**good, "timestamp": ""},
        "webhook-signature": {**good, "signature": None},
        "not integer": {**good, "timestamp": "soon"},
    }
    for fragment, headers in cases.items():
        with pytest.raises(security.SignatureError, match=fragment):
            security.check_webhook_headers(**headers, now=NOW, tolerance_s=TOLERANCE_S)


@pytest.mark.parametrize("offset", [-TOLERANCE_S - 1, TOLERANCE_S + 1])
def test_stale_or_future_timestamps_are_refused(offset):
    with pytest.raises(security.SignatureError, match="window"):
        security.check_webhook_headers(
            webhook_id="id",
            timestamp=str(NOW + offset),
            signature="v1,x",
            now=NOW,
            tolerance_s=TOLERANCE_S,
        )


def test_api_keys_are_random_and_stored_only_as_sha256():
    first, second = security.new_api_key(), security.new_api_key()
    assert first.key != second.key
    assert first.key_hash == hashlib.sha256(first.key.encode()).hexdigest()
    assert first.key not in first.key_hash
    assert first.key.startswith(first.display_prefix)
    assert security.api_key_matches(first.key, first.key_hash)
    assert not security.api_key_matches(second.key, first.key_hash)


def test_roles_are_scopes_and_admin_has_them_all():
    assert security.SCOPE_DELIVERIES_WRITE in security.scopes_for("uploader")
    assert security.SCOPE_REVIEW not in security.scopes_for("uploader")
    assert security.SCOPE_REVIEW in security.scopes_for("moderator")
    assert security.SCOPE_RESCANS not in security.scopes_for("moderator")
    every_scope = set().union(*security.ROLE_SCOPES.values())
    assert security.scopes_for("admin") == every_scope
    assert security.scopes_for("nobody") == frozenset()
