"""POST /v1/filter: which tracks a surface may show, and why (a playlist hot path)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError

from integrity.api.auth import Principal, require
from integrity.service import filtering, security

router = APIRouter(tags=["filter"])


class FilterBody(BaseModel):
    """Track ids (integers) or ISRCs (strings), and the surface asking."""

    tracks: list[Any]
    surface: str


@router.post("/v1/filter")
def post_filter(
    body: FilterBody,
    request: Request,
    principal: Principal = Depends(require(security.SCOPE_FILTER)),  # noqa: B008
) -> JSONResponse:
    """For each track: keep or not on the surface, with reasons."""
    tracks, surface = filtering.parse_request(body.tracks, body.surface)
    # Read-only and on hot paths: a plain connection (no ORM session), answered without
    # FastAPI's generic encoder (the results are already JSON types).
    engine = request.app.state.read_engine
    try:
        with engine.connect() as connection:
            results = filtering.filter_tracks(connection, tracks=tracks, surface=surface)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        with engine.connect() as connection:  # the pooled connection had died: once more
            results = filtering.filter_tracks(connection, tracks=tracks, surface=surface)
    return JSONResponse({"surface": surface, "results": results})
