"""`integrity index add|remove`, `integrity match`, `integrity dedupe`: fingerprints from the shell.

The index is the embedded file at Settings.index_path unless `--index` names another file or a
postgresql:// URL. Audio is decoded in the sandbox like every untrusted file.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from integrity.audio import AudioDecodeError
from integrity.catalog.fingerprints import open_index
from integrity.cli.common import JSON_OPTION, emit_json, fail, progress_bar, stdout_console
from integrity.config import get_settings
from integrity.corpus import AUDIO_SUFFIXES
from integrity.fingerprint import (
    Fingerprint,
    FingerprintError,
    FingerprintIndex,
    FingerprintIndexError,
)
from integrity.fingerprint.audio_io import fingerprint_file
from integrity.fingerprint.evidence import match_record

index_app = typer.Typer(help="Add tracks to the fingerprint index or take them down.")

INDEX_OPTION = typer.Option(
    "--index", help="Index file or postgresql:// URL (default: the configured index)."
)


def _location(index: str | None) -> str:
    return index or str(get_settings().index_path)


def _open(index: str | None, *, create: bool) -> FingerprintIndex:
    location = _location(index)
    try:
        if location.startswith(("postgresql", "postgres:")):
            return open_index(location)
        return open_index(location, create=create)
    except FingerprintIndexError as exc:
        fail(str(exc))


def _fingerprint(path: Path) -> Fingerprint:
    if not path.is_file():
        fail(f"{path}: no such file")
    try:
        return fingerprint_file(path)
    except (AudioDecodeError, FingerprintError) as exc:
        fail(str(exc) if isinstance(exc, AudioDecodeError) else f"{path}: {exc}")


def add(
    audio: Annotated[list[Path], typer.Argument(help="Audio files to index.")],
    index: Annotated[str | None, INDEX_OPTION] = None,
    track_id: Annotated[
        str | None, typer.Option("--id", help="Track id (one file only; default: file stem).")
    ] = None,
    isrc: Annotated[
        str | None, typer.Option("--isrc", help="ISRC to store (one file only).")
    ] = None,
    title: Annotated[
        str | None, typer.Option("--title", help="Title to store (one file only).")
    ] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Fingerprint audio files and add them to the index (an existing id is replaced)."""
    if len(audio) > 1 and (track_id or isrc or title):
        fail("--id, --isrc and --title need exactly one audio file")
    fingerprints = []
    with progress_bar() as progress:
        task = progress.add_task("fingerprinting", total=len(audio))
        for path in audio:
            fingerprints.append(_fingerprint(path))
            progress.advance(task)
    idx = _open(index, create=True)
    added = []
    try:
        for path, fp in zip(audio, fingerprints, strict=True):
            tid = track_id or path.stem
            meta = {"title": title or path.stem}
            if isrc:
                meta["isrc"] = isrc
            idx.add(tid, fp, meta=meta)
            added.append({"id": tid, "path": str(path), "duration_s": round(fp.duration_s, 3)})
    finally:
        idx.close()
    if as_json:
        emit_json({"index": _location(index), "added": added})
    else:
        for row in added:
            stdout_console.print(
                f"added {row['id']} ({row['duration_s']:.1f} s) from {row['path']}"
            )


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
    records = [match_record(m) for m in matches]
    if as_json:
        emit_json({"query": str(audio), "matches": records})
        return
    if not records:
        stdout_console.print(f"{audio}: no match")
        return
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
    """Group a folder's audio into clusters of duplicates (copies under any distortion)."""
    if not directory.is_dir():
        fail(f"{directory}: not a folder")
    files = sorted(
        p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
    )
    fingerprints: dict[str, Fingerprint] = {}
    unreadable: list[dict[str, str]] = []
    with progress_bar() as progress:
        task = progress.add_task("fingerprinting", total=len(files))
        for path in files:
            rel = str(path.relative_to(directory))
            try:
                fingerprints[rel] = fingerprint_file(path)
            except (AudioDecodeError, FingerprintError) as exc:
                unreadable.append({"path": rel, "error": str(exc)})
            progress.advance(task)
    clusters = find_clusters(fingerprints)
    if as_json:
        emit_json({"dir": str(directory), "clusters": clusters, "unreadable": unreadable})
        return
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
        stdout_console.print(f"[yellow]unreadable[/] {bad['path']}: {bad['error']}")


def find_clusters(fingerprints: dict[str, Fingerprint]) -> list[dict[str, Any]]:
    """Clusters (connected components) of files whose whole-track checks match each other."""
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
    clusters = []
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
    index_app.command("remove")(remove)
    app.add_typer(index_app, name="index")
    app.command("match")(match)
    app.command("dedupe")(dedupe)
