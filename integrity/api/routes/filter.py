"""POST /v1/filter: which tracks a surface may show, and why (a playlist hot path)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from integrity.api.deps import FilterCaller
from integrity.api.schemas import AUTH_ERRORS, BODY_ERRORS, FilterAnswer, FilterBody, errors
from integrity.service import filtering

router = APIRouter(tags=["filter"])


@router.post(
    "/v1/filter", response_model=FilterAnswer, responses=errors(*AUTH_ERRORS, *BODY_ERRORS)
)
def post_filter(body: FilterBody, request: Request, principal: FilterCaller) -> JSONResponse:
    """For each track: keep or not on the surface, with reasons (a per-item error for an id or
    ISRC that cannot name a track; the rest of the batch is answered)."""
    tracks, surface = filtering.parse_request(body.tracks, body.surface)
    # Read-only and on hot paths: a plain connection (no ORM session), answered without
    # FastAPI's generic encoder (the results are already JSON types, shaped as FilterAnswer).
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
