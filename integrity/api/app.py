"""The FastAPI application: settings, database sessions, the task sender, metrics and routes."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from celery import Celery
from fastapi import FastAPI
from sqlalchemy import Engine, create_engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from integrity import __version__, console
from integrity.api.auth import KeyCache, build_rate_limiter
from integrity.api.errors import install_error_handlers
from integrity.api.routes import ROUTERS
from integrity.api.server import RequestBodyGuard
from integrity.config import Settings, get_settings
from integrity.db.session import create_db_engine, session_factory
from integrity.service.metrics import ServiceMetrics, StateCollector
from integrity.service.queues import STAGES, create_celery, queue_name

logger = logging.getLogger(__name__)

DESCRIPTION = """Catalog integrity service: the upload webhook, moderator review with an
append-only audit log, and a fast filter API for playlist, search and editorial surfaces.

**Authentication.** API keys travel as `Authorization: Bearer KEY`. Roles are scopes:
`uploader` (deliveries, own tracks, appeals), `moderator` (review, audit, filter),
`service` (filter, tracks), `admin` (everything, rescans, model activation). Keys are created
once with `integrity keys create --role ROLE --json` and stored as SHA-256 hashes. Each key is
rate limited (429 with Retry-After): one token bucket per key, in service mode kept in Redis
and shared by every API process.

**Upload webhook** `POST /v1/deliveries`: multipart with the ERN message in field `message` and
the audio files in field `files` (file names as the message references them). Signed per
Standard Webhooks: `webhook-id`, `webhook-timestamp` (Unix seconds, ±300 s) and
`webhook-signature: v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{raw body}">`
with the sender's `whsec_` secret (`integrity senders add NAME --json`); several
space-separated signatures are accepted during a secret rotation. Answers 202
`{"delivery_id": N, "duplicate": false}`; a replayed webhook id, the same ERN MessageId or the
same bytes from the same sender answers the first delivery's id with `"duplicate": true` (ids
and bytes are per sender). The delivery belongs to the signing sender; its ERN's MessageSender
DPID must be one registered for it (`integrity senders add-dpid`). Errors name the field: 401
signature/timestamp, 403 role or disabled sender, 413 body over the cap (checked before
reading), 415/400 multipart, 422 malformed ERN, unsafe file names or an unregistered
`MessageHeader/MessageSender/PartyId`.

**Filter** `POST /v1/filter` `{"tracks": [ids or ISRCs], "surface": "recommendation"|"search"|
"editorial"}` → `{"results": [{"track", "keep", "decision", "reasons", "track_ids"}]}`; the
moderator's decision, when there is one, overrides the automatic one. An item that cannot name
a track (id outside 1..2^31-1, ISRC with NUL characters) gets its own `error`.

**Errors** all answer `{"detail": message, "field": what to fix}`; each route lists the
statuses it can answer. Slow clients are cut: headers within `INTEGRITY_API_HEADER_TIMEOUT_S`,
body chunks within `INTEGRITY_API_BODY_IDLE_TIMEOUT_S` (408); JSON bodies over
`INTEGRITY_API_MAX_BODY_BYTES` are 413. Requests with unknown keys are rate limited per client
address.
"""


class TaskSender:
    """Sends tasks by name to their stage queue; used only after the request's commit."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._celery: Celery | None = None

    def send(self, task_name: str, *args: Any, stage: str, task_id: str | None = None) -> None:
        if self._celery is None:
            self._celery = create_celery(self._settings)
        self._celery.send_task(
            task_name, args=list(args), queue=queue_name(stage, self._settings), task_id=task_id
        )


class TimingMiddleware:
    """Request latency by route template and status (plain ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp, *, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_with_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(route, scope["method"], str(status["code"])).observe(
                time.perf_counter() - started
            )


READ_POOL_RECYCLE_S = 300  # replace pooled read connections this often (no pre-ping on them)


def read_only_engine(engine: Engine) -> Engine:
    """For hot read paths on PostgreSQL: autocommit (no BEGIN/ROLLBACK round trips) and no
    pre-ping (callers retry once on a dropped connection); SQLite uses the main engine."""
    if engine.dialect.name != "postgresql":
        return engine
    return create_engine(
        engine.url,
        isolation_level="AUTOCOMMIT",
        pool_pre_ping=False,
        pool_recycle=READ_POOL_RECYCLE_S,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API for `settings` (tests pass their own; `integrity serve` uses the environment)."""
    settings = settings or get_settings()
    engine = create_db_engine(settings.database_url)
    factory = session_factory(engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await limiter.aclose()
        await address_limiter.aclose()
        state.read_engine.dispose()
        engine.dispose()

    app = FastAPI(
        title="integrity", version=__version__, description=DESCRIPTION, lifespan=lifespan
    )
    state = app.state
    state.settings = settings
    state.engine = engine
    state.read_engine = read_only_engine(engine)
    state.sessions = factory
    state.tasks = TaskSender(settings)
    state.key_cache = KeyCache(max_entries=settings.api_key_cache_size)
    state.metrics = ServiceMetrics()
    fallbacks = state.metrics.rate_limit_fallbacks
    limiter = build_rate_limiter(
        settings, on_fallback=lambda reason: fallbacks.labels(reason).inc()
    )
    state.rate_limiter = limiter
    address_limiter = build_rate_limiter(
        settings,
        on_fallback=lambda reason: fallbacks.labels(reason).inc(),
        per_minute=settings.api_unknown_key_rate_per_minute,
        burst=settings.api_unknown_key_burst,
    )
    state.address_rate_limiter = address_limiter
    state.metrics.registry.register(
        StateCollector(
            sessions=lambda: factory,
            redis_url=settings.redis_url,
            queues=[queue_name(stage, settings) for stage in STAGES],
        )
    )

    install_error_handlers(app)
    app.add_middleware(
        RequestBodyGuard,
        idle_timeout_s=settings.api_body_idle_timeout_s,
        total_timeout_s=settings.api_body_timeout_s,
        max_bytes=settings.api_max_body_bytes,
        upload_max_bytes=settings.webhook_max_body_bytes,
    )
    app.add_middleware(TimingMiddleware, metrics=state.metrics)

    for router in ROUTERS:
        app.include_router(router)
    console.install(app)
    return app
