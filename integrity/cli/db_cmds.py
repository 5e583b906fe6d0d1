"""`integrity db upgrade|current`: schema migrations (the same for SQLite and PostgreSQL)."""

from __future__ import annotations

import typer

from integrity.cli.common import (
    EXIT_CODES_HELP,
    EXIT_FOUND,
    JSON_OPTION,
    cli_settings,
    create_engine_checked,
    database_errors,
    emit_json,
    redact,
    stdout_console,
)

db_app = typer.Typer(
    help="Database schema (INTEGRITY_DATABASE_URL; default: the SQLite file in the data folder).",
    no_args_is_help=True,
    epilog=EXIT_CODES_HELP,
)


@db_app.command("upgrade")
def upgrade(as_json: bool = JSON_OPTION) -> None:
    """Apply every migration not applied yet (safe to run again)."""
    from integrity.db.session import upgrade_schema

    settings = cli_settings()
    create_engine_checked(settings).dispose()  # a bad URL fails here, before Alembic
    with database_errors(settings):
        upgrade_schema(settings.database_url)
    if as_json:
        emit_json({"database": redact(settings.database_url), "current": True})
    else:
        stdout_console.print(f"schema is current: {redact(settings.database_url)}")


@db_app.command("current")
def current(as_json: bool = JSON_OPTION) -> None:
    """Say whether the schema is at the newest migration (exit 1 when it is not)."""
    from integrity.db.session import schema_is_current

    settings = cli_settings()
    engine = create_engine_checked(settings)
    with database_errors(settings):
        is_current = schema_is_current(engine)
        engine.dispose()
    if as_json:
        emit_json({"database": redact(settings.database_url), "current": is_current})
    else:
        stdout_console.print("current" if is_current else "not current: run `integrity db upgrade`")
    if not is_current:
        raise typer.Exit(EXIT_FOUND)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
