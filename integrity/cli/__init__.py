"""The `integrity` command. Each command group lives in its own module and registers itself.

Output rules shared by every command: reports go to stdout (a table, or one JSON document with
`--json`); progress bars, logs and errors go to stderr; exit 0 on success, 1 when the work ran
but found a problem the caller asked to fail on, 2 on bad input.
"""

from __future__ import annotations

import importlib

import typer

from integrity.config import get_settings
from integrity.logs import configure_logging

app = typer.Typer(
    name="integrity",
    help="Catalog integrity for music streaming: ingest DDEX, find duplicates, score spam and AI.",
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


@app.callback()
def _configure() -> None:
    settings = get_settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)


def _register_all() -> None:
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(app)


def main() -> None:
    """Entry point of the `integrity` console script."""
    _register_all()
    app()
