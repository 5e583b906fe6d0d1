"""Helpers every CLI command uses: settings, the database, JSON output, errors, progress bars.

Why this module imports only typer and rich at the top: every `integrity ... --help` imports it,
and help must print before a newcomer notices (SQLAlchemy, pydantic-settings, NumPy and the
models load inside the command that needs them).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress
    from sqlalchemy import Engine

    from integrity.config import Settings
    from integrity.fingerprint import FingerprintIndex

EXIT_OK = 0
EXIT_FOUND = 1
"""The command ran and found what it is asked to fail on (a failed delivery, an unreadable file,
a finding of severity error)."""
EXIT_BAD_INPUT = 2
"""Bad input or setting; the one-line message names the file, option or setting."""

EXIT_CODES_HELP = (
    "Exit status: 0 done; 1 the command ran and found what it fails on (a failed delivery or "
    "track, an unreadable file, an error finding); 2 bad input or setting (the message names it)."
)
PIPED_OUTPUT_COLUMNS = 160
"""Width of tables written to a pipe or file, where no terminal says how wide to be."""
ENV_PREFIX = "INTEGRITY_"

stdout_console = Console(width=None if sys.stdout.isatty() else PIPED_OUTPUT_COLUMNS)
stderr_console = Console(stderr=True)

JSON_OPTION = typer.Option(False, "--json", help="Print one JSON document instead of a table.")


def emit_json(document: Any) -> None:
    """Write one JSON document to stdout (no colour, no wrapping: machines read it)."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, default=str))
    sys.stdout.write("\n")


def fail(message: str, *, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print a one-line error to stderr and exit; never a traceback for bad input.

    Plain text, never wrapped, so scripts and log search see the whole message on one line."""
    one_line = " ".join(message.split())
    sys.stderr.write(f"error: {one_line}\n")
    raise typer.Exit(code)


def env_name(field: str) -> str:
    """The environment variable that sets a Settings field."""
    return f"{ENV_PREFIX}{field.upper()}"


def cli_settings() -> Settings:
    """The process settings; a bad value is a one-line error naming its variable.

    Logging is configured here rather than in the top-level callback, so `COMMAND --help` never
    pays for pydantic-settings."""
    from pydantic import ValidationError

    from integrity.config import get_settings
    from integrity.logs import configure_logging

    try:
        settings = get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        where = f"{env_name(field)}: " if field else ""
        fail(f"{where}{first['msg']}")
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    return settings


def redact(url: str) -> str:
    """Never print a database password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url


def _first_line(exc: BaseException) -> str:
    """The driver's own reason, without SQLAlchemy's statement and background-link lines."""
    reason = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(reason).splitlines() if line.strip()]
    return lines[0] if lines else type(reason).__name__


def _database_setting(settings: Settings) -> str:
    return f"{env_name('database_url')}={redact(settings.database_url)}"


def create_engine_checked(settings: Settings) -> Engine:
    """An engine on INTEGRITY_DATABASE_URL, or one line naming the setting: a URL that does not
    parse, a database whose driver is not installed, a SQLite folder that cannot be made."""
    from sqlalchemy.exc import ArgumentError

    from integrity.db.session import create_db_engine

    try:
        return create_db_engine(settings.database_url)
    except (ArgumentError, ValueError, ImportError) as exc:
        fail(f"{_database_setting(settings)}: not a usable database URL ({_first_line(exc)})")
    except OSError as exc:
        fail(f"{_database_setting(settings)}: cannot create its folder ({exc.strerror or exc})")


@contextmanager
def database_errors(settings: Settings) -> Iterator[None]:
    """A database that does not answer (or refuses the login, or is not a database file) as one
    line naming INTEGRITY_DATABASE_URL, with the driver's reason."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except SQLAlchemyError as exc:
        fail(f"{_database_setting(settings)}: cannot use the database ({_first_line(exc)})")


def open_database(settings: Settings, *, migrate_embedded: bool = False) -> Engine:
    """An engine on INTEGRITY_DATABASE_URL that has answered, at the newest migration.

    The embedded SQLite default migrates itself when `migrate_embedded`; any other database
    must be upgraded by `integrity db upgrade`."""
    from integrity.db.session import schema_is_current, upgrade_schema

    engine = create_engine_checked(settings)
    with database_errors(settings):
        if migrate_embedded and settings.is_sqlite:
            upgrade_schema(settings.database_url)
            return engine
        current = schema_is_current(engine)
    if not current:
        engine.dispose()
        fail("the database is not at the newest migration: run `integrity db upgrade` first")
    return engine


def audio_in_folder(folder: Path) -> list[Path]:
    """The audio files under a folder, recursively, in a stable order."""
    from integrity.corpus import AUDIO_SUFFIXES

    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
    )


def require_models_dir(settings: Settings) -> Path:
    """The models folder, which must exist (a typo there would silently score nothing)."""
    models_dir = settings.models_dir
    if not models_dir.is_dir():
        fail(f"{env_name('models_dir')}={models_dir}: no such folder (where the models live)")
    return models_dir


def open_fingerprint_index(location: str, *, setting: str, create: bool) -> FingerprintIndex:
    """Open the embedded index file or the PostgreSQL index; a folder, an unreadable or foreign
    file and a missing index (when not creating) are one-line errors naming `setting`."""
    from integrity.catalog.fingerprints import POSTGRES_SCHEMES, open_index
    from integrity.fingerprint import FingerprintIndexError

    where = f"{setting}{' ' if setting.startswith('--') else '='}{redact(location)}"
    if location.startswith(POSTGRES_SCHEMES):
        from sqlalchemy.exc import SQLAlchemyError

        try:
            return open_index(location)
        except (SQLAlchemyError, FingerprintIndexError) as exc:
            fail(f"{where}: cannot open the fingerprint index ({_first_line(exc)})")
    path = Path(location)
    if path.is_dir():
        fail(f"{where}: is a folder, not a fingerprint index file")
    if path.exists() and not os.access(path, os.R_OK):
        fail(f"{where}: not readable")
    try:
        return open_index(path, create=create)
    except FingerprintIndexError as exc:
        fail(f"{where}: {str(exc).removeprefix(str(path)).lstrip(': ')}")
    except OSError as exc:
        fail(f"{where}: {exc.strerror or exc}")


@contextmanager
def progress_bar(*, enabled: bool = True) -> Iterator[Progress]:
    """A progress bar on stderr; hidden when stderr is not a terminal or when disabled."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr_console,
        disable=not enabled or not stderr_console.is_terminal,
        transient=True,
    )
    with progress:
        yield progress
