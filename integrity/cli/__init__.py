"""The `integrity` command. Each command group lives in its own module and registers itself.

Output rules shared by every command: reports go to stdout (a table, or one JSON document with
`--json`); progress bars, logs and errors go to stderr; exit 0 on success, 1 when the work ran
but found a problem the caller asked to fail on, 2 on bad input.

Command modules import only typer, rich and the light `common` helpers at the top; the engines,
SQLAlchemy, pydantic-settings and the models load inside the command that runs
(`benchmarks/cli_startup.py` measures `--help`).
"""

from __future__ import annotations

import importlib

import typer

from integrity import __version__
from integrity.cli.common import EXIT_CODES_HELP
from integrity.locations import current_locations


def _epilog() -> str:
    where = current_locations()
    return (
        f"Database: {where['database']} (INTEGRITY_DATABASE_URL; the SQLite default is "
        f"INTEGRITY_DATA_DIR/integrity.db and migrates itself).  "
        f"Fingerprint index: {where['index']} (INTEGRITY_INDEX_PATH).  "
        f"Models: {where['models']} (INTEGRITY_MODELS_DIR).  {EXIT_CODES_HELP}"
    )


app = typer.Typer(
    name="integrity",
    help="Catalog integrity for music streaming: ingest DDEX, find duplicates, score spam and AI.",
    epilog=_epilog(),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules that add commands to `app` via a `register(app)` function, in help order.
COMMAND_MODULES = (
    "integrity.cli.scan_cmds",
    "integrity.cli.ddex_cmds",
    "integrity.cli.db_cmds",
    "integrity.cli.service_cmds",
    "integrity.cli.fingerprint_cmds",
    "integrity.cli.train_cmds",
    "integrity.cli.analyze_cmds",
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"integrity {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Catalog integrity for music streaming: ingest DDEX, find duplicates, score spam and AI."""


def _register_all() -> None:
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(app)


def main() -> None:
    """Entry point of the `integrity` console script."""
    _register_all()
    app()
