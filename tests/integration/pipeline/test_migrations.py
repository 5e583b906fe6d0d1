"""The Alembic migrations build exactly the models' schema, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from integrity.db.models import Base
from integrity.db.session import alembic_config, create_db_engine, schema_is_current


def test_migrations_match_the_models(database_url):
    engine = create_db_engine(database_url)
    try:
        assert schema_is_current(engine)
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()


def test_migrations_downgrade_and_upgrade_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    config = alembic_config(url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    command.upgrade(config, "head")
    engine = create_db_engine(url)
    assert schema_is_current(engine)
    engine.dispose()
