"""Authentication (Bearer API keys stored hashed), roles as scopes, per-key rate limits.

Rate limits are token buckets per API key. In service mode the buckets live in Redis, so every
API process draws from the same one (N processes would otherwise allow N times the rate); the
in-memory buckets serve the embedded default and stand in while Redis is unreachable.

A key the cache does not know costs a database lookup, so such requests also draw from a bucket
per client address: a caller trying made-up keys is answered 429 before it reaches the database,
and the key cache (an LRU of bounded size) cannot be grown by them without bound.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Protocol

import redis.asyncio
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.orm import Session

from integrity.api.errors import RequestRefused
from integrity.config import Settings
from integrity.db.service_models import ApiKey, Sender
from integrity.service import security
from integrity.service.errors import ServiceError

logger = logging.getLogger(__name__)

AUTH_CACHE_TTL_S = 30.0  # a revoked key stops working within this long
SECONDS_PER_MINUTE = 60.0
MILLISECONDS_PER_SECOND = 1000.0
BUCKET_TTL_SLACK_MS = 1000  # kept this much longer than a full refill takes
RATE_LIMIT_KEY = "integrity:ratelimit:"  # + API key id (after the deployment's prefix)
ADDRESS_BUCKET = "addr:"  # + client address: the bucket of requests with keys not cached
UNKNOWN_ADDRESS = "unknown"  # a transport that reports no client address
BEARER = "bearer"

Bucket = int | str  # an API key id, or ADDRESS_BUCKET + a client address


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
    """key hash → Principal for a short time, so hot paths skip the lookup query.

    At most `max_entries` are kept, least recently used evicted first: unknown keys are cached
    too (as None), and without a bound every made-up key would stay in memory for the TTL.
    """

    def __init__(self, *, max_entries: int) -> None:
        self._entries: OrderedDict[str, tuple[float, Principal | None]] = OrderedDict()
        self._max_entries = max_entries
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> tuple[bool, Principal | None]:
        with self._lock:
            entry = self._entries.get(key_hash)
            if entry is None:
                return False, None
            if entry[0] < time.monotonic():
                del self._entries[key_hash]
                return False, None
            self._entries.move_to_end(key_hash)
        return True, entry[1]

    def put(self, key_hash: str, principal: Principal | None) -> None:
        with self._lock:
            self._entries[key_hash] = (time.monotonic() + AUTH_CACHE_TTL_S, principal)
            self._entries.move_to_end(key_hash)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


MAX_LOCAL_BUCKETS = 100_000  # per process; the least recently used bucket goes first


class RateLimiter:
    """A token bucket per key: `burst` at once, refilled at the key's rate per minute.

    At most `max_buckets` are kept (least recently used dropped: a dropped bucket comes back
    full, which only matters for a bucket idle while `max_buckets` others were used)."""

    def __init__(
        self, *, default_per_minute: int, burst: int, max_buckets: int = MAX_LOCAL_BUCKETS
    ) -> None:
        self._default = default_per_minute
        self._burst = burst
        self._max_buckets = max_buckets
        self._buckets: OrderedDict[Bucket, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key_id: Bucket, per_minute: int | None) -> float:
        """0.0 when the request may go on, else the seconds to wait."""
        rate = (per_minute or self._default) / SECONDS_PER_MINUTE
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key_id, (float(self._burst), now))
            tokens = min(float(self._burst), tokens + (now - last) * rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate
            self._buckets[key_id] = (tokens - 1.0 if tokens >= 1.0 else tokens, now)
            self._buckets.move_to_end(key_id)
            while len(self._buckets) > self._max_buckets:
                self._buckets.popitem(last=False)
            return wait

    async def check(self, key_id: Bucket, per_minute: int | None) -> float:
        """`allow` for `authenticate`, which awaits whichever limiter the app holds."""
        return self.allow(key_id, per_minute)

    async def aclose(self) -> None:
        """Nothing to close (the Redis limiter's counterpart)."""


class AsyncRateLimit(Protocol):
    """What `authenticate` needs: seconds to wait for this key (0.0: go on)."""

    async def check(self, key_id: Bucket, per_minute: int | None) -> float: ...

    async def aclose(self) -> None: ...


# One atomic step of a token bucket, so concurrent API processes never both spend the last
# token: refill by the time since the last call, spend one token or say how long to wait.
# Redis's clock is used unless the caller passes one (tests), so API hosts whose clocks
# disagree still agree on the refill. The wait is returned as a string: Redis would truncate a
# Lua number to an integer. The key expires once a full refill has passed (a missing bucket is
# a full one), so idle keys cost no memory.
BUCKET_SCRIPT_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[4])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
if now > at then
  tokens = math.min(burst, tokens + (now - at) * rate)
  at = now
end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
           'at', string.format('%.17g', at))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return string.format('%.17g', wait)
"""


class RedisRateLimiter:
    """The token bucket of `RateLimiter`, kept in Redis and shared by every API process.

    One EVALSHA per request (a single round trip on the filter hot path), on an asyncio
    client so waiting for Redis never blocks the event loop.

    When Redis cannot answer within `timeout_s`, the request is decided by the process-local
    `fallback` bucket instead, and Redis is left alone for `retry_after_failure_s`: a rate
    limiter protects capacity, not secrets, so a Redis outage must not turn into an API outage
    (failing closed would stop the playlist services' filter calls), and the local buckets still
    bound each key to N times its rate across N processes rather than letting it run unlimited.
    Each failure is logged as a warning and counted through `on_fallback` (a Prometheus counter
    in the app); requests decided locally while waiting to retry are counted too.
    """

    def __init__(
        self,
        *,
        redis_url: str,
        default_per_minute: int,
        burst: int,
        fallback: RateLimiter,
        timeout_s: float,
        retry_after_failure_s: float,
        key_prefix: str = "",
        on_fallback: Callable[[str], None] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._url = redis_url
        self._default = default_per_minute
        self._burst = burst
        self._fallback = fallback
        self._timeout_s = timeout_s
        self._retry_after_failure_s = retry_after_failure_s
        self._key_prefix = key_prefix + RATE_LIMIT_KEY
        self._on_fallback = on_fallback or (lambda _reason: None)
        self._clock = clock
        self._client: redis.asyncio.Redis | None = None
        self._script: AsyncScript | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._redis_down_until = 0.0  # time.monotonic() before which Redis is not asked

    async def check(self, key_id: Bucket, per_minute: int | None) -> float:
        """0.0 when the request may go on, else the seconds to wait (as `RateLimiter`)."""
        if time.monotonic() < self._redis_down_until:
            self._on_fallback("redis_retry_wait")
            return self._fallback.allow(key_id, per_minute)
        try:
            return await self._spend(key_id, per_minute or self._default)
        except (RedisError, OSError) as exc:  # OSError covers refused connects and timeouts
            now = time.monotonic()
            if now >= self._redis_down_until:  # the requests in flight fail together: log once
                logger.warning(
                    "rate limiter: Redis unreachable, per-process buckets for %.0f s",
                    self._retry_after_failure_s,
                    extra={"error": f"{type(exc).__name__}: {exc}"},
                )
            self._redis_down_until = now + self._retry_after_failure_s
            self._on_fallback("redis_error")
            return self._fallback.allow(key_id, per_minute)

    async def _spend(self, key_id: Bucket, per_minute: int) -> float:
        rate_per_s = per_minute / SECONDS_PER_MINUTE
        full_refill_ms = math.ceil(self._burst / rate_per_s * MILLISECONDS_PER_SECOND)
        args: list[str | int] = [
            repr(rate_per_s),
            self._burst,
            full_refill_ms + BUCKET_TTL_SLACK_MS,
        ]
        if self._clock is not None:
            args.append(repr(self._clock()))
        wait = await self._script_for_running_loop()(
            keys=[f"{self._key_prefix}{key_id}"], args=args
        )
        return float(wait)

    def _script_for_running_loop(self) -> AsyncScript:
        """The registered script on a client of the running event loop.

        asyncio connections belong to the loop that opened them; a server runs one loop per
        process, but a caller that drives the app from several loops gets a client per loop.
        """
        loop = asyncio.get_running_loop()
        if self._script is None or self._loop is not loop:
            self._client = redis.asyncio.Redis.from_url(
                self._url,
                socket_timeout=self._timeout_s,
                socket_connect_timeout=self._timeout_s,
                retry=Retry(NoBackoff(), 0),  # no retries: the fallback decides instead
            )
            self._script = self._client.register_script(BUCKET_SCRIPT_LUA)
            self._loop = loop
        return self._script

    async def aclose(self) -> None:
        """Close the Redis connections (at application shutdown); a close that times out
        (the 0.1-s socket timeout on a loaded host) is logged, not raised: nothing is lost."""
        if self._client is not None:
            try:
                await self._client.aclose()
            except (RedisError, OSError) as exc:
                logger.info("rate limiter: Redis close failed", extra={"error": repr(exc)})
        self._client = self._script = self._loop = None


def build_rate_limiter(
    settings: Settings,
    *,
    on_fallback: Callable[[str], None] | None = None,
    per_minute: int | None = None,
    burst: int | None = None,
) -> RateLimiter | RedisRateLimiter:
    """The limiter `api_rate_limit_backend` asks for ("auto": Redis unless embedded SQLite),
    at the per-key rate and burst unless others are given (the per-address limiter)."""
    per_minute = per_minute or settings.api_rate_limit_per_minute
    burst = burst or settings.api_rate_burst
    local = RateLimiter(default_per_minute=per_minute, burst=burst)
    backend = settings.api_rate_limit_backend
    if backend == "auto":
        backend = "memory" if settings.is_sqlite else "redis"
    if backend == "memory":
        return local
    return RedisRateLimiter(
        redis_url=settings.redis_url,
        default_per_minute=per_minute,
        burst=burst,
        fallback=local,
        timeout_s=settings.api_rate_limit_redis_timeout_s,
        retry_after_failure_s=settings.api_rate_limit_redis_retry_s,
        key_prefix=settings.queue_prefix,
        on_fallback=on_fallback,
    )


def lookup_principal(session: Session, *, key: str) -> Principal | None:
    """The live key matching a presented key, or None."""
    row = session.scalars(
        select(ApiKey).where(
            ApiKey.key_hash == security.hash_api_key(key), ApiKey.revoked_at.is_(None)
        )
    ).first()
    if row is None or not security.api_key_matches(key, row.key_hash):
        return None
    return principal_of(session, row)


def principal_of(session: Session, row: ApiKey) -> Principal:
    """The Principal of a live key row (the console rebuilds it from its session's key)."""
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
        raise RequestRefused(
            401, "authorization", "send 'Bearer <API key>'", {"WWW-Authenticate": "Bearer"}
        )
    key = key.strip()
    state = request.app.state
    key_hash = security.hash_api_key(key)
    cached, principal = state.key_cache.get(key_hash)
    if principal is None:
        # Not a key known to be good: it costs a lookup (or is a known-bad one), so it draws
        # from the client address's bucket before the database is asked.
        address = request.client.host if request.client else UNKNOWN_ADDRESS
        address_limiter: AsyncRateLimit = state.address_rate_limiter
        wait_s = await address_limiter.check(ADDRESS_BUCKET + address, None)
        if wait_s > 0:
            raise RequestRefused(
                429,
                "authorization",
                "too many requests with unknown keys from this address",
                {"Retry-After": str(int(wait_s) + 1)},
            )
    if not cached:

        def lookup() -> Principal | None:
            with state.sessions() as session:
                return lookup_principal(session, key=key)

        # Async with one thread hop only on a cache miss: sync dependencies would cost a
        # threadpool round trip on every request.
        principal = await run_in_threadpool(lookup)
        state.key_cache.put(key_hash, principal)
    if principal is None:
        raise RequestRefused(
            401, "authorization", "unknown or revoked API key", {"WWW-Authenticate": "Bearer"}
        )
    if principal.sender is not None and principal.sender.disabled:
        # Within AUTH_CACHE_TTL_S of `integrity senders disable`; intake re-reads the row.
        raise ServiceError(403, "sender", f"sender {principal.sender.name!r} is disabled")
    limiter: AsyncRateLimit = state.rate_limiter
    wait_s = await limiter.check(principal.key_id, principal.rate_per_minute)
    if wait_s > 0:
        raise RequestRefused(
            429,
            "authorization",
            "rate limit exceeded for this API key",
            {"Retry-After": str(int(wait_s) + 1)},
        )
    return principal


def require(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets through callers whose role grants `scope` (403 otherwise)."""

    async def dependency(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if scope not in principal.scopes:
            raise ServiceError(403, "authorization", f"role {principal.role!r} may not {scope}")
        return principal

    return dependency
