"""`integrity ddex inspect|validate FILE`: the ERN library on the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

import ddex
from integrity.cli.common import JSON_OPTION, emit_json, fail, stdout_console
from integrity.config import get_settings

EXIT_HAS_ERRORS = 1
ErnFile = Annotated[Path, typer.Argument(help="An ERN message (XML file).")]

ddex_app = typer.Typer(help="Read and validate DDEX ERN messages.", no_args_is_help=True)


def _read(path: Path) -> tuple[ddex.Message, list[ddex.Finding]]:
    settings = get_settings()
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
    message, findings = _read(file)
    document = ddex.to_inspect_json(message, findings)
    if as_json:
        emit_json(document)
        return
    sender = document["sender"]
    stdout_console.print(
        f"ERN {document['version']} {document['message_type']} {document['message_id']} "
        f"from {sender['name']} ({sender['dpid']}), control type {document['control_type']}",
        highlight=False,
    )
    for release in document["releases"]:
        stdout_console.print(
            f"release [bold]{release['title']}[/] by {release['display_artist']} "
            f"({release['type']}), {len(release['track_isrcs'])} tracks",
            highlight=False,
        )
    table = Table("ref", "ISRC", "title", "artist", "duration s", "file", "AI")
    for track in document["tracks"]:
        table.add_row(
            track["reference"],
            track["isrc"] or "-",
            track["title"] or "-",
            track["display_artist"] or "-",
            "-" if track["duration_s"] is None else f"{track['duration_s']:.0f}",
            track["file"] or "-",
            track["contains_ai"] or "-",
        )
    stdout_console.print(table)
    _print_findings(document["findings"])


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
        raise typer.Exit(EXIT_HAS_ERRORS)


def _print_findings(rows: list[dict[str, str]]) -> None:
    if not rows:
        stdout_console.print("no findings")
        return
    table = Table("severity", "code", "location", "message")
    for row in rows:
        table.add_row(row["severity"], row["code"], row["location"], row["message"])
    stdout_console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(ddex_app, name="ddex")
