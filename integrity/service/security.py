"""Webhook signatures (Standard Webhooks) and API keys: pure functions, no database, no HTTP.

Webhooks: HMAC-SHA256 over ``{webhook-id}.{webhook-timestamp}.{raw body}`` with the sender's
secret (``whsec_`` + base64 of the key bytes); the ``webhook-signature`` header carries one or
more space-separated ``v1,<base64>`` signatures so a sender can rotate secrets without downtime.
Every comparison uses ``hmac.compare_digest``; the timestamp must be within a tolerance window.

API keys: high-entropy random tokens shown once; only their SHA-256 is stored (a slow hash adds
nothing for 256-bit random secrets and would cost milliseconds on every request).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 (a format prefix, not a secret)
WEBHOOK_SECRET_BYTES = 32
SIGNATURE_VERSION = "v1"
MAX_SIGNATURES = 8  # more candidates than this in one header is an attack, not a rotation
MAX_WEBHOOK_ID_LENGTH = 255

API_KEY_PREFIX = "ik_"
API_KEY_BYTES = 32
API_KEY_DISPLAY_CHARS = 10  # prefix kept in clear so an operator can tell keys apart

ROLE_UPLOADER = "uploader"
ROLE_MODERATOR = "moderator"
ROLE_ADMIN = "admin"
ROLE_SERVICE = "service"  # playlist/recommendation services: read-only filter and tracks

SCOPE_DELIVERIES_WRITE = "deliveries:write"
SCOPE_DELIVERIES_READ = "deliveries:read"
SCOPE_TRACKS_READ = "tracks:read"
SCOPE_REVIEW = "review"
SCOPE_APPEALS_WRITE = "appeals:write"
SCOPE_AUDIT_READ = "audit:read"
SCOPE_FILTER = "filter"
SCOPE_RESCANS = "rescans"
SCOPE_MODELS_ADMIN = "models:admin"

ROLE_SCOPES: dict[str, frozenset[str]] = {
    ROLE_UPLOADER: frozenset(
        {SCOPE_DELIVERIES_WRITE, SCOPE_DELIVERIES_READ, SCOPE_TRACKS_READ, SCOPE_APPEALS_WRITE}
    ),
    ROLE_SERVICE: frozenset({SCOPE_FILTER, SCOPE_TRACKS_READ}),
    ROLE_MODERATOR: frozenset(
        {SCOPE_DELIVERIES_READ, SCOPE_TRACKS_READ, SCOPE_REVIEW, SCOPE_AUDIT_READ, SCOPE_FILTER}
    ),
}
ROLE_SCOPES[ROLE_ADMIN] = frozenset().union(*ROLE_SCOPES.values()) | {
    SCOPE_RESCANS,
    SCOPE_MODELS_ADMIN,
}
ROLES = tuple(sorted(ROLE_SCOPES))


class SignatureError(ValueError):
    """The webhook request is not authentic or not fresh; the message names the header."""


def new_webhook_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    key_bytes = secrets.token_bytes(WEBHOOK_SECRET_BYTES)
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(key_bytes).decode()


def secret_key_bytes(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret."""
    encoded = secret.removeprefix(WEBHOOK_SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise ValueError("webhook secret: not base64 after the whsec_ prefix") from exc


def sign_webhook(*, secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one request."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key_bytes(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def check_webhook_headers(
    *,
    webhook_id: str | None,
    timestamp: str | None,
    signature: str | None,
    now: float,
    tolerance_s: int,
) -> int:
    """Validate the three headers' presence, shape and freshness; return the timestamp."""
    if not webhook_id:
        raise SignatureError("webhook-id header is missing")
    if len(webhook_id) > MAX_WEBHOOK_ID_LENGTH or not webhook_id.isprintable():
        raise SignatureError(
            f"webhook-id header must be 1..{MAX_WEBHOOK_ID_LENGTH} printable characters"
        )
    if not timestamp:
        raise SignatureError("webhook-timestamp header is missing")
    if not signature:
        raise SignatureError("webhook-signature header is missing")
    try:
        stamp = int(timestamp)
    except ValueError as exc:
        raise SignatureError("webhook-timestamp header is not integer seconds") from exc
    if abs(now - stamp) > tolerance_s:
        raise SignatureError(
            f"webhook-timestamp header is outside the ±{tolerance_s} s window (stale or future)"
        )
    return stamp


def parse_signature_header(signature: str) -> list[bytes]:
    """The decoded ``v1`` signatures of a header; other versions and bad base64 are skipped."""
    candidates: list[bytes] = []
    for part in signature.split()[:MAX_SIGNATURES]:
        version, _, value = part.partition(",")
        if version != SIGNATURE_VERSION or not value:
            continue
        try:
            candidates.append(base64.b64decode(value, validate=True))
        except binascii.Error:
            continue
    return candidates


def verify_webhook(
    *, secrets_: Iterable[str], webhook_id: str, timestamp: int, body: bytes, signature: str
) -> bool:
    """True when any ``v1`` signature in the header matches any of the sender's secrets."""
    candidates = parse_signature_header(signature)
    if not candidates:
        return False
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    matched = False
    for secret in secrets_:
        expected = hmac.new(secret_key_bytes(secret), signed, hashlib.sha256).digest()
        for candidate in candidates:
            # No early exit: every pair is compared, so timing says nothing about which matched.
            matched |= hmac.compare_digest(expected, candidate)
    return matched


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A key as shown once to its owner, and what the database keeps of it."""

    key: str
    key_hash: str
    display_prefix: str


def hash_api_key(key: str) -> str:
    """SHA-256 hex of an API key (what the database stores)."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> NewApiKey:
    """A fresh random API key with its stored hash."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(API_KEY_BYTES)
    prefix = key[:API_KEY_DISPLAY_CHARS]
    return NewApiKey(key=key, key_hash=hash_api_key(key), display_prefix=prefix)


def api_key_matches(key: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    return hmac.compare_digest(hash_api_key(key), stored_hash)


def scopes_for(role: str) -> frozenset[str]:
    """The scopes a role grants (unknown roles grant nothing)."""
    return ROLE_SCOPES.get(role, frozenset())
