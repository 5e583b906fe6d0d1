"""`integrity analyze AUDIO...`: score raw audio files with the shipped models (no DDEX needed).

Each file is decoded once in the sandbox (untrusted input) at its native rate (full band for
the decoder-artifact features), described by integrity.features, scored by every shipped
detector, and given an audio-only decision (integrity.detection.decide_audio_only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from integrity.audio import AudioDecodeError, decode_file
from integrity.cli.common import JSON_OPTION, emit_json, fail, progress_bar, stdout_console

MODEL_NAMES = ("synthetic", "spam")
MAX_REASONS_PER_MODEL = 3


def analyze_file(path: Path, models: dict[str, Any]) -> dict[str, Any]:
    """The JSON-contract object for one file."""
    from integrity.detection import decide_audio_only
    from integrity.features import extract_features

    audio = decode_file(path)
    vector = extract_features(audio.samples, audio.sample_rate)
    scores = {name: round(m.score_features(vector), 6) for name, m in models.items()}
    decision, reasons = decide_audio_only(
        scores, {name: m.operating_points for name, m in models.items()}
    )
    for name, model in models.items():
        if scores[name] >= model.operating_points.review:
            reasons += [f"{name}: {s}" for s in model.explain(vector, MAX_REASONS_PER_MODEL)]
    if not reasons:
        reasons.append("No detector reached its review threshold.")
    return {
        "file": str(path),
        "duration_s": round(audio.duration_s, 3),
        "scores": scores,
        "decision": decision,
        "reasons": reasons,
        "model_versions": {name: m.version for name, m in models.items()},
    }


def analyze(
    audio: Annotated[list[Path], typer.Argument(help="Audio files to score.")],
    as_json: bool = JSON_OPTION,
) -> None:
    """Score audio files for AI generation and spam; print decisions and reasons."""
    from integrity.detection import ModelNotFoundError, load_model

    try:
        models = {name: load_model(name) for name in MODEL_NAMES}
    except ModelNotFoundError as exc:
        fail(str(exc), code=1)
    for path in audio:
        if not path.is_file():
            fail(f"{path}: no such file")
    results = []
    with progress_bar() as progress:
        task = progress.add_task("analysing", total=len(audio))
        for path in audio:
            try:
                results.append(analyze_file(path, models))
            except AudioDecodeError as exc:
                fail(str(exc))
            progress.advance(task)
    if as_json:
        emit_json(results)
        return
    table = Table("file", "duration", "synthetic", "spam", "decision", "reasons")
    for r in results:
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
    app.command("analyze")(analyze)
