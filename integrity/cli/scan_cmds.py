"""`integrity scan PATH...`: the main job on the embedded default (SQLite, local folders)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from integrity.cli.common import (
    EXIT_CODES_HELP,
    EXIT_FOUND,
    JSON_OPTION,
    cli_settings,
    emit_json,
    env_name,
    fail,
    open_database,
    open_fingerprint_index,
    progress_bar,
    redact,
    require_models_dir,
    stdout_console,
)

DECISION_STYLE = {"clear": "green", "review": "yellow", "filter": "magenta", "block": "red"}
DUPLICATE_CODES = frozenset({"duplicate_audio", "duplicate_audio_identical"})
FAILED = "failed"
LEGEND = (
    "Decisions: clear = nothing to do; review = a moderator looks; filter = kept, but out of "
    "recommendations; block = not offered. # is the track's id in the catalog (a duplicate "
    "names the earlier track by it); finding codes are in brackets (`integrity ddex validate` "
    "and the README list them); info findings are in --json only."
)


def scan(
    paths: Annotated[
        list[Path], typer.Argument(help="ERN files, delivery folders, or folders of them.")
    ],
    as_json: bool = JSON_OPTION,
) -> None:
    """Ingest, verify, decode and score deliveries; print a per-track report.

    Exit 1 when any delivery or track failed (its reason is in the report).
    """
    from integrity.catalog import pipeline
    from integrity.catalog.policy import PolicyError
    from integrity.catalog.report import delivery_report
    from integrity.catalog.scan import ScanInputError, discover_deliveries, scan_deliveries
    from integrity.db.session import session_factory, session_scope

    settings = cli_settings()
    try:
        folders = discover_deliveries(paths)
    except ScanInputError as exc:
        fail(str(exc))
    require_models_dir(settings)
    engine = open_database(settings, migrate_embedded=True)
    if settings.is_sqlite:  # service mode keeps the index in PostgreSQL, checked just above
        open_fingerprint_index(
            str(settings.index_path), setting=env_name("index_path"), create=True
        ).close()
    factory = session_factory(engine)
    try:
        with progress_bar() as progress:
            task = progress.add_task("scanning", total=None)
            delivery_ids = scan_deliveries(
                folders,
                settings=settings,
                factory=factory,
                on_step=lambda label: progress.update(task, advance=1, description=label),
            )
    except PolicyError as exc:
        fail(f"{env_name('policy_file')}: {exc}")
    with session_scope(factory) as session:
        reports = [
            delivery_report(session, delivery_id=d, analysis_version=pipeline.ANALYSIS_VERSION)
            for d in delivery_ids
        ]
    engine.dispose()
    if as_json:
        emit_json({"database": redact(settings.database_url), "deliveries": reports})
    else:
        for report in reports:
            _print_report(report)
        stdout_console.print(f"[dim]{LEGEND}[/]", highlight=False)
    if any(_failed(report) for report in reports):
        raise typer.Exit(EXIT_FOUND)


def _failed(report: dict[str, Any]) -> bool:
    return report["status"] == FAILED or any(t["state"] == FAILED for t in report["tracks"])


def _print_report(report: dict[str, Any]) -> None:
    from rich.table import Table

    sender = report["sender"]["name"] or report["sender"]["dpid"] or "unknown sender"
    title = (
        f"delivery {report['delivery_id']} · {report['message_id'] or 'no message id'} · "
        f"{sender} · ERN {report['ern_version'] or '(unknown version)'} · {report['status']}"
    )
    if report["error"]:
        title += f" · {report['error']}"
    table = Table(title=title, title_justify="left", show_lines=True)
    for column in ("#", "ISRC", "title / artist", "duration", "LUFS", "decision", "why"):
        table.add_column(column, overflow="fold")
    for track in report["tracks"]:
        declared, actual = track["declared_duration_s"], track["duration_s"]
        duration = f"{_num(actual)} s" + (f" (decl. {_num(declared)})" if declared else "")
        decision = track["decision"] or track["state"]
        style = DECISION_STYLE.get(decision, "red" if decision == FAILED else "")
        table.add_row(
            str(track["track_id"]),
            track["isrc"] or "-",
            f"{track['title'] or '(no title)'}\n[dim]{track['display_artist'] or ''}[/]",
            duration,
            _num(track["loudness_lufs"]),
            f"[{style}]{decision}[/]" if style else decision,
            "\n".join(why_lines(track)) or "-",
        )
    stdout_console.print(table)
    for finding in report["findings"]:
        if finding["severity"] != "info":
            stdout_console.print(
                f"  [dim]{finding['severity']}[/] {finding['message']} "
                f"[dim]\\[{finding['code']}][/]",
                highlight=False,
            )


def why_lines(track: dict[str, Any]) -> list[str]:
    """The decision's reasons in words; a duplicate says of which track and how it differs.

    Reasons of one rule ("metadata looks like catalog spam: ...") share one heading. Findings
    that made no reason (a failed track's error, a warning no rule acts on) follow."""
    findings = [f for f in track["findings"] if f["severity"] != "info"]
    groups: list[tuple[str, list[str]]] = []
    used = set()
    for reason in track["reasons"]:
        source = next((f for f in findings if f["message"] and reason.endswith(f["message"])), None)
        if source is None:
            groups.append(("", [reason]))
            continue
        used.add(id(source))
        heading = reason[: len(reason) - len(source["message"])].rstrip().rstrip(":")
        if source["code"] in DUPLICATE_CODES:
            heading = ""  # "same recording as #1 ..." says it all
        words = _finding_words(source, source["message"])
        if groups and heading and groups[-1][0] == heading:
            groups[-1][1].append(words)
        else:
            groups.append((heading, [words]))
    groups += [("", [_finding_words(f, f["message"])]) for f in findings if id(f) not in used]
    lines = []
    for heading, items in groups:
        if heading and len(items) > 1:
            lines += [f"{heading}:", *(f"· {item}" for item in items)]
        else:
            lines += [f"{heading}: {item}" if heading else item for item in items]
    return lines


def _finding_words(finding: dict[str, Any], words: str) -> str:
    if finding["code"] in DUPLICATE_CODES:
        words = duplicate_words(finding["evidence"] or {})
    return f"{words} [dim]\\[{finding['code']}][/]"


def duplicate_words(evidence: dict[str, Any]) -> str:
    """ "same recording as #1 Harbour Lights, 4 % faster, pitch +0.5 st" from a finding's
    evidence (the catalog's own thresholds decide which changes are worth naming)."""
    from integrity.catalog.assets import PITCH_REPORT_MIN_SEMITONES, SPEED_REPORT_MIN_RATIO

    other = f"#{evidence.get('track_id', '?')} {evidence.get('title') or '(no title)'}"
    if evidence.get("identical_file"):
        return f"same audio file as {other}"
    changes = []
    scale = float(evidence.get("time_scale", 1.0))
    if abs(scale - 1.0) >= SPEED_REPORT_MIN_RATIO:
        changes.append(f"{abs(scale - 1.0) * 100:.2g} % {'faster' if scale > 1 else 'slower'}")
    pitch = float(evidence.get("pitch_semitones", 0.0))
    if abs(pitch) >= PITCH_REPORT_MIN_SEMITONES:
        changes.append(f"pitch {pitch:+.1f} st")
    return ", ".join([f"same recording as {other}", *changes])


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def register(app: typer.Typer) -> None:
    app.command("scan", epilog=EXIT_CODES_HELP)(scan)
