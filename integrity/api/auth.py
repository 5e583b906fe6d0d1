"""Authentication (Bearer API keys stored hashed), roles as scopes, per-key rate limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from integrity import security
from integrity.db.service_models import ApiKey, Sender
from integrity.service_errors import ServiceError

AUTH_CACHE_TTL_S = 30.0  # a revoked key stops working within this long
SECONDS_PER_MINUTE = 60.0
BEARER = "bearer"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, role, scopes and (for uploaders) the sender it names."""

    key_id: int
    name: str
    role: str
    scopes: frozenset[str]
    sender: Sender | None
    rate_per_minute: int | None


class KeyCache:
    """key hash → Principal for a short time, so hot paths skip the lookup query."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> tuple[bool, Principal | None]:
        with self._lock:
            entry = self._entries.get(key_hash)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key_hash: str, principal: Principal | None) -> None:
        with self._lock:
            self._entries[key_hash] = (time.monotonic() + AUTH_CACHE_TTL_S, principal)


class RateLimiter:
    """A token bucket per key: `burst` at once, refilled at the key's rate per minute."""

    def __init__(self, *, default_per_minute: int, burst: int) -> None:
        self._default = default_per_minute
        self._burst = burst
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key_id: int, per_minute: int | None) -> float:
        """0.0 when the request may go on, else the seconds to wait."""
        rate = (per_minute or self._default) / SECONDS_PER_MINUTE
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self._burst), now))
            tokens = min(float(self._burst), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / rate


def lookup_principal(session: Session, *, key: str) -> Principal | None:
    """The live key matching a presented key, or None."""
    row = session.scalars(
        select(ApiKey).where(
            ApiKey.key_hash == security.hash_api_key(key), ApiKey.revoked_at.is_(None)
        )
    ).first()
    if row is None or not security.api_key_matches(key, row.key_hash):
        return None
    sender = session.get(Sender, row.sender_id) if row.sender_id is not None else None
    if sender is not None:
        session.expunge(sender)
    return Principal(
        key_id=row.id,
        name=row.name or row.display_prefix,
        role=row.role,
        scopes=security.scopes_for(row.role),
        sender=sender,
        rate_per_minute=row.rate_per_minute,
    )


async def authenticate(request: Request) -> Principal:
    """The caller behind `Authorization: Bearer KEY` (401 otherwise), rate limited (429)."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != BEARER or not key.strip():
        raise HTTPException(
            401, "authorization: send 'Bearer <API key>'", {"WWW-Authenticate": "Bearer"}
        )
    key = key.strip()
    state = request.app.state
    key_hash = security.hash_api_key(key)
    cached, principal = state.key_cache.get(key_hash)
    if not cached:

        def lookup() -> Principal | None:
            with state.sessions() as session:
                return lookup_principal(session, key=key)

        # Async with one thread hop only on a cache miss: sync dependencies would cost a
        # threadpool round trip on every request.
        principal = await run_in_threadpool(lookup)
        state.key_cache.put(key_hash, principal)
    if principal is None:
        raise HTTPException(401, "authorization: unknown or revoked API key")
    wait_s = state.rate_limiter.allow(principal.key_id, principal.rate_per_minute)
    if wait_s > 0:
        raise HTTPException(
            429, "rate limit exceeded for this API key", {"Retry-After": str(int(wait_s) + 1)}
        )
    return principal


def require(scope: str) -> Callable[..., Principal]:
    """A dependency that lets through callers whose role grants `scope` (403 otherwise)."""

    async def dependency(principal: Principal = Depends(authenticate)) -> Principal:  # noqa: B008
        if scope not in principal.scopes:
            raise ServiceError(403, "authorization", f"role {principal.role!r} may not {scope}")
        return principal

    return dependency
