"""`integrity ddex inspect|validate FILE`: the ERN library on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from integrity.cli.common import (
    EXIT_CODES_HELP,
    EXIT_FOUND,
    JSON_OPTION,
    cli_settings,
    emit_json,
    fail,
    stdout_console,
)

if TYPE_CHECKING:
    import ddex

ABSENT = "-"
"""How a table cell shows a value the message does not give (never Python's None)."""
ErnFile = Annotated[Path, typer.Argument(help="An ERN message (XML file).")]

ddex_app = typer.Typer(
    help="Read and validate DDEX ERN messages.", no_args_is_help=True, epilog=EXIT_CODES_HELP
)


def _read(path: Path) -> tuple[ddex.Message, list[ddex.Finding]]:
    import ddex

    settings = cli_settings()
    limits = ddex.ReadLimits(max_bytes=settings.xml_max_bytes, max_depth=settings.xml_max_depth)
    try:
        message = ddex.read_file(path, limits=limits)
    except ddex.ErnReadError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}")
    return message, ddex.validate(message)


@ddex_app.command("inspect")
def inspect(file: ErnFile, as_json: bool = JSON_OPTION) -> None:
    """Print what the message says: header, releases, tracks, findings (exit 2 if unreadable)."""
    import ddex

    message, findings = _read(file)
    document = ddex.to_inspect_json(message, findings)
    if as_json:
        emit_json(document)
        return
    from rich.table import Table

    stdout_console.print(header_line(document), highlight=False)
    for release in document["releases"]:
        stdout_console.print(release_line(release), highlight=False)
    table = Table("ref", "ISRC", "title", "artist", "duration s", "file", "AI")
    for track in document["tracks"]:
        table.add_row(
            _cell(track["reference"]),
            _cell(track["isrc"]),
            _cell(track["title"]),
            _cell(track["display_artist"]),
            ABSENT if track["duration_s"] is None else f"{track['duration_s']:.0f}",
            _cell(track["file"]),
            _cell(track["contains_ai"]),
        )
    stdout_console.print(table)
    _print_findings(document["findings"])


def _cell(value: Any) -> str:
    return ABSENT if value is None or value == "" else str(value)


def header_line(document: dict[str, Any]) -> str:
    """ "ERN 4.3 NewReleaseMessage M1 from Acme (PADPIDA...), control type LiveMessage", with
    absent parts left out rather than printed as None."""
    sender = document["sender"]
    who = " ".join(
        part for part in (sender["name"], f"({sender['dpid']})" if sender["dpid"] else None) if part
    )
    parts = [
        f"ERN {document['version'] or '(version not stated)'}",
        document["message_type"] or "(message type not stated)",
        document["message_id"] or "(no message id)",
        f"from {who}" if who else "from an unnamed sender",
    ]
    line = " ".join(parts)
    if document["control_type"]:
        line += f", control type {document['control_type']}"
    return line


def release_line(release: dict[str, Any]) -> str:
    """One release as a sentence; a missing title, artist or type reads as absent."""
    line = f"release [bold]{release['title'] or '(no title)'}[/]"
    if release["display_artist"]:
        line += f" by {release['display_artist']}"
    if release["type"]:
        line += f" ({release['type']})"
    count = len(release["track_isrcs"])
    return f"{line}, {count} track{'' if count == 1 else 's'}"


@ddex_app.command("validate")
def validate(
    file: ErnFile,
    xsd_dir: Annotated[
        Path | None,
        typer.Option(
            "--xsd-dir", help="Folder of ERN schemas (version sub-folders or the schema files)."
        ),
    ] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """List findings (exit 1 when any is an error, 2 when the file is not a readable ERN)."""
    import ddex

    message, findings = _read(file)
    if xsd_dir is not None:
        if not xsd_dir.is_dir():
            fail(f"--xsd-dir {xsd_dir}: not a folder")
        findings = [
            *ddex.validate_xsd(file.read_bytes(), xsd_dir=xsd_dir, version=message.version),
            *findings,
        ]
    rows = [
        {"severity": f.severity, "code": f.code, "location": f.location, "message": f.message}
        for f in findings
    ]
    if as_json:
        emit_json({"file": str(file), "version": message.version, "findings": rows})
    else:
        _print_findings(rows)
    if any(f.severity == "error" for f in findings):
        raise typer.Exit(EXIT_FOUND)


def _print_findings(rows: list[dict[str, str]]) -> None:
    from rich.table import Table

    if not rows:
        stdout_console.print("no findings")
        return
    table = Table("severity", "code", "location", "message")
    for row in rows:
        table.add_row(row["severity"], row["code"], _cell(row["location"]), row["message"])
    stdout_console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(ddex_app, name="ddex")
