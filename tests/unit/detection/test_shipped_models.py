"""The models committed under models/ load, score a generated clip and honour the contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import typer
from typer.testing import CliRunner

from integrity.catalog.policy import ACTION_RANK, Policy
from integrity.cli import analyze_cmds
from integrity.cli.analyze_cmds import analyze_file
from integrity.config import Settings
from integrity.detection import load_model
from integrity.features import CONTEXT_FEATURES, FEATURE_NAMES, extract_features
from tests.unit.features.conftest import RATE, chord, with_periodic_pattern

MODEL_NAMES = ("synthetic", "spam")

SHIPPED = Settings().models_dir


def _cli() -> typer.Typer:
    """A fresh app holding only `analyze` (the global app is shared by other tests)."""
    app = typer.Typer()
    app.callback()(lambda: None)
    analyze_cmds.register(app)
    return app


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(7)
    path = tmp_path_factory.mktemp("audio") / "decoder-like.wav"
    sf.write(str(path), with_periodic_pattern(chord(8.0, rng), rng), RATE)
    return path


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_shipped_model_loads_and_scores(name: str) -> None:
    model = load_model(name, root=SHIPPED)
    assert set(model.features) <= set(FEATURE_NAMES)
    assert (model.path / "card.md").is_file() and (model.path / "metrics.json").is_file()
    points = model.operating_points
    assert 0.0 <= points.review <= points.filter <= points.block <= 1.0
    rng = np.random.default_rng(3)
    p = model.score_features(extract_features(chord(6.0, rng), RATE))
    assert 0.0 <= p <= 1.0


def test_synthetic_model_never_reads_duration_or_silence() -> None:
    assert not set(load_model("synthetic", root=SHIPPED).features) & set(CONTEXT_FEATURES)


def test_analyze_file_follows_the_json_contract(clip_path: Path) -> None:
    models = {name: load_model(name, root=SHIPPED) for name in MODEL_NAMES}
    result = analyze_file(clip_path, models, Policy())
    assert set(result) == {"file", "duration_s", "scores", "decision", "reasons", "model_versions"}
    assert result["duration_s"] == pytest.approx(8.0, abs=0.01)
    assert set(result["scores"]) == set(MODEL_NAMES)
    assert all(0.0 <= p <= 1.0 for p in result["scores"].values())
    assert result["decision"] in ACTION_RANK
    assert result["reasons"] and all(isinstance(r, str) and r for r in result["reasons"])
    assert result["model_versions"] == {n: models[n].version for n in MODEL_NAMES}


def test_analyze_cli_prints_one_object_per_file(clip_path: Path) -> None:
    out = CliRunner().invoke(_cli(), ["analyze", str(clip_path), str(clip_path), "--json"])
    assert out.exit_code == 0, out.output
    document = json.loads(out.stdout)
    assert [d["file"] for d in document] == [str(clip_path)] * 2


def test_analyze_cli_rejects_a_missing_file(tmp_path: Path) -> None:
    out = CliRunner().invoke(_cli(), ["analyze", str(tmp_path / "nope.wav"), "--json"])
    assert out.exit_code == 2


def test_analyze_cli_reports_an_undecodable_file_and_keeps_the_others(
    clip_path: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb" + b"\x00" * 64)
    out = CliRunner().invoke(_cli(), ["analyze", str(broken), str(clip_path), "--json"])
    assert out.exit_code == 1  # something failed, and the caller's script can tell
    document = json.loads(out.stdout)
    assert [d["file"] for d in document] == [str(broken), str(clip_path)]
    assert document[0]["decision"] is None and str(broken) in document[0]["error"]
    assert document[1]["decision"] in ACTION_RANK and "error" not in document[1]
