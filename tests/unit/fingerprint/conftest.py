"""Fixtures for the fingerprint tests: the shared music, and an index of it on both backends."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from integrity.catalog.fingerprints import open_index
from integrity.fingerprint import extract
from integrity.fingerprint.index import FingerprintIndex
from tests.conftest import SHARED_AUDIO_DIR
from tests.pg_cluster import LocalCluster, local_clusters

from .fp_helpers import INDEXED_MUSIC, NON_MEMBERS, SR, load, track_id

POSTGRES_URL = os.environ.get(
    "INTEGRITY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def library() -> dict[str, np.ndarray]:
    """The indexed tracks: track id -> samples at the fingerprint rate."""
    if not SHARED_AUDIO_DIR.is_dir():
        pytest.fail(f"shared audio not found at {SHARED_AUDIO_DIR}")
    return {track_id(n): load(SHARED_AUDIO_DIR / n) for n in INDEXED_MUSIC}


@pytest.fixture(scope="session")
def outsiders() -> dict[str, np.ndarray]:
    """Recordings that are not in the index (music, speech, nature)."""
    return {track_id(n): load(SHARED_AUDIO_DIR / n) for n in NON_MEMBERS}


def _fill(index: FingerprintIndex, library: dict[str, np.ndarray]) -> None:
    for i, (tid, x) in enumerate(library.items()):
        index.add(tid, extract(x, SR), meta={"isrc": f"TEST0000000{i}", "title": tid})


@pytest.fixture(scope="session")
def embedded_index(
    library: dict[str, np.ndarray], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FingerprintIndex]:
    index = open_index(tmp_path_factory.mktemp("fp") / "library.fpi")
    _fill(index, library)
    index.close()
    reopened = open_index(index.path)  # read back from disk, not from the pending buffer
    yield reopened
    reopened.close()


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    """A schema of our own for this session, dropped afterwards (the database is shared)."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(POSTGRES_URL)
    schema = f"fp_test_{uuid.uuid4().hex[:12]}"
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    except sqlalchemy.exc.OperationalError as exc:
        engine.dispose()
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc.orig}")
    try:
        yield schema
    finally:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_index(
    library: dict[str, np.ndarray], postgres_schema: str
) -> Iterator[FingerprintIndex]:
    index = open_index(POSTGRES_URL, schema=postgres_schema)
    _fill(index, library)
    yield index
    index.close()


@pytest.fixture(scope="session")
def shard_clusters() -> Iterator[list[LocalCluster]]:
    """A second and a third PostgreSQL server (initdb'd on free ports, stopped afterwards)."""
    with local_clusters(2) as clusters:
        yield clusters


def shard_urls(clusters: list[LocalCluster]) -> list[str]:
    """Three shards: the main server (loopback) and the two throwaway clusters."""
    return [POSTGRES_URL] + [c.url() for c in clusters]


@contextmanager
def sharded_index_in(
    postgres_schema_name: str, clusters: list[LocalCluster]
) -> Iterator[FingerprintIndex]:
    """A fresh sharded index in its own schema, dropped (tables, shards, servers) afterwards."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{postgres_schema_name}"'))
    index = open_index(POSTGRES_URL, schema=postgres_schema_name, shards=shard_urls(clusters))
    try:
        yield index
    finally:
        index.drop()
        index.close()
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(f'DROP SCHEMA "{postgres_schema_name}" CASCADE'))
        engine.dispose()


@pytest.fixture(scope="session")
def sharded_index(
    library: dict[str, np.ndarray], shard_clusters: list[LocalCluster], postgres_schema: str
) -> Iterator[FingerprintIndex]:
    """The library on three PostgreSQL servers (postgres_fdw partitions)."""
    with sharded_index_in(f"{postgres_schema}_sh", shard_clusters) as index:
        _fill(index, library)
        yield index


@pytest.fixture(
    params=[
        pytest.param("embedded"),
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("sharded", marks=pytest.mark.postgres),
    ]
)
def any_index(request: pytest.FixtureRequest) -> FingerprintIndex:
    """The same library on each backend."""
    return request.getfixturevalue(f"{request.param}_index")


@pytest.fixture()
def empty_index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FingerprintIndex]:
    index = open_index(tmp_path / "empty.fpi")
    yield index
    index.close()
