"""The Alembic migrations build exactly the models' schema, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from integrity.catalog import ingest
from integrity.db.models import Base, Delivery, Release, Track, utc_now
from integrity.db.session import (
    alembic_config,
    create_db_engine,
    schema_is_current,
    session_factory,
)
from integrity.service import accounts
from tests.service_support import fresh_pg_database


@pytest.fixture(params=["sqlite", "postgres"])
def migrated_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A database that only the migrations have touched: the session's shared PostgreSQL
    database also holds what other tests created outside them (the fingerprint index's tables
    after a scan), which a parallel run may have put there first."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
        command.upgrade(alembic_config(url), "head")
        yield url
        return
    with fresh_pg_database() as url:
        yield url


def test_migrations_match_the_models(migrated_url):
    engine = create_db_engine(migrated_url)
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


@pytest.fixture(params=["sqlite", "postgres"])
def url_at_0003(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A database at revision 0003 (before deliveries belonged to the signing sender)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
        command.upgrade(alembic_config(url), "0003")
        yield url
        return
    with fresh_pg_database() as url:
        command.downgrade(alembic_config(url), "0003")
        yield url


def test_sender_scope_migration_backfills_existing_rows(url_at_0003):
    """A webhook sender's rows become its own under its key; folder-scan rows keep theirs."""
    webhook_dpid, scan_dpid, now = "PADPIDA2014120301X", "PADPIDA2026120201U", utc_now()
    engine = create_db_engine(url_at_0003)
    tables = sa.MetaData()
    tables.reflect(engine)
    delivery = {"source": "x", "storage_path": "/x", "message_filename": "m.xml"}
    delivery |= {"status": "completed", "pipeline_version": "old", "received_at": now}
    track = {"state": "scored", "artists": [], "contributors": [], "ai_contributions": []}
    track |= {"decision_reasons": [], "scores": {}, "model_versions": {}}
    stamps = {"created_at": now, "updated_at": now}
    with engine.begin() as connection:
        connection.execute(
            tables.tables["senders"].insert(),
            [{"id": 1, "name": "acme", "created_at": now, "disabled": False}],
        )
        connection.execute(
            tables.tables["deliveries"].insert(),
            [
                delivery
                | {"id": 1, "message_sha256": "a" * 64, "uploader": "acme"}
                | {"webhook_id": "msg_1", "sender_dpid": webhook_dpid},
                delivery
                | {"id": 2, "message_sha256": "b" * 64, "uploader": None}
                | {"webhook_id": None, "sender_dpid": scan_dpid},
            ],
        )
        connection.execute(
            tables.tables["tracks"].insert(),
            [
                track
                | stamps
                | {"id": 1, "delivery_id": 1, "isrc": "QZAAA2600001"}
                | {"track_key": f"{webhook_dpid}|isrc:QZAAA2600001", "sender_dpid": webhook_dpid},
                track
                | stamps
                | {"id": 2, "delivery_id": 2, "isrc": "QZAAA2600002"}
                | {"track_key": f"{scan_dpid}|isrc:QZAAA2600002", "sender_dpid": scan_dpid},
            ],
        )
        connection.execute(
            tables.tables["releases"].insert(),
            [
                stamps
                | {"id": 1, "delivery_id": 1, "release_key": f"{webhook_dpid}|icpn:1"}
                | {"proprietary_ids": [], "availability": [], "is_main": True}
                | {"taken_down": False},
            ],
        )
    engine.dispose()

    command.upgrade(alembic_config(url_at_0003), "head")
    engine = create_db_engine(url_at_0003)
    try:
        assert schema_is_current(engine)
        with session_factory(engine)() as session:
            webhook, scan = session.get(Delivery, 1), session.get(Delivery, 2)
            assert (webhook.sender_id, scan.sender_id) == (1, None)
            assert accounts.sender_dpids(session, sender_id=1) == [webhook_dpid]
            owned, scanned = session.get(Track, 1), session.get(Track, 2)
            # The key a redelivery from the same sender computes finds the existing row.
            redelivery = ingest.sender_key(Delivery(sender_id=1))
            assert owned.track_key == f"{redelivery}|isrc:QZAAA2600001"
            assert owned.sender_id == 1
            assert scanned.track_key == f"{scan_dpid}|isrc:QZAAA2600002"
            assert scanned.sender_id is None
            assert ingest.sender_key(scan) == scan_dpid
            release = session.get(Release, 1)
            assert (release.release_key, release.sender_id) == (f"{redelivery}|icpn:1", 1)
    finally:
        engine.dispose()
