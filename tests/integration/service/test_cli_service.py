"""The service commands' contract on the embedded SQLite database (same migrations as PostgreSQL):
`senders add NAME --json` and `keys create --role ... --json` print their secret once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from integrity.cli import service_cmds
from integrity.config import get_settings
from integrity.db.service_models import ApiKey
from integrity.db.session import create_db_engine, session_factory, upgrade_schema
from integrity.service.security import hash_api_key


@pytest.fixture()
def cli(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade_schema(url)
    app = typer.Typer()
    service_cmds.register(app)

    def run(*args: str, expect: int = 0):
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(
                app,
                list(args),
                env={"INTEGRITY_DATABASE_URL": url, "INTEGRITY_DATA_DIR": str(tmp_path)},
            )
        finally:
            get_settings.cache_clear()
        assert result.exit_code == expect, result.output
        return result

    run.url = url
    return run


def test_senders_add_prints_a_standard_webhooks_secret_once(cli):
    document = json.loads(cli("senders", "add", "acme", "--json").stdout)
    assert document["sender"] == "acme"
    assert document["secret"].startswith("whsec_")
    again = cli("senders", "add", "acme", "--json", expect=2)
    assert "exists" in again.output


def test_keys_are_printed_once_and_stored_only_hashed(cli):
    cli("senders", "add", "acme", "--json")
    uploader = json.loads(cli("keys", "create", "--role", "uploader", "--json").stdout)
    assert uploader["role"] == "uploader" and uploader["sender"] == "acme"
    moderator = json.loads(cli("keys", "create", "--role", "moderator", "--json").stdout)
    engine = create_db_engine(cli.url)
    with session_factory(engine)() as session:
        rows = session.query(ApiKey).all()
    engine.dispose()
    stored = {row.key_hash for row in rows}
    assert stored == {hash_api_key(uploader["key"]), hash_api_key(moderator["key"])}
    assert all(uploader["key"] not in (row.key_hash, row.display_prefix) for row in rows)
    listed = json.loads(cli("keys", "list", "--json").stdout)["keys"]
    assert "key" not in listed[0]
    cli("keys", "revoke", str(uploader["id"]), "--json")
    assert json.loads(cli("keys", "list", "--json").stdout)["keys"][0]["revoked"] is True


def test_bad_input_names_the_option(cli):
    assert "role" in cli("keys", "create", "--role", "root", "--json", expect=2).output
    assert "sender" in cli("keys", "create", "--role", "uploader", "--json", expect=2).output
    assert "migration" in cli_on_empty_database(cli).output


def cli_on_empty_database(cli):
    app = typer.Typer()
    service_cmds.register(app)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(
            app, ["keys", "list"], env={"INTEGRITY_DATABASE_URL": cli.url + ".empty"}
        )
    finally:
        get_settings.cache_clear()


def test_senders_register_dpids_and_are_disabled_and_enabled(cli):
    made = json.loads(
        cli("senders", "add", "acme", "--dpid", "PADPIDA2026120201U", "--json").stdout
    )
    assert made["dpids"] == ["PADPIDA2026120201U"]
    added = json.loads(cli("senders", "add-dpid", "acme", "PADPIDA2014120301X", "--json").stdout)
    assert added["dpids"] == ["PADPIDA2026120201U", "PADPIDA2014120301X"]
    again = json.loads(cli("senders", "add-dpid", "acme", "PADPIDA2014120301X", "--json").stdout)
    assert again["dpids"] == added["dpids"]  # registering twice changes nothing
    bad = cli("senders", "add-dpid", "acme", "ACME-1", expect=2)
    assert "dpid" in bad.output and "ACME-1" in bad.output
    cli("senders", "remove-dpid", "acme", "PADPIDA2026120201U", "--json")
    cli("senders", "disable", "acme", "--json")
    (row,) = json.loads(cli("senders", "list", "--json").stdout)["senders"]
    assert row["disabled"] is True and row["dpids"] == ["PADPIDA2014120301X"]
    cli("senders", "enable", "acme", "--json")
    (row,) = json.loads(cli("senders", "list", "--json").stdout)["senders"]
    assert row["disabled"] is False
    missing = cli("senders", "disable", "nobody", expect=2)
    assert "nobody" in missing.output
