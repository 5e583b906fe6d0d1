"""GET /v1/tracks/{id}: scores, reasons, duplicate evidence, findings and decision history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from integrity.api.deps import TrackReader, unit_of_work
from integrity.api.schemas import READ_ERRORS, TrackDetail, TrackId, errors
from integrity.service import disclosure, review, security
from integrity.service.errors import ServiceError

router = APIRouter(tags=["tracks"])


@router.get("/v1/tracks/{track_id}", response_model=TrackDetail, responses=errors(*READ_ERRORS))
def get_track(track_id: TrackId, request: Request, principal: TrackReader) -> dict[str, Any]:
    """One track in full; an uploader sees only its own tracks, without moderators' notes and
    identities or other senders' data."""
    with unit_of_work(request) as session:
        if principal.role == security.ROLE_UPLOADER:
            if principal.sender is None:
                raise ServiceError(404, "track_id", f"track {track_id} is not one of yours")
            return disclosure.uploader_track_detail(
                session, track_id=track_id, sender=principal.sender
            )
        return review.track_detail(session, track_id=track_id)
