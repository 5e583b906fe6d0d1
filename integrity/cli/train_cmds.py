"""`integrity train build-data|fit|evaluate`: rebuild the detectors from public audio.

The corpus lives outside the repository (default ~/.cache/integrity/training/{quick,full});
models are written to models/NAME/VERSION/ (Settings.models_dir unless --models-dir).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from integrity.cli.common import (
    JSON_OPTION,
    cli_settings,
    emit_json,
    fail,
    progress_bar,
    stdout_console,
)

train_app = typer.Typer(help="Build training data, fit the detectors, evaluate them.")

DEFAULT_VERSION = "1.1.0"
QUICK_OPTION = typer.Option("--quick", help="The small corpus (a few minutes; what CI runs).")
DATA_OPTION = typer.Option(
    "--data", help="Corpus folder (default: ~/.cache/integrity/training/quick or full)."
)
MODELS_OPTION = typer.Option(
    "--models-dir",
    help="Where models live [default: INTEGRITY_MODELS_DIR, else models/].",
    show_default=False,
)
VERSION_OPTION = typer.Option("--version", help="Model version folder to write or evaluate.")
# Evaluation-only material beside the repository (a fresh clone has ../shared next to it).
SHARED_AUDIO = Path(__file__).resolve().parents[2].parent / "shared" / "audio"


def _data_dir(data: Path | None, quick: bool) -> Path:
    from integrity.training.dataset import default_data_dir

    return data or default_data_dir() / ("quick" if quick else "full")


def _existing_corpus(data: Path | None, quick: bool) -> Path:
    source = _data_dir(data, quick)
    if not (source / "manifest.jsonl").is_file():
        fail(f"{source}: no corpus there; run `integrity train build-data` first")
    return source


def build_data(
    quick: Annotated[bool, QUICK_OPTION] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every random draw.")] = 20_240_401,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 2,
    folds: Annotated[
        str,
        typer.Option(
            "--folds",
            help="Only these folds of the plan, comma-separated (train, calib, threshold, "
            "test); FOLD:N keeps that fold's first N jobs in plan order.",
        ),
    ] = "",
    as_json: bool = JSON_OPTION,
) -> None:
    """Make the labeled, content-paired corpus (real + synthetic twins + spam material)."""
    chosen: dict[str, int | None] = {}
    for part in (f.strip() for f in folds.split(",") if f.strip()):
        name, _, limit = part.partition(":")
        if name not in ("train", "calib", "threshold", "test") or (limit and not limit.isdigit()):
            fail(f"--folds: {part!r} is not FOLD or FOLD:N (folds: train, calib, threshold, test)")
        chosen[name] = int(limit) if limit else None
    from integrity.corpus import CorpusFetchError
    from integrity.training.dataset import build_dataset

    target = _data_dir(out, quick)
    with progress_bar() as progress:
        task = progress.add_task("building clips", total=None)
        try:
            result = build_dataset(
                target,
                quick=quick,
                seed=seed,
                workers=workers,
                on_plan=lambda n: progress.update(task, total=n),
                on_done=lambda: progress.advance(task),
                folds=chosen or None,
            )
        except CorpusFetchError as exc:
            fail(str(exc))
    summary = {
        "out": str(result.out_dir),
        "clips": result.clips,
        "hours": round(result.hours, 3),
        "by_family": result.by_family,
    }
    if as_json:
        emit_json(summary)
        return
    from rich.table import Table

    table = Table("task:family", "clips")
    for key, count in sorted(result.by_family.items()):
        table.add_row(key, str(count))
    stdout_console.print(table)
    stdout_console.print(f"{result.clips} clips, {result.hours:.2f} h, in {result.out_dir}")


def fit(
    quick: Annotated[bool, QUICK_OPTION] = False,
    data: Annotated[Path | None, DATA_OPTION] = None,
    models_dir: Annotated[Path | None, MODELS_OPTION] = None,
    version: Annotated[str, VERSION_OPTION] = DEFAULT_VERSION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Train, calibrate and write both detectors (synthetic, spam) into models/NAME/VERSION."""
    from integrity.catalog.policy import MODEL_REVIEW_FPR_BUDGET
    from integrity.training.fit import MODEL_NAMES, fit_model

    source, target = _existing_corpus(data, quick), models_dir or cli_settings().models_dir
    results = {}
    with progress_bar() as progress:
        task = progress.add_task("fitting", total=len(MODEL_NAMES))
        for name in MODEL_NAMES:
            try:
                results[name] = fit_model(name, source, target, version, MODEL_REVIEW_FPR_BUDGET)
            except ValueError as exc:
                fail(str(exc))
            progress.advance(task)
    if as_json:
        emit_json(results)
        return
    from rich.table import Table

    table = Table("model", "calib AUC", "calib EER", "n")
    for name, m in results.items():
        c = m["calib"]
        table.add_row(name, f"{c['auc']:.4f}", f"{c['eer']:.4f}", str(c["n"]))
    stdout_console.print(table)


def calibrate(
    quick: Annotated[bool, QUICK_OPTION] = False,
    data: Annotated[Path | None, DATA_OPTION] = None,
    models_dir: Annotated[Path | None, MODELS_OPTION] = None,
    version: Annotated[str, VERSION_OPTION] = DEFAULT_VERSION,
    folds: Annotated[
        str,
        typer.Option(
            "--folds",
            help="Folds whose real windows set the threshold (threshold; threshold,test pools "
            "both and the evaluation then cross-fits the FPR by package side).",
        ),
    ] = "threshold",
    as_json: bool = JSON_OPTION,
) -> None:
    """Re-read the shipped models' operating points from a corpus's held-out real windows."""
    from integrity.catalog.policy import MODEL_REVIEW_FPR_BUDGET
    from integrity.training.fit import MODEL_NAMES, calibrate_model

    source, target = _existing_corpus(data, quick), models_dir or cli_settings().models_dir
    results = {}
    for name in MODEL_NAMES:
        try:
            points = calibrate_model(
                name,
                source,
                target,
                version,
                MODEL_REVIEW_FPR_BUDGET,
                tuple(f for f in folds.split(",") if f in ("threshold", "test")) or ("threshold",),
            )
        except ValueError as exc:
            fail(str(exc))
        results[name] = {k: v for k, v in points.items() if k != "negative_scores"}
    if as_json:
        emit_json(results)
        return
    from rich.table import Table

    table = Table("model", "review threshold", "held-out real", "measured FPR", "95% CI")
    for name, p in results.items():
        lo, hi = p["review_fpr_ci95"]
        table.add_row(
            name,
            f"{p['review']:.4f}",
            str(p["negatives"]),
            f"{p['review_fpr_measured']:.2%}",
            f"{lo:.2%}-{hi:.2%}",
        )
    stdout_console.print(table)


def evaluate(
    quick: Annotated[bool, QUICK_OPTION] = False,
    data: Annotated[Path | None, DATA_OPTION] = None,
    models_dir: Annotated[Path | None, MODELS_OPTION] = None,
    version: Annotated[str, VERSION_OPTION] = DEFAULT_VERSION,
    robustness: Annotated[
        bool, typer.Option(help="Re-encode / pitch / tempo the test clips (slow part).")
    ] = True,
    workers: Annotated[int, typer.Option("--workers", min=1)] = 2,
    devset: Annotated[
        Path | None,
        typer.Option(help="AI development set (MANIFEST.tsv); default ../shared/audio/ai-devset."),
    ] = None,
    recordings: Annotated[
        Path | None,
        typer.Option(help="Real recordings to count flags on (default: librosa-data there)."),
    ] = None,
    external: Annotated[
        bool, typer.Option(help="Score the development set and the real recordings.")
    ] = True,
    as_json: bool = JSON_OPTION,
) -> None:
    """Write evaluation.md + ROC/PR/histogram PNGs beside each model and print the goal table."""
    from integrity.training.evaluate import evaluate_all

    source, target = _existing_corpus(data, quick), models_dir or cli_settings().models_dir
    devset_dir = devset or SHARED_AUDIO / "ai-devset"
    recordings_dir = recordings or SHARED_AUDIO / "librosa-data"
    checks = ((devset, devset_dir / "MANIFEST.tsv"), (recordings, recordings_dir))
    for given, needed in checks:
        if given is not None and not needed.exists():
            fail(f"{needed}: not found")
    with progress_bar() as progress:
        task = progress.add_task("evaluating", total=None)
        report = evaluate_all(
            source,
            target,
            version,
            robustness=robustness,
            workers=workers,
            on_plan=lambda n: progress.update(task, total=n),
            on_done=lambda: progress.advance(task),
            devset_dir=devset_dir if external and (devset_dir / "MANIFEST.tsv").is_file() else None,
            recordings_dir=recordings_dir if external and recordings_dir.is_dir() else None,
        )
    if as_json:
        emit_json(report["goals"])
        return
    from rich.table import Table

    table = Table("measure", "goal", "measured", "met")
    for row in report["goals"]:
        met = {True: "yes", False: "NO", None: "n/a"}[row["met"]]
        table.add_row(row["measure"], row["goal"], row["measured"], met)
    stdout_console.print(table)
    for path in report["reports"]:
        stdout_console.print(f"report: {path}")


def register(app: typer.Typer) -> None:
    train_app.command("build-data")(build_data)
    train_app.command("fit")(fit)
    train_app.command("calibrate")(calibrate)
    train_app.command("evaluate")(evaluate)
    app.add_typer(train_app, name="train")
