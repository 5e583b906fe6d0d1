"""Rescan scope `model_version`: after an admin activates a newer model version, the scope is
exactly the tracks scored by an older one; the rescan re-scores them and the scope is then empty.
Run on both databases the service ships for (the scope is a JSON path predicate in SQL)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from integrity.catalog import pipeline
from integrity.catalog.scan import discover_deliveries, scan_deliveries
from integrity.cli import service_cmds
from integrity.config import Settings, get_settings
from integrity.db.models import Track
from integrity.db.session import create_db_engine, session_factory, session_scope, upgrade_schema
from integrity.service import activation, rescans
from integrity.service.errors import ServiceError
from tests.conftest import REPO_ROOT
from tests.service_support import RedisServer, Service, fresh_pg_database

EXAMPLES = REPO_ROOT / "examples" / "deliveries"
OLD, NEW = "1.1.0", "1.2.0"
ADMIN = {"actor": "admin-test", "role": "admin"}
MISSING_AUDIO = "02_cold_iron.mp3"  # its track is scored on metadata alone, never by a model
BATCH = 2  # small batches: the cursor must carry the rescan across several of them


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each kind (a PostgreSQL database of its own)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'rescans.db'}"
        upgrade_schema(url)
        yield url
        return
    with fresh_pg_database() as url:
        yield url


@pytest.fixture()
def models_dir(tmp_path: Path) -> Path:
    """A registry with the shipped models at OLD and the synthetic one again as NEW."""
    root = tmp_path / "models"
    for name in ("synthetic", "spam"):
        shutil.copytree(REPO_ROOT / "models" / name / OLD, root / name / OLD)
    shutil.copytree(root / "synthetic" / OLD, root / "synthetic" / NEW)
    return root


@pytest.fixture()
def factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(database_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture()
def settings(tmp_path: Path, database_url: str, models_dir: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        models_dir=models_dir,
        rescan_batch_size=BATCH,
        environment="test",
    )


@pytest.fixture()
def scanned(
    tmp_path: Path, settings: Settings, factory: sessionmaker[Session], models_dir: Path
) -> dict[str, int]:
    """The example deliveries scored with synthetic OLD (activated; NEW is newer on disk).

    One track of the album has no audio, so no model ever scores it. Returns ISRC → track id.
    """
    deliveries = tmp_path / "deliveries"
    shutil.copytree(EXAMPLES, deliveries)
    (deliveries / "night-ferry-album" / "resources" / MISSING_AUDIO).unlink()
    with session_scope(factory) as session:
        activation.activate(session, models_dir=models_dir, name="synthetic", version=OLD, **ADMIN)
    scan_deliveries(discover_deliveries([deliveries]), settings=settings, factory=factory)
    with session_scope(factory) as session:
        return {t.isrc: t.id for t in session.scalars(select(Track)) if t.isrc}


def _versions(factory: sessionmaker[Session]) -> dict[int, dict[str, Any]]:
    with session_scope(factory) as session:
        return {t.id: dict(t.model_versions) for t in session.scalars(select(Track))}


def _scope_ids(factory: sessionmaker[Session], settings: Settings, value: str) -> list[int]:
    """The ids a batch would visit from the start (the same query run_batch uses)."""
    with session_scope(factory) as session:
        versions = rescans.active_versions(session, models_dir=settings.models_dir)
        query = rescans._scope_query({"kind": "model_version", "value": value}, versions=versions)
        return list(session.scalars(query.order_by(Track.id)))


def _start(factory: sessionmaker[Session], settings: Settings, value: str) -> dict[str, Any]:
    """Create a rescan of scope model_version; its progress document (total counted now)."""
    with session_scope(factory) as session:
        rescan = rescans.create_rescan(
            session,
            scope={"kind": "model_version", "value": value},
            models_dir=settings.models_dir,
            **ADMIN,
        )
        return rescans.rescan_as_dict(rescan)


def _run(factory: sessionmaker[Session], settings: Settings, value: str) -> dict[str, Any]:
    """Create a rescan and run its batches to the end; its final progress document."""
    rescan_id = _start(factory, settings, value)["id"]
    more = True
    while more:
        with session_scope(factory) as session:
            more = rescans.run_batch(session, rescan_id=rescan_id, settings=settings)
    with session_scope(factory) as session:
        return rescans.rescan_as_dict(rescans.get_rescan(session, rescan_id=rescan_id))


def test_scope_is_exactly_the_tracks_scored_by_an_older_version(
    scanned: dict[str, int],
    settings: Settings,
    factory: sessionmaker[Session],
    models_dir: Path,
) -> None:
    before = _versions(factory)
    scored = sorted(i for i, v in before.items() if v.get("synthetic") == OLD)
    unscored = [i for i, v in before.items() if "synthetic" not in v]
    assert len(scored) >= 4 and unscored, before  # album (3 with audio) + single; missing audio
    assert _scope_ids(factory, settings, "*") == []  # everything is at the active versions

    with session_scope(factory) as session:
        activation.activate(session, models_dir=models_dir, name="synthetic", version=NEW, **ADMIN)
    # One track re-scored already (by the new version): it is no longer out of date.
    with session_scope(factory) as session:
        pipeline.score_track(session, track_id=scored[0], settings=settings)
    # One scorable track with no recorded synthetic version: it counts as older.
    with session_scope(factory) as session:
        track = session.get(Track, scored[1])
        assert track is not None
        track.model_versions = {"spam": OLD}
    expected = scored[1:]

    assert _scope_ids(factory, settings, "synthetic") == expected
    assert _scope_ids(factory, settings, "*") == expected
    assert _scope_ids(factory, settings, "spam") == []  # spam stayed at the active version
    assert _start(factory, settings, "spam")["total"] == 0

    progress = _run(factory, settings, "synthetic")
    assert progress["status"] == "completed"
    assert progress["total"] == progress["done"] == len(expected)  # the count is what ran
    after = _versions(factory)
    assert all(after[i]["synthetic"] == NEW for i in scored)
    assert all(after[i] == before[i] for i in unscored)  # never scored by a model: untouched
    assert _scope_ids(factory, settings, "synthetic") == []
    assert _start(factory, settings, "*")["total"] == 0

    # Back to the old version: the whole scored set is out of date again, on any model.
    with session_scope(factory) as session:
        activation.activate(session, models_dir=models_dir, name="synthetic", version=OLD, **ADMIN)
    assert _scope_ids(factory, settings, "*") == scored


@pytest.mark.parametrize(
    ("scope", "field"),
    [
        ({"kind": "model_version", "value": "tempo"}, "scope.value"),
        ({"kind": "model_version", "value": ""}, "scope.value"),
        ({"kind": "model_version", "value": 3}, "scope.value"),
        ({"kind": "model-version"}, "scope.kind"),
    ],
)
def test_bad_model_scopes_name_the_field(scope: dict[str, Any], field: str) -> None:
    with pytest.raises(ServiceError) as caught:
        rescans.validate_scope(scope)
    assert caught.value.status == 422 and caught.value.field == field


def test_model_scope_defaults_to_any_model() -> None:
    assert rescans.validate_scope({"kind": "model_version"}) == {
        "kind": "model_version",
        "value": rescans.ANY_MODEL,
    }


def test_a_model_without_a_usable_version_is_refused(
    settings: Settings, factory: sessionmaker[Session], models_dir: Path
) -> None:
    shutil.rmtree(models_dir / "spam")
    with session_scope(factory) as session, pytest.raises(ServiceError) as caught:
        rescans.create_rescan(
            session,
            scope={"kind": "model_version", "value": "spam"},
            models_dir=models_dir,
            **ADMIN,
        )
    assert caught.value.field == "scope.value"


def test_api_accepts_the_model_scope_and_documents_it(service: Service) -> None:
    admin = service.auth(service.admin_key)
    created = service.client.post(
        "/v1/rescans", json={"scope": {"kind": "model_version"}}, headers=admin
    )
    assert created.status_code == 202, created.text
    assert created.json()["scope"] == {"kind": "model_version", "value": "*"}
    bad = service.client.post(
        "/v1/rescans", json={"scope": {"kind": "model_version", "value": "x"}}, headers=admin
    )
    assert bad.status_code == 422 and bad.json()["field"] == "scope.value"
    schema = service.client.get("/openapi.json").json()
    described = schema["components"]["schemas"]["RescanBody"]["properties"]["scope"]
    assert "model_version" in described["description"]


def test_cli_starts_a_model_scope_rescan(tmp_path: Path, redis_server: RedisServer) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade_schema(url)
    app = typer.Typer()
    service_cmds.register(app)
    env = {
        "INTEGRITY_DATABASE_URL": url,
        "INTEGRITY_DATA_DIR": str(tmp_path),
        "INTEGRITY_REDIS_URL": redis_server.url,
        "INTEGRITY_QUEUE_PREFIX": "cli-rescan-test.",
    }

    def run(*args: str) -> Any:
        get_settings.cache_clear()
        try:
            return CliRunner().invoke(app, ["rescan", "start", *args], env=env)
        finally:
            get_settings.cache_clear()

    started = run("--scope", "model_version", "--value", "synthetic", "--json")
    assert started.exit_code == 0, started.output
    document = json.loads(started.stdout)
    assert document["scope"] == {"kind": "model_version", "value": "synthetic"}
    assert document["total"] == 0 and document["status"] == "queued"
    refused = run("--scope", "model_version", "--value", "tempo")
    assert refused.exit_code == 2 and "scope.value" in refused.output
