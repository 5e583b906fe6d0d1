"""Per-request helpers shared by the route modules."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import Request
from sqlalchemy.orm import Session

from integrity.config import Settings
from integrity.db.session import session_scope


@contextmanager
def unit_of_work(request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the block ends without an exception."""
    with session_scope(request.app.state.sessions) as session:
        yield session


def settings_of(request: Request) -> Settings:
    """The settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings
