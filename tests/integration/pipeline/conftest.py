"""The pipeline runs on both databases it ships for: SQLite (embedded) and PostgreSQL (service)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from integrity.config import Settings
from integrity.db.session import create_db_engine, session_factory, upgrade_schema
from tests.conftest import REPO_ROOT
from tests.service_support import pg_database_url  # noqa: F401  (session fixture)

EXAMPLE_ALBUM = REPO_ROOT / "examples" / "deliveries" / "night-ferry-album"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each kind (PostgreSQL tables are emptied after each test)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'pipeline.db'}"
        upgrade_schema(url)
        yield url
        return
    url = request.getfixturevalue("pg_database_url")
    yield url
    engine = create_db_engine(url)
    with engine.begin() as connection:
        tables = [
            row[0]
            for row in connection.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ]
        connection.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    engine.dispose()


@pytest.fixture()
def factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(database_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture()
def pipeline_settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=database_url, environment="test")


@pytest.fixture()
def album_copy(tmp_path: Path) -> Path:
    """A private copy of the example album that a test may damage."""
    target = tmp_path / "album"
    shutil.copytree(EXAMPLE_ALBUM, target)
    return target
