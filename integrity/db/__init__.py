"""Persistence: SQLAlchemy 2.0 typed models, engine/session handling and Alembic migrations.

The same models and migrations serve the embedded default (SQLite file) and the service
(PostgreSQL); nothing here knows about HTTP or Celery.
"""

from integrity.db import service_models  # noqa: F401 (registers the service tables on Base)
from integrity.db.models import (
    Analysis,
    AudioAsset,
    Base,
    Delivery,
    Finding,
    Release,
    ReleaseTrack,
    Track,
)
from integrity.db.session import create_db_engine, session_factory, session_scope, upgrade_schema

__all__ = [
    "Analysis",
    "AudioAsset",
    "Base",
    "Delivery",
    "Finding",
    "Release",
    "ReleaseTrack",
    "Track",
    "create_db_engine",
    "session_factory",
    "session_scope",
    "upgrade_schema",
]
