"""`integrity train build-data --quick`, `fit` and `evaluate` end to end (slow: minutes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from integrity.cli import train_cmds
from integrity.detection.registry import load_model

pytest.importorskip("torch", reason="the transposed-conv generators need the torch extra")
pytest.importorskip("matplotlib", reason="evaluation plots need matplotlib (the train extra)")


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.callback()(lambda: None)
    train_cmds.register(app)
    return app


@pytest.mark.slow
def test_quick_build_fit_evaluate(tmp_path: Path) -> None:
    data, models = tmp_path / "data", tmp_path / "models"
    runner = CliRunner()
    built = runner.invoke(_cli(), ["train", "build-data", "--quick", "--out", str(data), "--json"])
    assert built.exit_code == 0, built.output
    summary = json.loads(built.stdout)
    assert summary["by_family"].get("synthetic:real", 0) > 0
    assert summary["by_family"].get("synthetic:tconv", 0) > 0
    records = [json.loads(line) for line in (data / "manifest.jsonl").read_text().splitlines()]
    assert all({"sources", "licence", "family", "seed", "chain", "fold"} <= set(r) for r in records)
    # Folds never share a track, and a music package sits on one side only (train+calib,
    # threshold or test): the operating point and the test FPR come from unseen packages.
    folds_of_track: dict[str, set[str]] = {}
    side_of_package: dict[str, set[str]] = {}
    side = {"train": "learn", "calib": "learn", "threshold": "threshold", "test": "test"}
    for r in records:
        for source in r["sources"]:
            folds_of_track.setdefault(source, set()).add(r["fold"])
        if r["kind"].startswith(("music", "window")):
            side_of_package.setdefault(r["package"], set()).add(side[r["fold"]])
    assert all(len(f) == 1 for f in folds_of_track.values())
    assert all(len(s) == 1 for s in side_of_package.values()), side_of_package
    assert sum(r["fold"] == "threshold" for r in records) >= 40
    assert any(r["family"] in ("espeak", "flite", "piper") for r in records)
    fitted = runner.invoke(
        _cli(),
        [
            "train",
            "fit",
            "--data",
            str(data),
            "--models-dir",
            str(models),
            "--version",
            "0.0.1",
            "--json",
        ],
    )
    assert fitted.exit_code == 0, fitted.output
    for name in ("synthetic", "spam"):
        folder = models / name / "0.0.1"
        for file in ("model.txt", "model.json", "calibration.json", "metrics.json", "card.md"):
            assert (folder / file).is_file(), file
        assert load_model(name, "0.0.1", root=models).name == name
    evaluated = runner.invoke(
        _cli(),
        [
            "train",
            "evaluate",
            "--data",
            str(data),
            "--models-dir",
            str(models),
            "--version",
            "0.0.1",
            "--no-robustness",
            "--no-external",
            "--json",
        ],
    )
    assert evaluated.exit_code == 0, evaluated.output
    goals = json.loads(evaluated.stdout)
    assert any(g["measure"].startswith("real-music FPR at the operating point") for g in goals)
    points = json.loads((models / "synthetic" / "0.0.1" / "calibration.json").read_text())
    op = points["operating_points"]
    assert op["negatives"] >= 40 and 0.0 <= op["review_fpr_ci95"][1] <= 1.0
    assert (models / "synthetic" / "0.0.1" / "evaluation.md").is_file()
    assert (models / "synthetic" / "0.0.1" / "roc.png").is_file()


def test_a_full_build_without_festival_is_refused_naming_the_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Festival's jobs share the seeded stream with every later job: a full corpus built without
    # it would silently differ from the one the shipped models record.
    from integrity.training import generators

    monkeypatch.setattr(generators, "festival_available", lambda: False)
    result = CliRunner().invoke(
        _cli(), ["train", "build-data", "--out", str(tmp_path / "full"), "--json"]
    )
    assert result.exit_code != 0
    assert "apt-get install festival festvox-us-slt-hts" in result.output
