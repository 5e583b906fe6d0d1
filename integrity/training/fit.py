"""`integrity train fit`: LightGBM detectors, Platt calibration, operating points, artifacts.

Folds come from the manifest: the booster learns on `train`, Platt scaling is fitted on `calib`
(held-out sources of the same packages, twins included), the operating point is read from the
real windows of the `threshold` fold (packages never trained on, ≥ 1,000 windows in the full
build) and `test` (other packages again) is left for `integrity train evaluate`.
Evaluation-only generator families never enter train or calib.
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

from integrity.detection.reasons import REAL_QUANTILES
from integrity.detection.registry import (
    ATTRIBUTION_FILE,
    CALIBRATION_FILE,
    META_FILE,
    MODEL_FILE,
    forget_loaded,
    load_model,
)
from integrity.features import CONTEXT_FEATURES, FEATURE_SCHEMA_VERSION
from integrity.training import constants as t
from integrity.training.dataset import EVALUATION_ONLY_FAMILIES, load_dataset, manifest_hash
from integrity.training.metrics import (
    auc,
    clopper_pearson,
    eer,
    threshold_at_fpr,
    tpr_at_fpr,
)

MODEL_NAMES = ("synthetic", "spam")
# Record kinds holding real music (twins' sources, real-only windows, whole held-out tracks):
# operating points are read on these only, so held-out speech sources of training packages
# (speech folds are split by source) never set a threshold meant for unseen packages.
MUSIC_KINDS = ("music", "music_hifigan", "window", "window_whole")
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
    "ctx.",  # silence padding (leading / trailing silence, silent share)
    "rep.",  # exact loops and beds (self-similarity, repetition period, novelty)
    "loud.silent_fraction.",  # silence inside the audio
    "spec.flatness.",  # noise beds are flat
    "spec.flux.",  # ... and change little
    "voice.voiced_fraction.",  # ... and carry no pitch
)
"""Bandwidth, loudness range, crest and level are *not* read: they describe how a song was
mastered and delivered, not whether it is spam, and they flagged ordinary songs and a whale
recording in 1.0.0."""


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


def task_split(
    name: str, data_dir: Path, features: tuple[str, ...] | None = None
) -> tuple[Split, tuple[str, ...]]:
    """One model's rows and columns (its own feature list by default; a shipped model's when
    given, so an artifact fitted under an older column choice is scored as it was trained)."""
    records, x, names = load_dataset(data_dir)
    features = features or model_features(name, names)
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


def fit_attribution(train: Split, features: tuple[str, ...], path: Path) -> list[str]:
    """Which trained generator family a synthetic clip most resembles: a multiclass booster on
    the train fold's synthetic rows. Reported as evidence beside the score, never a decision."""
    fake = train.where(lambda r: r["label"] == 1)
    families = sorted({r["family"] for r in fake.records})
    if len(families) < 2:
        return []
    y = np.array([families.index(r["family"]) for r in fake.records])
    params = {
        **t.LGBM_PARAMS,
        "objective": "multiclass",
        "num_class": len(families),
        "seed": 0,
    }
    data = lgb.Dataset(fake.x, label=y, feature_name=list(features), free_raw_data=False)
    lgb.train(params, data, num_boost_round=t.ATTRIBUTION_ROUNDS).save_model(str(path))
    return families


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


def fit_model(
    name: str, data_dir: Path, models_dir: Path, version: str, review_budget: float
) -> dict[str, Any]:
    """Train, calibrate and write one model's artifact folder; returns its metrics.

    review_budget: the policy's highest upper 95 % bound of the real-music false-positive rate
    at which a model score alone may send a track to review (the threshold is chosen for it).
    """
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
    # The operating point: real windows (and whole tracks) of packages never trained on.
    held = split.fold("threshold")
    held = held.where(
        lambda r: r["label"] == 0
        and r["family"] in ("real", "clip:real")
        and r["kind"] in MUSIC_KINDS
    )
    if held.y.size < t.MIN_THRESHOLD_NEGATIVES:
        raise ValueError(
            f"{name}: only {held.y.size} real windows on the threshold fold "
            f"(need {t.MIN_THRESHOLD_NEGATIVES}); build more data"
        )
    held_margins = np.asarray(booster.predict(held.x, raw_score=True), dtype=np.float64)
    negatives = _probabilities(a, b, held_margins)
    points = operating_points(negatives, held.records, review_budget)
    out = models_dir / name / version
    out = models_dir / name / version
    out.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(out / MODEL_FILE))
    families: list[str] = []
    if name == "synthetic":
        families = fit_attribution(train, features, out / ATTRIBUTION_FILE)
    reference = np.nanmedian(train.x[train.y == 0], axis=0)
    levels = np.nanquantile(held.x, REAL_QUANTILES, axis=0)  # (levels, features)
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
        "train_packages": sorted({r["package"] for r in train.records}),
        "attribution_families": families,
        "calib_counts": _counts(calib),
        "lightgbm": {"version": lgb.__version__, "params": t.LGBM_PARAMS, "rounds": t.LGBM_ROUNDS},
        "python": platform.python_version(),
        "real_quantiles_n": int(held.y.size),
        "real_quantiles": {
            f: [round(float(v), 5) for v in levels[:, i]]
            for i, f in enumerate(features)
            if np.all(np.isfinite(levels[:, i]))
        },
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
        "fitted_on": "calib fold (held-out sources of the training packages)",
        "operating_points": points,
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


def calibrate_model(
    name: str,
    data_dir: Path,
    models_dir: Path,
    version: str,
    review_budget: float,
    folds: tuple[str, ...] = ("threshold",),
) -> dict[str, Any]:
    """Re-read a shipped model's operating point from a corpus's threshold fold.

    The booster and its Platt scaling stay as they are; only the review threshold (chosen for
    the budget as in fit), what it measures and the real-recording quantiles behind the reasons
    are replaced. For a corpus with held-out real windows only (`build-data --folds
    threshold,test`): thousands of windows cost minutes, a refit's twins hours.
    """
    model = load_model(name, version, root=models_dir)
    split, _ = task_split(name, data_dir, model.features)
    held = split.where(
        lambda r: r["fold"] in folds
        and r["label"] == 0
        and r["family"] in ("real", "clip:real")
        and r["kind"] in MUSIC_KINDS
    )
    if held.y.size < t.MIN_THRESHOLD_NEGATIVES:
        raise ValueError(
            f"{name}: only {held.y.size} real windows on the threshold fold of {data_dir} "
            f"(need {t.MIN_THRESHOLD_NEGATIVES})"
        )
    points = operating_points(model.score_matrix(held.x), held.records, review_budget)
    calibration = json.loads((model.path / CALIBRATION_FILE).read_text())
    calibration["operating_points"] = points
    calibration["operating_point_manifest_sha256"] = manifest_hash(data_dir)
    (model.path / CALIBRATION_FILE).write_text(json.dumps(calibration, indent=2) + "\n")
    meta = dict(model.meta)
    meta["operating_point_folds"] = list(folds)
    meta["operating_point_budget"] = review_budget
    levels = np.nanquantile(held.x, REAL_QUANTILES, axis=0)
    meta["real_quantiles_n"] = int(held.y.size)
    meta["real_quantiles"] = {
        f: [round(float(v), 5) for v in levels[:, i]]
        for i, f in enumerate(model.features)
        if np.all(np.isfinite(levels[:, i]))
    }
    (model.path / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    metrics = json.loads((model.path / "metrics.json").read_text())
    (model.path / "card.md").write_text(model_card(name, version, meta, calibration, metrics))
    forget_loaded()
    return points


def operating_points(
    negatives: np.ndarray, records: list[dict[str, Any]], budget: float
) -> dict[str, Any]:
    """The review threshold on held-out real windows, with what it measures.

    The threshold lets through at most floor(TARGET_FPR * n) of the n windows, and fewer if
    needed until the exact 95 % upper bound of that rate is within `budget` (the policy's), so
    the threshold a model ships is one its score may act on. The measured rate k / n and its
    interval are recorded; the policy re-checks them. filter and block equal the review
    threshold and BLOCK_PROBABILITY: a model score alone never filters or blocks.
    """
    n = int(negatives.size)
    allowed = int(np.floor(t.TARGET_FPR * n))
    while allowed > 0 and clopper_pearson(allowed, n)[1] > budget:
        allowed -= 1
    review = threshold_at_fpr(negatives, allowed / n if n else 0.0)
    k = int(np.sum(negatives >= review))
    lo, hi = clopper_pearson(k, n)
    packages = sorted({r["package"] for r in records})
    return {
        "review": review,
        "review_fpr": t.TARGET_FPR,
        "filter": review,
        "filter_fpr": t.TARGET_FPR,
        "block": max(t.BLOCK_PROBABILITY, review),
        "negatives": n,
        "review_fpr_measured": k / n,
        "review_fpr_ci95": [lo, hi],
        "negative_packages": packages,
        # Sorted held-out scores (rounded), so a reason can say how rare a score is among
        # real tracks; 1,000-odd floats.
        "negative_scores": [round(float(v), 5) for v in np.sort(negatives)],
        "note": (
            f"review threshold read from {n} real windows and whole tracks of {len(packages)} "
            f"packages never trained on; {k} of them score at or above it "
            f"({k / n:.2%}, 95% interval {lo:.2%}-{hi:.2%})"
        ),
    }


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
    trained_families = ", ".join(sorted(set(meta["train_counts"]) - {"real"}))
    mastering = [f for f in meta["features"] if f.startswith(("bw.", "loud.range", "loud.crest"))]
    spam_columns = (
        "How it avoids flagging ordinary songs: it reads only features that define those "
        "constructions (self-similarity and repetition period, novelty, spectral flatness and "
        "flux, voiced share, leading/trailing/internal silence), never timbre, bandwidth, level, "
        "loudness range or duration."
        if not mastering
        else f"This version still reads {len(mastering)} bandwidth / loudness-range / crest "
        "columns (its fit predates the construction-only column choice of "
        "`SPAM_FEATURE_PREFIXES`): a refit with `integrity train fit` drops them."
    )
    train_pk = ", ".join(meta.get("train_packages", [])) or (
        "the 1.0.0 corpus (Wesnoth, Nexuiz, Endgame: Singularity, FreedroidRPG, Frets on Fire, "
        "HyperRogue, UFO: AI, SuperTux music; Asterisk prompts, KLettres speech)"
    )
    thr_pk = ", ".join(points.get("negative_packages", [])) or "n/a"
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
            f"Training synthetic material (families): {trained_families}. No commercial music "
            "generator (Suno, Udio) and no diffusion or codec-LM system is in training: the "
            "development-set table in `evaluation.md` is the measure of transfer to them.",
            "Real speech comes from three packages (Asterisk prompts, KLettres letters, "
            "Hedgewars voices): speech folds are split by source, not by package.",
            "Duration and silence are excluded from this model by construction.",
            "A model score alone never filters or blocks; it sends a track to review only "
            "because its review threshold's real-music false-positive rate was measured on "
            "held-out packages (upper end of the 95 % interval within the policy's budget).",
        ]
    else:
        use = (
            "Scores whether a track's audio is spam by construction that is not a duplicate: "
            "synthetic noise or nature beds, a short excerpt looped exactly to track length, "
            "a little audio padded with silence. Metadata, duplicate and sender-history "
            "signals, and the 31-s cut (a rule on measured vs declared duration), are outside "
            "this audio-only model."
        )
        failure = [
            spam_columns,
            "Its review threshold is read from real windows of packages it never saw (at most "
            "0.3 % of them at or above it, and fewer when needed for the upper 95 % bound to "
            "stay within the policy's budget).",
            "31-s cuts are not judged by audio: the length of an ordinary short song is the "
            "same evidence, so the metadata rule compares durations with the 30-s threshold.",
            "Legitimate ambient, drone or minimal music resembles noise beds and loops; "
            "game music loops by design, so some real negatives are loop-like.",
            "Beds are learned from six generated recipes (white, pink, brown noise, rain, ocean, "
            "wind): noise outside them can be missed (a high-passed brown-noise bed scored "
            "below ordinary songs with the 1.1.0 fit).",
            "A model score alone never filters or blocks (integrity.catalog.policy).",
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
        f"- Real audio: Debian packages split by package: trained on {train_pk}; operating "
        f"point read from {thr_pk}; evaluated on the test packages (see `evaluation.md`). "
        "Licences, generator, weights hash and seed per clip in the manifest.",
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
        f"- Review threshold (calibrated probability) {points['review']:.4f}, set for "
        f"{points['review_fpr']:.1%} false positives: {points['note']}. filter / block "
        "are not used by a model score alone.",
        "",
        "## Reproduce",
        "```",
        "integrity train build-data --workers 2     # the full corpus, default seed 20240401",
        f"integrity train fit --version {version}",
        f"integrity train calibrate --version {version} --folds "
        + ",".join(meta.get("operating_point_folds", ["threshold"])),
        f"integrity train evaluate --version {version} --workers 2",
        "```",
        "The manifest's sha256 above identifies the corpus those commands rebuild.",
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
    goals = metrics.get("test", {}).get("goals") if name == "synthetic" else None
    if goals:  # after `integrity train evaluate`: the measured goals of issue 12
        lines += ["## Measured goals (from `evaluation.md`)", ""]
        lines += [
            f"- {g['measure']}: {g['measured']} (goal {g['goal']}; "
            f"{ {True: 'met', False: 'missed', None: 'not measurable'}[g['met']] })"
            for g in goals
        ]
        lines.append("")
    return "\n".join(lines)


def fit_all(
    data_dir: Path, models_dir: Path, version: str, review_budget: float
) -> dict[str, dict[str, Any]]:
    return {
        name: fit_model(name, data_dir, models_dir, version, review_budget)
        for name in MODEL_NAMES
    }
