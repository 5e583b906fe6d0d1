"""`integrity train fit`: LightGBM detectors, Platt calibration, operating points, artifacts.

Folds come from the manifest (by source: a real clip and its synthetic twins share a fold):
the booster learns on `train`, calibration and thresholds are fitted on `calib`, `test` is left
for `integrity train evaluate`. Evaluation-only generator families never enter train or calib.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
from sklearn.linear_model import LogisticRegression

from integrity.detection.registry import CALIBRATION_FILE, META_FILE, MODEL_FILE
from integrity.features import CONTEXT_FEATURES, FEATURE_SCHEMA_VERSION
from integrity.training import constants as t
from integrity.training.dataset import EVALUATION_ONLY_FAMILIES, load_dataset, manifest_hash
from integrity.training.metrics import auc, eer, threshold_at_fpr, tpr_at_fpr

MODEL_NAMES = ("synthetic", "spam")
PLATT_C = 1e4  # (almost) unregularised logistic fit of the margin


@dataclass(frozen=True)
class Split:
    """Rows of one model's task, with labels, groups and families, per fold."""

    x: np.ndarray
    y: np.ndarray
    records: list[dict[str, Any]]

    def fold(self, name: str, *, exclude_families: tuple[str, ...] = ()) -> Split:
        keep = [
            i
            for i, r in enumerate(self.records)
            if r["fold"] == name and r["family"] not in exclude_families
        ]
        return Split(self.x[keep], self.y[keep], [self.records[i] for i in keep])

    def where(self, keep: Callable[[dict[str, Any]], bool]) -> Split:
        rows = [i for i, r in enumerate(self.records) if keep(r)]
        return Split(self.x[rows], self.y[rows], [self.records[i] for i in rows])

    def groups(self) -> list[str]:
        """Source identity per row (the job index), for grouped bootstraps."""
        return [r["id"].split("-")[0] for r in self.records]


# The spam model reads only what defines audio spam (repetition, noise-likeness, loudness,
# silence, duration, bandwidth, voicing): with a few dozen spam items, timbre features would let
# it memorise the training music instead.
SPAM_FEATURE_PREFIXES = (
    "ctx.",
    "rep.",
    "loud.",
    "spec.flatness.",
    "spec.flux.",
    "spec.rms_dbfs.",
    "voice.voiced_fraction.",
    "bw.",
)


SPAM_EXCLUDED_FEATURES = frozenset({"ctx.duration_s"})
"""Duration is a shortcut here: the negatives are mostly 10-s excerpts and the spam items 30-60 s,
so a model that reads it flags every ordinary 36-s song (measured: 0.998 on the examples). The
30-s royalty gaming is judged where it is a rule, not a learned habit: the metadata signals
compare declared and measured durations with the threshold."""


def model_features(name: str, all_names: tuple[str, ...]) -> tuple[str, ...]:
    """Columns a model may read: the synthetic model never sees duration or silence, and the
    spam model reads spam-defining features but not the track's length."""
    if name == "synthetic":
        return tuple(n for n in all_names if n not in CONTEXT_FEATURES)
    return tuple(
        n
        for n in all_names
        if n.startswith(SPAM_FEATURE_PREFIXES) and n not in SPAM_EXCLUDED_FEATURES
    )


def task_split(name: str, data_dir: Path) -> tuple[Split, tuple[str, ...]]:
    records, x, names = load_dataset(data_dir)
    features = model_features(name, names)
    cols = [names.index(f) for f in features]
    rows = [i for i, r in enumerate(records) if r["task"] == name]
    kept = [records[i] for i in rows]
    if name == "spam":
        # Every clip made for the synthetic task (real or generated, short excerpts) is
        # ordinary content, not spam: without them the spam model sees too few negatives and
        # learns "anything but a long real track is spam".
        extra = [i for i, r in enumerate(records) if r["task"] == "synthetic"]
        rows += extra
        kept += [
            {**records[i], "label": 0, "family": f"clip:{records[i]['family']}"} for i in extra
        ]
    y = np.array([r["label"] for r in kept], dtype=np.int32)
    return Split(x[np.ix_(rows, cols)].astype(np.float64), y, kept), features


def train_booster(split: Split, features: tuple[str, ...], seed: int = 0) -> lgb.Booster:
    params = {**t.LGBM_PARAMS, "seed": seed}
    data = lgb.Dataset(split.x, label=split.y, feature_name=list(features), free_raw_data=False)
    return lgb.train(params, data, num_boost_round=t.LGBM_ROUNDS)


def fit_platt(margins: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Platt scaling on held-out margins; a > 0 keeps the calibration monotone increasing."""
    lr = LogisticRegression(C=PLATT_C, max_iter=1000)
    lr.fit(margins.reshape(-1, 1), labels)
    a, b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    if a <= 0:  # degenerate held-out set: fall back to the identity on the logit scale
        return 1.0, 0.0
    return a, b


def _probabilities(a: float, b: float, margins: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(a * margins + b, -50.0, 50.0)))


def fit_model(name: str, data_dir: Path, models_dir: Path, version: str) -> dict[str, Any]:
    """Train, calibrate and write one model's artifact folder; returns its metrics."""
    split, features = task_split(name, data_dir)
    excluded = EVALUATION_ONLY_FAMILIES if name == "synthetic" else ()
    train = split.fold("train", exclude_families=excluded)
    calib = split.fold("calib", exclude_families=excluded)
    if len(np.unique(train.y)) < 2 or len(np.unique(calib.y)) < 2:
        raise ValueError(f"{name}: train and calib folds need both classes; build more data")
    booster = train_booster(train, features)
    margins = np.asarray(booster.predict(calib.x, raw_score=True), dtype=np.float64)
    a, b = fit_platt(margins, calib.y)
    probs = _probabilities(a, b, margins)
    # Operating points on real (negative) held-out clips; for `synthetic` on real music
    # when there is enough of it, since that is the false-positive rate the issue states.
    negatives = np.array(
        [
            p
            for p, r, yy in zip(probs, calib.records, calib.y, strict=True)
            if yy == 0 and (name != "synthetic" or r["kind"] == "music")
        ]
    )
    if negatives.size < 10:
        negatives = probs[calib.y == 0]
    review = threshold_at_fpr(negatives, t.REVIEW_FPR)
    filt = max(threshold_at_fpr(negatives, t.TARGET_FPR), review)
    block = max(t.BLOCK_PROBABILITY, filt)
    out = models_dir / name / version
    out.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(out / MODEL_FILE))
    reference = np.nanmedian(train.x[train.y == 0], axis=0)
    meta = {
        "name": name,
        "version": version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "feature_schema_version": FEATURE_SCHEMA_VERSION,
        "features": list(features),
        "data_manifest_sha256": manifest_hash(data_dir),
        "data_dir": str(data_dir),
        "excluded_families": list(excluded),
        "train_counts": _counts(train),
        "calib_counts": _counts(calib),
        "lightgbm": {"version": lgb.__version__, "params": t.LGBM_PARAMS, "rounds": t.LGBM_ROUNDS},
        "python": platform.python_version(),
        "reference_medians": {
            f: round(float(v), 6)
            for f, v in zip(features, reference, strict=True)
            if np.isfinite(v)
        },
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    calibration = {
        "method": "platt",
        "a": a,
        "b": b,
        "fitted_on": "calib fold (held out from training)",
        "operating_points": {
            "review": review,
            "review_fpr": t.REVIEW_FPR,
            "filter": filt,
            "filter_fpr": t.TARGET_FPR,
            "block": block,
            "negatives": int(negatives.size),
            "note": (
                "thresholds are quantiles of calibrated scores of held-out real clips; with "
                f"{negatives.size} negatives the smallest measurable rate is "
                f"{1.0 / max(negatives.size, 1):.3%}"
            ),
        },
    }
    (out / CALIBRATION_FILE).write_text(json.dumps(calibration, indent=2) + "\n")
    metrics = {
        "calib": {
            "auc": auc(calib.y, probs),
            "eer": eer(calib.y, probs),
            "tpr_at_1pct_fpr": tpr_at_fpr(calib.y, probs, 0.01),
            "n": int(calib.y.size),
        }
    }
    metrics_path = out / "metrics.json"
    old = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    old.update(metrics)
    metrics_path.write_text(json.dumps(old, indent=2) + "\n")
    (out / "card.md").write_text(model_card(name, version, meta, calibration, metrics))
    return metrics


def _counts(split: Split) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in split.records:
        counts[r["family"]] = counts.get(r["family"], 0) + 1
    return counts


def model_card(
    name: str,
    version: str,
    meta: dict[str, Any],
    calibration: dict[str, Any],
    metrics: dict[str, Any],
) -> str:
    """The model card: intended use, data, limits, evaluation pointer, known failure modes."""
    points = calibration["operating_points"]
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(meta["train_counts"].items()))
    if name == "synthetic":
        use = (
            "Scores whether a track's audio was produced or resynthesised by a machine "
            "(neural decoder, vocoder, phase reconstruction, neural TTS) rather than recorded "
            "and mixed by people. A triage signal for moderators, never an automatic verdict "
            "on its own."
        )
        failure = [
            "Generators whose decoders are not strided upsamplers (e.g. diffusion in the "
            "waveform domain) leave no comb: only timbre/phase cues remain.",
            "Real recordings with stable narrow tones (mains hum, drones, sine-based "
            "electronic music, heavy pitch correction) can raise the artifact features.",
            "Training synthetic material is made by mechanism-level generators (random "
            "transposed-convolution decoders, Griffin-Lim, a source-filter vocoder, piper "
            "TTS), not by commercial music generators (Suno, Udio): the issue's goals about "
            "whole AI songs are not measured on such songs here.",
            "Speech pairs are short telephone-band prompts (8 kHz); singing voice is only "
            "covered by festival's HTS singing in evaluation.",
            "Duration and silence are excluded from this model by construction.",
            "Real recordings unlike the training corpus (audiobook speech at 16 kHz or more, "
            "acoustic, orchestral and field recordings mastered unlike game music) score "
            "higher than the test-fold false-positive rate suggests: the real side of the "
            "corpus is game music and telephone prompts, and the operating point was chosen "
            "on a few dozen held-out real clips.",
            "Too few real negatives stand behind the 0.3% filter threshold to measure that "
            "rate, so the default policy sends this model's high scores to review only.",
        ]
    else:
        use = (
            "Scores whether a track's audio is spam that is not a duplicate: noise or nature "
            "beds, short loops repeated to track length, a little audio padded with silence, "
            "and cuts just over 30 s. Metadata, duplicate and sender-history signals are "
            "outside this audio-only model."
        )
        failure = [
            "Legitimate ambient, drone or minimal music resembles noise beds and loops.",
            "Short legitimate tracks (intros, interludes) sit near the 30-s cut.",
            "Game-music sources loop by design, so some real negatives are loop-like.",
            "The spam corpus is small (tens of items per kind); real tracks unlike it (nature "
            "and field recordings, solo or ambient pieces) are often scored as spam.",
            "The track's length is not a feature: in this corpus it separated 10-s real "
            "excerpts from 30-60-s spam items and flagged every ordinary 36-s song. The 30-s "
            "cut is judged by the metadata signals instead.",
            "Too few real negatives (under 334) stand behind the 0.3% filter threshold to "
            "measure that rate, so the default policy sends its high scores to review only.",
        ]
    lines = [
        f"# Model card: `{name}` {version}",
        "",
        "## Intended use",
        use,
        "",
        "## Data",
        f"- Training manifest sha256 `{meta['data_manifest_sha256']}` "
        "(build with `integrity train build-data`; the corpus stays outside the repository).",
        "- Real audio: Debian music packages (Wesnoth, Nexuiz, Endgame: Singularity, "
        "FreedroidRPG, Frets on Fire, HyperRogue, UFO: AI, SuperTux) and speech packages "
        "(Asterisk prompts, KLettres); licences per clip in the manifest.",
        f"- Training rows per family: {counts}.",
        f"- Families held out of training and calibration: {meta['excluded_families'] or 'none'}.",
        "- Every clip of both classes passes through the same random chain (band limit, "
        "level, MP3/AAC/Opus/Vorbis or lossless, 44.1/48 kHz).",
        "",
        "## Model",
        f"- LightGBM {meta['lightgbm']['version']}, {meta['lightgbm']['rounds']} rounds, "
        f"{len(meta['features'])} features of schema {meta['feature_schema_version']}.",
        f"- Calibration: Platt scaling fitted on the held-out calib fold (a={calibration['a']:.4g},"
        f" b={calibration['b']:.4g}).",
        f"- Operating points (calibrated probability): review >= {points['review']:.4f} "
        f"({points['review_fpr']:.1%} FPR target), filter >= {points['filter']:.4f} "
        f"({points['filter_fpr']:.1%} FPR target), block >= {points['block']:.4f}. "
        f"{points['note']}.",
        "",
        "## Evaluation",
        f"- Calib fold: AUC {metrics['calib']['auc']:.4f}, EER {metrics['calib']['eer']:.4f} "
        f"(n={metrics['calib']['n']}).",
        "- Test fold, leave-one-family-out and robustness: see `evaluation.md` beside this card "
        "(written by `integrity train evaluate`).",
        "",
        "## Limits and known failure modes",
        *[f"- {f}" for f in failure],
        "",
    ]
    return "\n".join(lines)


def fit_all(data_dir: Path, models_dir: Path, version: str) -> dict[str, dict[str, Any]]:
    return {name: fit_model(name, data_dir, models_dir, version) for name in MODEL_NAMES}
