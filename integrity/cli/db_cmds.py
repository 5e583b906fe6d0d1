"""`integrity db upgrade|current`: schema migrations (the same for SQLite and PostgreSQL)."""

from __future__ import annotations

import typer

from integrity.cli.common import JSON_OPTION, emit_json, stdout_console
from integrity.cli.scan_cmds import _redact
from integrity.config import get_settings
from integrity.db.session import create_db_engine, schema_is_current, upgrade_schema

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade(as_json: bool = JSON_OPTION) -> None:
    """Apply every migration not applied yet (safe to run again)."""
    settings = get_settings()
    upgrade_schema(settings.database_url)
    if as_json:
        emit_json({"database": _redact(settings.database_url), "current": True})
    else:
        stdout_console.print(f"schema is current: {_redact(settings.database_url)}")


@db_app.command("current")
def current(as_json: bool = JSON_OPTION) -> None:
    """Say whether the schema is at the newest migration (exit 1 when it is not)."""
    settings = get_settings()
    engine = create_db_engine(settings.database_url)
    is_current = schema_is_current(engine)
    engine.dispose()
    if as_json:
        emit_json({"database": _redact(settings.database_url), "current": is_current})
    else:
        stdout_console.print("current" if is_current else "not current: run `integrity db upgrade`")
    if not is_current:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
