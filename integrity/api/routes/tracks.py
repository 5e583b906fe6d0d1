"""GET /v1/tracks/{id}: scores, reasons, duplicate evidence, findings and decision history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from integrity.api.auth import Principal, require
from integrity.api.deps import unit_of_work
from integrity.db.models import Delivery, Track
from integrity.service import review, security
from integrity.service.errors import ServiceError

router = APIRouter(tags=["tracks"])


@router.get("/v1/tracks/{track_id}")
def get_track(
    track_id: int,
    request: Request,
    principal: Principal = Depends(require(security.SCOPE_TRACKS_READ)),  # noqa: B008
) -> dict[str, Any]:
    """One track in full (uploaders see only their own tracks)."""
    with unit_of_work(request) as session:
        if principal.role == security.ROLE_UPLOADER:
            track = session.get(Track, track_id)
            delivery = session.get(Delivery, track.delivery_id) if track else None
            if (
                delivery is None
                or principal.sender is None
                or (delivery.uploader != principal.sender.name)
            ):
                raise ServiceError(404, "track_id", f"track {track_id} is not one of yours")
        return review.track_detail(session, track_id=track_id)
