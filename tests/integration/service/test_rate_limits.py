"""Per-key rate limits shared by every API process: token buckets in the real (private) Redis.

Refill is driven by an injected clock, so nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import redis
from fastapi.testclient import TestClient

from integrity.api import create_app
from integrity.api.auth import (
    RATE_LIMIT_KEY,
    RateLimiter,
    RedisRateLimiter,
    build_rate_limiter,
)
from integrity.config import Settings
from tests.service_support import RedisServer, create_accounts, free_port, make_settings

T = TypeVar("T")
PER_MINUTE = 60  # one token a second
BURST = 3
TIMEOUT_S = 1.0  # generous: a loaded test machine must not look like a Redis outage
RETRY_S = 3600.0  # once Redis failed, the test never sees it asked again


class Clock:
    """A settable clock (seconds), shared by the limiters that stand for separate processes."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _limiter(
    url: str, prefix: str, clock: Clock | None = None, fallbacks: list[str] | None = None
) -> RedisRateLimiter:
    return RedisRateLimiter(
        redis_url=url,
        default_per_minute=PER_MINUTE,
        burst=BURST,
        fallback=RateLimiter(default_per_minute=PER_MINUTE, burst=BURST),
        timeout_s=TIMEOUT_S,
        retry_after_failure_s=RETRY_S,
        key_prefix=prefix,
        on_fallback=None if fallbacks is None else fallbacks.append,
        clock=clock,
    )


def _run(body: Callable[[], Awaitable[T]], *limiters: RedisRateLimiter) -> T:
    """Run `body` in one event loop and close the limiters' connections in it."""

    async def main() -> T:
        try:
            return await body()
        finally:
            for limiter in limiters:
                await limiter.aclose()

    return asyncio.run(main())


@pytest.fixture()
def prefix() -> str:
    """Keys of this test only (the Redis server is shared by the test session)."""
    return f"t{secrets.token_hex(4)}."


def test_two_processes_share_one_bucket_and_it_refills_with_time(
    redis_server: RedisServer, prefix: str
) -> None:
    clock = Clock()
    first, second = (
        _limiter(redis_server.url, prefix, clock),
        _limiter(redis_server.url, prefix, clock),
    )

    async def scenario() -> None:
        spent = [
            await first.check(7, None),
            await second.check(7, None),
            await first.check(7, None),
        ]
        assert spent == [0.0, 0.0, 0.0]  # the burst, drawn by both
        assert await second.check(7, None) == pytest.approx(1.0)  # empty for both
        assert await first.check(7, None) == pytest.approx(1.0)
        assert await first.check(8, None) == 0.0  # another key has its own bucket
        clock.now += 0.5
        assert await second.check(7, None) == pytest.approx(0.5)  # half a token so far
        clock.now += 0.5
        assert await second.check(7, None) == 0.0  # one token refilled...
        assert await first.check(7, None) == pytest.approx(1.0)  # ...and spent, for both
        clock.now += 3600.0  # a long pause refills to the burst, never beyond it
        assert [await first.check(7, None) for _ in range(BURST)] == [0.0] * BURST
        assert await second.check(7, None) > 0.0

    _run(scenario, first, second)


def test_a_key_with_its_own_rate_and_the_bucket_expiring_when_idle(
    redis_server: RedisServer, prefix: str
) -> None:
    clock = Clock()
    limiter = _limiter(redis_server.url, prefix, clock)
    fast_per_minute = 600  # ten tokens a second

    async def scenario() -> float:
        for _ in range(BURST):
            await limiter.check(9, fast_per_minute)
        return await limiter.check(9, fast_per_minute)

    assert _run(scenario, limiter) == pytest.approx(0.1)
    client = redis.Redis.from_url(redis_server.url)
    ttl_ms = client.pttl(f"{prefix}{RATE_LIMIT_KEY}9")
    client.close()
    full_refill_ms = BURST / (fast_per_minute / 60) * 1000
    assert full_refill_ms < ttl_ms <= full_refill_ms + 1000  # gone once it would be full again


def test_redis_unreachable_falls_back_to_the_process_bucket() -> None:
    fallbacks: list[str] = []
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    limiter = _limiter(nowhere, "unused.", fallbacks=fallbacks)

    async def scenario() -> list[float]:
        return [await limiter.check(1, None) for _ in range(BURST + 1)]

    waits = _run(scenario, limiter)
    assert waits[:BURST] == [0.0] * BURST and waits[BURST] > 0.0  # still limited, locally
    assert fallbacks == ["redis_error"] + ["redis_retry_wait"] * BURST  # asked Redis once


def _limited_settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    """Service-mode settings with a tiny bucket: two requests, then one a minute."""
    settings = make_settings(tmp_path, database_url, redis_url)
    return settings.model_copy(update={"api_rate_burst": 2, "api_rate_limit_per_minute": 1})


@pytest.fixture()
def two_apps(
    tmp_path: Path, pg_database_url: str, redis_server: RedisServer
) -> Iterator[tuple[TestClient, TestClient, str]]:
    """Two API applications (as two processes would run) on one database and one Redis."""
    settings = _limited_settings(tmp_path, pg_database_url, redis_server.url)
    key = create_accounts(settings, f"limits-{secrets.token_hex(4)}")["service"]
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        yield first, second, key


def test_the_app_answers_429_with_retry_after_across_processes(
    two_apps: tuple[TestClient, TestClient, str],
) -> None:
    first, second, key = two_apps
    assert isinstance(first.app.state.rate_limiter, RedisRateLimiter)  # service mode: Redis
    headers = {"authorization": f"Bearer {key}"}
    body = {"tracks": [1], "surface": "search"}
    answers = [
        client.post("/v1/filter", json=body, headers=headers)
        for client in (first, second, first, second)
    ]
    assert [a.status_code for a in answers] == [200, 200, 429, 429]
    for refused in answers[2:]:
        assert 0 < int(refused.headers["retry-after"]) <= 61  # a token a minute
    metrics = first.get("/metrics").text
    assert 'integrity_rate_limit_fallbacks_total{reason="redis_error"}' not in metrics


@pytest.mark.parametrize(
    ("backend", "sqlite", "expected"),
    [
        ("auto", False, RedisRateLimiter),
        ("auto", True, RateLimiter),
        ("memory", False, RateLimiter),
        ("redis", True, RedisRateLimiter),
    ],
)
def test_the_backend_setting_chooses_the_limiter(
    tmp_path: Path, backend: str, sqlite: bool, expected: type
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}" if sqlite else "postgresql://nowhere/integrity"
    settings = Settings(
        data_dir=tmp_path, database_url=url, api_rate_limit_backend=backend, environment="test"
    )
    assert type(build_rate_limiter(settings)) is expected
