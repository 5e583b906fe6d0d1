"""Service integration fixtures (real PostgreSQL, private Redis, keys made by the service code)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from integrity import accounts
from integrity.api import create_app
from integrity.config import Settings
from integrity.db.session import create_db_engine, session_factory, session_scope
from tests.service_support import RedisServer, pg_database_url, redis_server  # noqa: F401

BURST_FOR_TESTS = 1000
SMALL_BODY_CAP_BYTES = 2 * 1024 * 1024


@dataclass
class Service:
    """An API client plus the keys and secret the tests use."""

    client: TestClient
    settings: Settings
    secret: str
    uploader_key: str
    moderator_key: str
    admin_key: str
    service_key: str
    sender: str

    def auth(self, key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}


def make_settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=database_url,
        redis_url=redis_url,
        queue_prefix=f"t{secrets.token_hex(4)}.",
        webhook_max_body_bytes=SMALL_BODY_CAP_BYTES,
        api_rate_burst=BURST_FOR_TESTS,
    )


def create_accounts(settings: Settings, sender_name: str) -> dict[str, str]:
    """A sender and one key per role, created as `integrity senders add` / `keys create` do."""
    engine = create_db_engine(settings.database_url)
    try:
        with session_scope(session_factory(engine)) as session:
            _, secret = accounts.create_sender(session, name=sender_name)
            made = {"secret": secret}
            made["uploader"] = accounts.create_api_key(
                session, role="uploader", sender_name=sender_name
            ).key
            for role in ("moderator", "admin", "service"):
                made[role] = accounts.create_api_key(session, role=role, name=f"{role}-1").key
    finally:
        engine.dispose()
    return made


@pytest.fixture()
def service(
    tmp_path: Path,
    pg_database_url: str,  # noqa: F811
    redis_server: RedisServer,  # noqa: F811
) -> Iterator[Service]:
    settings = make_settings(tmp_path, pg_database_url, redis_server.url)
    sender = f"distributor-{secrets.token_hex(4)}"
    made = create_accounts(settings, sender)
    app = create_app(settings)
    with TestClient(app) as client:
        yield Service(
            client=client,
            settings=settings,
            secret=made["secret"],
            uploader_key=made["uploader"],
            moderator_key=made["moderator"],
            admin_key=made["admin"],
            service_key=made["service"],
            sender=sender,
        )
    app.state.engine.dispose()
