"""Helpers every CLI command uses: JSON output, errors, progress bars."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

EXIT_BAD_INPUT = 2
PIPED_OUTPUT_COLUMNS = 160
"""Width of tables written to a pipe or file, where no terminal says how wide to be."""

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
    sys.stderr.write(f"error: {message}\n")
    raise typer.Exit(code)


@contextmanager
def progress_bar(*, enabled: bool = True) -> Iterator[Progress]:
    """A progress bar on stderr; hidden when stderr is not a terminal or when disabled."""
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
