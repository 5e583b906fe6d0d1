"""Alembic environment: runs migrations on the URL given by integrity.db.session.alembic_config."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from integrity.db import service_models  # noqa: F401 (service tables on the same metadata)
from integrity.db.models import Base
from integrity.db.session import create_db_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic: sqlalchemy.url is not set")
    engine = create_db_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # Batch migrations recreate a table to alter it; with foreign keys enforced, dropping
            # a table other rows reference fails. The pragma is a no-op inside a transaction,
            # so it is set (and committed) before the migration's transaction begins.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError(
        "offline (SQL script) migrations are not supported; run `integrity db upgrade`"
    )
run_migrations_online()
