"""`integrity scan PATH...`: the main job on the embedded default (SQLite, local folders)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from integrity.catalog import pipeline
from integrity.catalog.report import delivery_report
from integrity.catalog.scan import ScanInputError, discover_deliveries, scan_deliveries
from integrity.cli.common import JSON_OPTION, emit_json, fail, progress_bar, stdout_console
from integrity.config import get_settings
from integrity.db.session import (
    create_db_engine,
    schema_is_current,
    session_factory,
    session_scope,
    upgrade_schema,
)

DECISION_STYLE = {"clear": "green", "review": "yellow", "filter": "magenta", "block": "red"}


def scan(
    paths: Annotated[
        list[Path], typer.Argument(help="ERN files, delivery folders, or folders of them.")
    ],
    as_json: bool = JSON_OPTION,
) -> None:
    """Ingest, verify, decode and score deliveries; print a per-track report."""
    settings = get_settings()
    try:
        folders = discover_deliveries(paths)
    except ScanInputError as exc:
        fail(str(exc))
    engine = create_db_engine(settings.database_url)
    if settings.is_sqlite:
        upgrade_schema(settings.database_url)  # the embedded default sets itself up
    elif not schema_is_current(engine):
        fail("the database schema is not current: run `integrity db upgrade` first")
    factory = session_factory(engine)
    with progress_bar() as progress:
        task = progress.add_task("scanning", total=None)
        delivery_ids = scan_deliveries(
            folders,
            settings=settings,
            factory=factory,
            on_step=lambda label: progress.update(task, advance=1, description=label),
        )
    with session_scope(factory) as session:
        reports = [
            delivery_report(session, delivery_id=d, analysis_version=pipeline.ANALYSIS_VERSION)
            for d in delivery_ids
        ]
    if as_json:
        emit_json({"database": _redact(settings.database_url), "deliveries": reports})
    else:
        for report in reports:
            _print_report(report)
    engine.dispose()


def _redact(url: str) -> str:
    """Never print a database password."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def _print_report(report: dict[str, Any]) -> None:
    sender = report["sender"]["name"] or report["sender"]["dpid"] or "unknown sender"
    title = (
        f"delivery {report['delivery_id']} · {report['message_id'] or '?'} · {sender} · "
        f"ERN {report['ern_version'] or '?'} · {report['status']}"
    )
    if report["error"]:
        title += f" · {report['error']}"
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in ("#", "ISRC", "title / artist", "duration", "LUFS", "decision", "findings"):
        table.add_column(column, overflow="fold")
    for track in report["tracks"]:
        declared, actual = track["declared_duration_s"], track["duration_s"]
        duration = f"{_num(actual)} s" + (f" (decl. {_num(declared)})" if declared else "")
        findings = ", ".join(f"{f['code']}" for f in track["findings"] if f["severity"] != "info")
        decision = track["decision"] or track["state"]
        style = DECISION_STYLE.get(decision, "")
        table.add_row(
            str(track["sequence"] or "-"),
            track["isrc"] or "-",
            f"{track['title'] or '?'}\n[dim]{track['display_artist'] or ''}[/]",
            duration,
            _num(track["loudness_lufs"]),
            f"[{style}]{decision}[/]" if style else decision,
            findings or "-",
        )
    stdout_console.print(table)
    for finding in report["findings"]:
        if finding["severity"] != "info":
            stdout_console.print(
                f"  [dim]{finding['severity']}[/] {finding['code']}: {finding['message']}",
                highlight=False,
            )


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def register(app: typer.Typer) -> None:
    app.command("scan")(scan)
