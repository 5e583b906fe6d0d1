"""Per-request helpers shared by the route modules, and the callers each route admits.

The principal aliases are `Annotated` dependencies: a route names the scope it needs in its
signature (`principal: Reviewer`) instead of a `Depends(...)` default call in each of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from integrity.api.auth import Principal, require
from integrity.config import Settings
from integrity.db.session import session_scope
from integrity.service import security

DeliveryWriter = Annotated[Principal, Depends(require(security.SCOPE_DELIVERIES_WRITE))]
DeliveryReader = Annotated[Principal, Depends(require(security.SCOPE_DELIVERIES_READ))]
TrackReader = Annotated[Principal, Depends(require(security.SCOPE_TRACKS_READ))]
Reviewer = Annotated[Principal, Depends(require(security.SCOPE_REVIEW))]
Appellant = Annotated[Principal, Depends(require(security.SCOPE_APPEALS_WRITE))]
AuditReader = Annotated[Principal, Depends(require(security.SCOPE_AUDIT_READ))]
FilterCaller = Annotated[Principal, Depends(require(security.SCOPE_FILTER))]
RescanAdmin = Annotated[Principal, Depends(require(security.SCOPE_RESCANS))]
ModelsAdmin = Annotated[Principal, Depends(require(security.SCOPE_MODELS_ADMIN))]


@contextmanager
def unit_of_work(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the block ends without an exception."""
    with session_scope(request.app.state.sessions) as session:
        yield session


def settings_of(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings
