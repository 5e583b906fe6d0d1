"""`integrity index add|remove`, `integrity match`, `integrity dedupe`: fingerprints from the shell.

The index is the embedded file at Settings.index_path unless `--index` names another file or a
postgresql:// URL. Audio is decoded in the sandbox like every untrusted file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from integrity.cli.common import (
    EXIT_CODES_HELP,
    EXIT_FOUND,
    JSON_OPTION,
    audio_in_folder,
    cli_settings,
    emit_json,
    env_name,
    fail,
    open_fingerprint_index,
    progress_bar,
    stdout_console,
)

if TYPE_CHECKING:
    from integrity.fingerprint import Fingerprint, FingerprintIndex

index_app = typer.Typer(
    help="The fingerprint index (INTEGRITY_INDEX_PATH, default: DATA_DIR/fingerprints): add "
    "tracks, list them, take them down.",
    no_args_is_help=True,
    epilog=EXIT_CODES_HELP,
)

INDEX_OPTION = typer.Option(
    "--index",
    help="Index file or postgresql:// URL [default: INTEGRITY_INDEX_PATH, else "
    "DATA_DIR/fingerprints].",
    show_default=False,
)


def _location(index: str | None) -> str:
    return index or str(cli_settings().index_path)


def _open(index: str | None, *, create: bool) -> FingerprintIndex:
    setting = "--index" if index else env_name("index_path")
    return open_fingerprint_index(_location(index), setting=setting, create=create)


def _decode_error(path: Path, exc: Exception) -> str:
    """One line naming the file (the decoder's errors already start with the path)."""
    text = str(exc)
    return text if text.startswith(str(path)) else f"{path}: {text}"


def _fingerprint(path: Path) -> Fingerprint:
    """A file's fingerprint, or a one-line error (exit 2) naming it: `match` takes one file."""
    from integrity.audio import AudioDecodeError
    from integrity.fingerprint import FingerprintError
    from integrity.fingerprint.audio_io import fingerprint_file

    if not path.is_file():
        fail(f"{path}: no such file")
    try:
        return fingerprint_file(path)
    except (AudioDecodeError, FingerprintError) as exc:
        fail(_decode_error(path, exc))


def add(
    audio: Annotated[list[Path], typer.Argument(help="Audio files to index.")],
    index: Annotated[str | None, INDEX_OPTION] = None,
    track_id: Annotated[
        str | None,
        typer.Option("--id", help="Track id (one file only).", show_default="the file stem"),
    ] = None,
    isrc: Annotated[
        str | None, typer.Option("--isrc", help="ISRC to store (one file only).")
    ] = None,
    title: Annotated[
        str | None,
        typer.Option(
            "--title", help="Title to store (one file only).", show_default="the file stem"
        ),
    ] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Fingerprint audio files and add them to the index (an existing id is replaced).

    A file that cannot be decoded is reported and the others are still added (exit 1).
    """
    from integrity.audio import AudioDecodeError
    from integrity.fingerprint import FingerprintError
    from integrity.fingerprint.audio_io import fingerprint_file

    if len(audio) > 1 and (track_id or isrc or title):
        fail("--id, --isrc and --title need exactly one audio file")
    for path in audio:
        if not path.is_file():
            fail(f"{path}: no such file")
    idx = _open(index, create=True)
    added: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    try:
        with progress_bar() as progress:
            task = progress.add_task("fingerprinting", total=len(audio))
            for path in audio:
                try:
                    fp = fingerprint_file(path)
                except (AudioDecodeError, FingerprintError) as exc:
                    failed.append({"path": str(path), "error": _decode_error(path, exc)})
                else:
                    tid = track_id or path.stem
                    meta: dict[str, Any] = {"title": title or path.stem}
                    if isrc:
                        meta["isrc"] = isrc
                    idx.add(tid, fp, meta=meta)
                    added.append(
                        {"id": tid, "path": str(path), "duration_s": round(fp.duration_s, 3)}
                    )
                progress.advance(task)
    finally:
        idx.close()
    if as_json:
        emit_json({"index": _location(index), "added": added, "failed": failed})
    else:
        for row in added:
            stdout_console.print(
                f"added {row['id']} ({row['duration_s']:.1f} s) from {row['path']}",
                highlight=False,
            )
        for row in failed:
            stdout_console.print(f"[yellow]not added[/] {row['error']}", highlight=False)
    if failed:
        raise typer.Exit(EXIT_FOUND)


def list_tracks(
    index: Annotated[str | None, INDEX_OPTION] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """List the indexed tracks: id, ISRC, title, duration."""
    idx = _open(index, create=False)
    try:
        rows: list[dict[str, Any]] = [
            {
                "id": t.track_id,
                "isrc": t.meta.get("isrc"),
                "title": t.meta.get("title"),
                "duration_s": round(t.duration_s, 3),
            }
            for t in idx.tracks()
        ]
    finally:
        idx.close()
    if as_json:
        emit_json({"index": _location(index), "tracks": rows})
        return
    if not rows:
        stdout_console.print(f"{_location(index)}: no tracks")
        return
    from rich.table import Table

    heading = f"{len(rows)} tracks in {_location(index)}"
    table = Table("id", "ISRC", "title", "duration s", title=heading, title_justify="left")
    for row in rows:
        table.add_row(
            row["id"], row["isrc"] or "-", row["title"] or "-", f"{row['duration_s']:.1f}"
        )
    stdout_console.print(table)


def remove(
    track_id: Annotated[str, typer.Argument(help="Id of the track to take down.")],
    index: Annotated[str | None, INDEX_OPTION] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Take a track down: it no longer matches anything."""
    idx = _open(index, create=False)
    try:
        removed = idx.remove(track_id)
    finally:
        idx.close()
    if not removed:
        fail(f"no track {track_id!r} in {_location(index)}")
    if as_json:
        emit_json({"index": _location(index), "removed": track_id})
    else:
        stdout_console.print(f"removed {track_id}")


def match(
    audio: Annotated[Path, typer.Argument(help="Audio file (an excerpt or a whole track).")],
    index: Annotated[str | None, INDEX_OPTION] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Find indexed tracks this audio is (a distorted copy of a part of), best first."""
    idx = _open(index, create=False)
    try:
        fp = _fingerprint(audio)
        matches = idx.query(fp)
    finally:
        idx.close()
    from integrity.fingerprint.evidence import match_record

    records = [match_record(m) for m in matches]
    if as_json:
        emit_json({"query": str(audio), "matches": records})
        return
    if not records:
        stdout_console.print(f"{audio}: no match")
        return
    from rich.table import Table

    table = Table(title=f"matches for {audio}")
    for col in ("id", "isrc", "title", "score", "query s", "ref s", "scale", "pitch st", "len s"):
        table.add_column(col)
    for r in records:
        table.add_row(
            r["id"],
            r["isrc"] or "",
            r["title"] or "",
            f"{r['score']:.6f}",
            f"{r['query_offset_s']:.2f}",
            f"{r['ref_offset_s']:.2f}",
            f"{r['time_scale']:.3f}",
            f"{r['pitch_semitones']:+.2f}",
            f"{r['matched_s']:.1f}",
        )
    stdout_console.print(table)


def dedupe(
    directory: Annotated[
        Path, typer.Argument(help="Folder of audio files (searched recursively).")
    ],
    as_json: bool = JSON_OPTION,
) -> None:
    """Group a folder's audio into clusters of duplicates (copies under any distortion).

    A file that cannot be decoded is reported and the others are still grouped (exit 1).
    """
    from integrity.audio import AudioDecodeError
    from integrity.fingerprint import FingerprintError
    from integrity.fingerprint.audio_io import fingerprint_file

    if not directory.is_dir():
        fail(f"{directory}: not a folder")
    files = audio_in_folder(directory)
    fingerprints: dict[str, Fingerprint] = {}
    unreadable: list[dict[str, str]] = []
    with progress_bar() as progress:
        task = progress.add_task("fingerprinting", total=len(files))
        for path in files:
            rel = str(path.relative_to(directory))
            try:
                fingerprints[rel] = fingerprint_file(path)
            except (AudioDecodeError, FingerprintError) as exc:
                unreadable.append({"path": rel, "error": _decode_error(path, exc)})
            progress.advance(task)
    clusters = find_clusters(fingerprints)
    if as_json:
        emit_json({"dir": str(directory), "clusters": clusters, "unreadable": unreadable})
    else:
        _print_clusters(directory, fingerprints, clusters, unreadable)
    if unreadable:
        raise typer.Exit(EXIT_FOUND)


def _print_clusters(
    directory: Path,
    fingerprints: dict[str, Fingerprint],
    clusters: list[dict[str, Any]],
    unreadable: list[dict[str, str]],
) -> None:
    if not clusters:
        stdout_console.print(f"{directory}: no duplicates among {len(fingerprints)} files")
    for i, cluster in enumerate(clusters, 1):
        stdout_console.print(f"cluster {i}: " + ", ".join(cluster["files"]))
        for pair in cluster["pairs"]:
            stdout_console.print(
                f"  {pair['a']} ~ {pair['b']}: score {pair['score']:.6f}, "
                f"scale {pair['time_scale']:.3f}, pitch {pair['pitch_semitones']:+.2f} st, "
                f"{pair['matched_s']:.1f} s aligned"
            )
    for bad in unreadable:
        stdout_console.print(f"[yellow]unreadable[/] {bad['error']}", highlight=False)


def find_clusters(fingerprints: dict[str, Fingerprint]) -> list[dict[str, Any]]:
    """Clusters (connected components) of files whose whole-track checks match each other."""
    from integrity.catalog.fingerprints import open_index

    parent = {name: name for name in fingerprints}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    pairs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        idx = open_index(Path(tmp) / "dedupe.fpi")
        try:
            for name, fp in fingerprints.items():
                idx.add(name, fp)
            seen: set[tuple[str, str]] = set()
            for name, fp in fingerprints.items():
                for m in idx.check_duplicates(fp, exclude=[name]):
                    key = (min(name, m.track_id), max(name, m.track_id))
                    if key in seen:
                        continue
                    seen.add(key)
                    parent[root(name)] = root(m.track_id)
                    pairs.append(
                        {
                            "a": name,
                            "b": m.track_id,
                            "score": m.score,
                            "time_scale": m.time_scale,
                            "pitch_semitones": m.pitch_semitones,
                            "matched_s": m.matched_s,
                        }
                    )
        finally:
            idx.close()
    groups: dict[str, list[str]] = {}
    for name in fingerprints:
        groups.setdefault(root(name), []).append(name)
    clusters: list[dict[str, Any]] = []
    for members in groups.values():
        if len(members) < 2:
            continue
        member_set = set(members)
        clusters.append(
            {
                "files": sorted(members),
                "pairs": [p for p in pairs if p["a"] in member_set],
            }
        )
    clusters.sort(key=lambda c: c["files"][0])
    return clusters


def register(app: typer.Typer) -> None:
    index_app.command("add")(add)
    index_app.command("list")(list_tracks)
    index_app.command("remove")(remove)
    app.add_typer(index_app, name="index")
    app.command("match", epilog=EXIT_CODES_HELP)(match)
    app.command("dedupe", epilog=EXIT_CODES_HELP)(dedupe)
