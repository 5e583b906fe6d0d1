"""POST /v1/filter: which tracks a surface may show, and why (a playlist hot path)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from integrity import filtering, security
from integrity.api.auth import Principal, require

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
) -> dict[str, Any]:
    """For each track: keep or not on the surface, with reasons."""
    tracks, surface = filtering.parse_request(body.tracks, body.surface)
    with request.app.state.sessions() as session:  # read-only: no commit needed
        results = filtering.filter_tracks(session, tracks=tracks, surface=surface)
    return {"surface": surface, "results": results}
