"""`integrity analyze AUDIO...`: score raw audio files with the shipped models (no DDEX needed).

Each file is decoded once in the sandbox (untrusted input) at its native rate (full band for
the decoder-artifact features), described by integrity.features, scored by every shipped
detector, and decided by the same policy as `integrity scan` (with no metadata findings).
"""

from __future__ import annotations

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
    progress_bar,
    require_models_dir,
    stdout_console,
)

if TYPE_CHECKING:
    from integrity.catalog.policy import Policy

MODEL_NAMES = ("synthetic", "spam")
MAX_REASONS_PER_MODEL = 3


def audio_files(paths: list[Path]) -> list[Path]:
    """Files as given, folders walked for audio (sorted, recursively); a path that is neither is
    a one-line error, before any work."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += audio_in_folder(path)
        elif path.is_file():
            found.append(path)
        else:
            fail(f"{path}: no such file or folder")
    if not found:
        fail(f"no audio files in {', '.join(map(str, paths))}")
    return found


def analyze_file(path: Path, models: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """The JSON-contract object for one file."""
    from integrity.audio import decode_file
    from integrity.catalog.policy import with_model_defaults
    from integrity.catalog.scoring import score_features
    from integrity.features import extract_features

    audio = decode_file(path)
    vector = extract_features(audio.samples, audio.sample_rate)
    scored = score_features(models, vector)
    decision = with_model_defaults(policy, scored.thresholds).decide(
        findings=[], scores=scored.scores
    )
    reasons = list(decision.reasons)
    for name in decision.models:
        share = models[name].operating_points.real_share_at_or_above(scored.scores[name])
        if share is not None:
            n_real = len(models[name].operating_points.negative_scores)
            reasons.append(
                f"{name}: {round(share * n_real):,} of {n_real:,} held-out real recordings "
                f"score {scored.scores[name]:.3f} or more"
            )
        reasons += [f"{name}: {s}" for s in scored.explanations[name][:MAX_REASONS_PER_MODEL]]
        found = models[name].attribute(vector) if name == "synthetic" else None
        if found is not None:
            reasons.append(
                f"{name}: among the generator families it was trained on, this audio most "
                f"resembles {found[0]} ({found[1]:.0%}; evidence, not a verdict)"
            )
    if not reasons:
        reasons.append("No detector reached its review threshold.")
    return {
        "file": str(path),
        "duration_s": round(audio.duration_s, 3),
        "scores": {name: round(p, 6) for name, p in scored.scores.items()},
        "decision": decision.action,
        "reasons": reasons,
        "model_versions": scored.versions,
    }


def analyze(
    audio: Annotated[
        list[Path], typer.Argument(help="Audio files, or folders searched recursively.")
    ],
    as_json: bool = JSON_OPTION,
) -> None:
    """Score audio files for AI generation and spam; print decisions and reasons.

    Exit 1 when any file could not be decoded (the others are still scored).
    """
    from integrity.audio import AudioDecodeError
    from integrity.catalog.policy import PolicyError, load_policy
    from integrity.detection import ModelNotFoundError, load_model

    files = audio_files(audio)
    settings = cli_settings()
    models_dir = require_models_dir(settings)
    try:
        models = {name: load_model(name, root=models_dir) for name in MODEL_NAMES}
    except ModelNotFoundError as exc:
        fail(f"{env_name('models_dir')}={models_dir}: {exc}")
    try:
        policy = load_policy(settings.policy_file)
    except PolicyError as exc:
        fail(f"{env_name('policy_file')}: {exc}")
    results = []
    with progress_bar() as progress:
        task = progress.add_task("analysing", total=len(files))
        for path in files:
            # One bad file must not cost the results of the others: it gets an object naming
            # its error, and the exit status says that something failed.
            try:
                results.append(analyze_file(path, models, policy))
            except AudioDecodeError as exc:
                results.append(_failed(path, str(exc)))
            progress.advance(task)
    failures = sum(1 for r in results if r.get("error"))
    if as_json:
        emit_json(results)
    else:
        _print_table(results)
    if failures:
        raise typer.Exit(EXIT_FOUND)


def _failed(path: Path, error: str) -> dict[str, Any]:
    """The JSON-contract object of a file that could not be analysed (decision null)."""
    return {
        "file": str(path),
        "duration_s": None,
        "scores": {},
        "decision": None,
        "reasons": [],
        "model_versions": {},
        "error": error,
    }


def _print_table(results: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table("file", "duration", "synthetic", "spam", "decision", "reasons")
    for r in results:
        if r.get("error"):
            table.add_row(r["file"], "-", "-", "-", "error", r["error"])
            continue
        table.add_row(
            r["file"],
            f"{r['duration_s']:.1f} s",
            f"{r['scores']['synthetic']:.3f}",
            f"{r['scores']['spam']:.3f}",
            r["decision"],
            "\n".join(r["reasons"]),
        )
    stdout_console.print(table)


def register(app: typer.Typer) -> None:
    app.command("analyze", epilog=EXIT_CODES_HELP)(analyze)
