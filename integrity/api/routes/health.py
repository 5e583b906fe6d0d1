"""Liveness, readiness and Prometheus metrics (unauthenticated, as scrapers expect)."""

from __future__ import annotations

from typing import Any

import redis
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from integrity.api.deps import settings_of
from integrity.api.schemas import Health, Readiness
from integrity.catalog import storage
from integrity.db.session import schema_is_current

router = APIRouter(tags=["health"])
READY_TIMEOUT_S = 1.0


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "a dependency is not ready"}},
)
def readyz(request: Request) -> JSONResponse:
    """Database reachable and migrated, Redis reachable, the delivery store writable: 200, else
    503 naming what is not."""
    checks: dict[str, Any] = {}
    engine = request.app.state.engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok" if schema_is_current(engine) else "not migrated"
    except Exception as exc:  # any driver error means not ready
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        client = redis.Redis.from_url(
            settings_of(request).redis_url,
            socket_timeout=READY_TIMEOUT_S,
            socket_connect_timeout=READY_TIMEOUT_S,
        )
        checks["redis"] = "ok" if client.ping() else "no answer"
    except redis.RedisError as exc:
        checks["redis"] = f"unreachable: {type(exc).__name__}"
    checks["storage"] = storage.store_for(settings_of(request)).readiness()
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text exposition",
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
        }
    },
)
def metrics(request: Request) -> Response:
    """Prometheus exposition of this process and of the shared queue/task/decision state."""
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
