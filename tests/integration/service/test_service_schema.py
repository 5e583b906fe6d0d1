"""The service tables: models and migrations agree on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from integrity.db import Base, create_db_engine, upgrade_schema
from integrity.db import service_models as sm
from tests.service_support import fresh_pg_database

SERVICE_TABLES = {
    sm.Sender.__tablename__,
    sm.SenderSecret.__tablename__,
    sm.ApiKey.__tablename__,
    sm.WebhookReceipt.__tablename__,
    sm.AuditEvent.__tablename__,
    sm.TrackModeration.__tablename__,
    sm.ReviewClaim.__tablename__,
    sm.Appeal.__tablename__,
    sm.DeliveryWork.__tablename__,
    sm.Rescan.__tablename__,
    sm.TaskAttempt.__tablename__,
    sm.DeadLetter.__tablename__,
    sm.ActiveModel.__tablename__,
}


def _differences(url: str) -> list[object]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def test_migrations_match_models_on_sqlite(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'schema.db'}"
    upgrade_schema(url)
    assert _differences(url) == []
    engine = create_db_engine(url)
    assert set(inspect(engine).get_table_names()) >= SERVICE_TABLES
    engine.dispose()


@pytest.mark.postgres
def test_migrations_match_models_on_postgresql():
    # Its own database: the shared one also holds tables other components create at run time.
    with fresh_pg_database() as url:
        assert _differences(url) == []
        engine = create_db_engine(url)
        assert set(inspect(engine).get_table_names()) >= SERVICE_TABLES
        engine.dispose()
