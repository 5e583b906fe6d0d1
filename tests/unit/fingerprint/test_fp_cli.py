"""`integrity index add|remove`, `match --json` (the contract) and `dedupe` on generated files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import typer
from typer.testing import CliRunner

from integrity.cli import fingerprint_cmds

from .fp_helpers import SR, song_with_loop, speed

CONTRACT_KEYS = {
    "id",
    "isrc",
    "title",
    "score",
    "query_offset_s",
    "ref_offset_s",
    "time_scale",
    "pitch_semitones",
    "matched_s",
    "repeat_ref_offsets_s",
}


@pytest.fixture()
def cli(tmp_path: Path) -> typer.Typer:
    app = typer.Typer()
    fingerprint_cmds.register(app)
    return app


def _run(app: typer.Typer, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _write(path: Path, x: np.ndarray) -> Path:
    sf.write(path, x, SR)
    return path


def test_add_match_remove(cli: typer.Typer, tmp_path: Path) -> None:
    song = song_with_loop(seed=21, seconds=40.0)
    index = str(tmp_path / "cli.fpi")
    original = _write(tmp_path / "original.wav", song)
    other = _write(tmp_path / "other.wav", song_with_loop(seed=22, seconds=40.0))
    code, out, _ = _run(cli, "index", "add", "--index", index, str(original), str(other), "--json")
    assert code == 0, out
    assert [a["id"] for a in json.loads(out)["added"]] == ["original", "other"]
    code, out, _ = _run(
        cli, "index", "add", "--index", index, str(original), "--id", "T1", "--isrc", "QZ0000000001"
    )
    assert code == 0

    query = _write(tmp_path / "query.wav", speed(song[12 * SR : 24 * SR], 1.05))
    code, out, _ = _run(cli, "match", "--index", index, str(query), "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["query"] == str(query)
    ids = [m["id"] for m in doc["matches"]]
    assert set(ids) == {"original", "T1"}  # the same audio indexed under two ids
    for m in doc["matches"]:
        assert set(m) == CONTRACT_KEYS
        assert abs(m["ref_offset_s"] - m["time_scale"] * m["query_offset_s"] - 12.0) < 0.5
    assert next(m for m in doc["matches"] if m["id"] == "T1")["isrc"] == "QZ0000000001"
    scores = [m["score"] for m in doc["matches"]]
    assert scores == sorted(scores, reverse=True)

    code, out, _ = _run(cli, "index", "remove", "--index", index, "T1")
    assert code == 0
    code, out, _ = _run(cli, "match", "--index", index, str(query), "--json")
    assert [m["id"] for m in json.loads(out)["matches"]] == ["original"]

    silence = _write(tmp_path / "silence.wav", np.zeros(5 * SR, dtype=np.float32))
    code, out, _ = _run(cli, "match", "--index", index, str(silence), "--json")
    assert code == 0 and json.loads(out)["matches"] == []


def test_errors_exit_2(cli: typer.Typer, tmp_path: Path) -> None:
    audio = _write(tmp_path / "a.wav", song_with_loop(seed=23, seconds=12.0))
    code, _, err = _run(cli, "match", "--index", str(tmp_path / "missing.fpi"), str(audio))
    assert code == 2 and "no fingerprint index" in err
    index = str(tmp_path / "e.fpi")
    assert _run(cli, "index", "add", "--index", index, str(audio))[0] == 0
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"this is not audio" * 100)
    code, _, err = _run(cli, "match", "--index", index, str(bad))
    assert code == 2 and "bad.mp3" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(cli, "index", "remove", "--index", index, "nope")
    assert code == 2
    code, _, err = _run(cli, "index", "add", "--index", index, str(audio), str(audio), "--id", "x")
    assert code == 2


def test_dedupe_clusters(cli: typer.Typer, tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    folder.mkdir()
    a = song_with_loop(seed=31, seconds=30.0)
    b = song_with_loop(seed=32, seconds=30.0)  # shares only the drum loop with a
    _write(folder / "a.wav", a)
    _write(folder / "a_sped_up.wav", speed(a, 1.08))
    _write(folder / "a_excerpt.wav", a[5 * SR : 20 * SR])
    _write(folder / "b.wav", b)
    code, out, _ = _run(cli, "dedupe", str(folder), "--json")
    assert code == 0
    doc = json.loads(out)
    assert [c["files"] for c in doc["clusters"]] == [["a.wav", "a_excerpt.wav", "a_sped_up.wav"]]
    code, _, _ = _run(cli, "dedupe", str(tmp_path / "nowhere"))
    assert code == 2
