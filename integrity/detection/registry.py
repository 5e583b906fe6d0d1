"""Shipped detector artifacts: load, score (calibrated), explain.

Layout: models/NAME/VERSION/{model.txt, model.json, calibration.json, metrics.json, card.md}.
model.txt is LightGBM's text format; model.json records the feature schema version, the
feature names the model reads (in order), the data-manifest hash and reference medians for the
reasons; calibration.json holds the Platt parameters and the chosen operating points.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from integrity.detection.reasons import render_reason
from integrity.features import FEATURE_SCHEMA_VERSION, FeatureVector

if TYPE_CHECKING:  # lightgbm costs ~0.4 s to import: only loading a model needs it
    import lightgbm as lgb

MODEL_FILE = "model.txt"
META_FILE = "model.json"
CALIBRATION_FILE = "calibration.json"
ATTRIBUTION_FILE = "attribution.txt"  # optional: which trained generator family audio resembles


class ModelNotFoundError(LookupError):
    """No shipped artifact for that name/version (or an incompatible feature schema)."""


@dataclass(frozen=True)
class OperatingPoints:
    """Calibrated-probability thresholds, each chosen for a stated false-positive rate."""

    review: float
    filter: float
    block: float
    review_fpr: float
    filter_fpr: float
    negatives: int = 0
    """Held-out real clips the thresholds were read from (what a stated FPR rests on)."""
    review_fpr_measured: float = math.nan
    review_fpr_upper: float = math.nan
    """Measured share of held-out real clips at or above `review`, and its 95 % upper bound."""
    negative_scores: tuple[float, ...] = ()
    """Sorted calibrated scores of those held-out real clips (how rare a score is)."""

    def real_share_at_or_above(self, score: float) -> float | None:
        """Share of held-out real clips scoring at least `score` (None if not recorded)."""
        if not self.negative_scores:
            return None
        below = int(np.searchsorted(np.asarray(self.negative_scores), score, side="left"))
        return (len(self.negative_scores) - below) / len(self.negative_scores)


@dataclass(frozen=True)
class Calibration:
    """Platt scaling of the LightGBM margin: p = 1 / (1 + exp(-(a * margin + b)))."""

    a: float
    b: float

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        z = self.a * np.asarray(margin, dtype=np.float64) + self.b
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


@dataclass(frozen=True)
class LoadedModel:
    """One detector ready to score feature vectors."""

    name: str
    version: str
    path: Path
    booster: lgb.Booster
    features: tuple[str, ...]
    calibration: Calibration
    operating_points: OperatingPoints
    reference: dict[str, float]  # median of each feature on real (negative) training clips
    meta: dict[str, Any]

    def matrix(self, vectors: list[FeatureVector]) -> np.ndarray:
        """Columns this model reads, in its order, from full feature vectors."""
        rows = []
        for vec in vectors:
            if vec.schema_version != self.meta["feature_schema_version"]:
                raise ValueError(
                    f"{self.name} {self.version} needs feature schema "
                    f"{self.meta['feature_schema_version']}, got {vec.schema_version}"
                )
            index = {n: i for i, n in enumerate(vec.names)}
            rows.append([vec.values[index[f]] for f in self.features])
        return np.asarray(rows, dtype=np.float64)

    def score_matrix(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for rows already in this model's column order."""
        raw = np.asarray(self.booster.predict(x, raw_score=True), dtype=np.float64)
        return self.calibration(raw)

    def score_features(self, vector: FeatureVector) -> float:
        """Calibrated probability in [0, 1] that the track belongs to the positive class."""
        return float(self.score_matrix(self.matrix([vector]))[0])

    def attribute(self, vector: FeatureVector) -> tuple[str, float] | None:
        """(trained generator family the audio most resembles, its share) or None.

        Evidence for a moderator, not a decision: it ranks only the families this model was
        trained on, so an unknown generator is still named as its nearest known one.
        """
        families = self.meta.get("attribution_families") or []
        path = self.path / ATTRIBUTION_FILE
        if not families or not path.is_file():
            return None
        predicted = _booster(path).predict(self.matrix([vector]))
        probs = np.asarray(predicted, dtype=np.float64)[0]
        best = int(np.argmax(probs))
        return str(families[best]), float(probs[best])

    def explain(self, vector: FeatureVector, top: int = 3) -> list[str]:
        """The features that pushed the score up most, as sentences a moderator can read."""
        x = self.matrix([vector])
        contributions = np.asarray(self.booster.predict(x, pred_contrib=True), dtype=np.float64)
        contrib = contributions[0][:-1]  # last column: bias
        order = np.argsort(contrib)[::-1]
        values = dict(zip(self.features, x[0], strict=True))
        full = vector.as_dict()
        sentences = []
        for i in order[:top]:
            if contrib[i] <= 0:
                break
            name = self.features[i]
            sentences.append(
                render_reason(
                    name,
                    values[name],
                    self.reference.get(name, math.nan),
                    full,
                    self.meta.get("real_quantiles", {}).get(name, ()),
                    int(self.meta.get("real_quantiles_n", 0)),
                )
            )
        return sentences


@lru_cache(maxsize=8)
def _booster(path: Path) -> lgb.Booster:
    import lightgbm

    return lightgbm.Booster(model_file=str(path))


def _version_key(version: str) -> tuple[int | str, ...]:
    return tuple(int(p) if p.isdigit() else p for p in version.replace("-", ".").split("."))


def available_versions(name: str, root: Path) -> list[str]:
    base = root / name
    if not base.is_dir():
        return []
    found = [p.name for p in base.iterdir() if (p / MODEL_FILE).is_file()]
    return sorted(found, key=_version_key)


def load_model(name: str, version: str | None = None, *, root: Path) -> LoadedModel:
    """The named detector under `root` (newest version unless one is given), calibrated."""
    return _load_cached(name, version, str(root))


def forget_loaded() -> None:
    """Drop loaded models (after an artifact on disk was rewritten, e.g. recalibrated)."""
    _load_cached.cache_clear()
    _booster.cache_clear()


@lru_cache(maxsize=16)
def _load_cached(name: str, version: str | None, root: str) -> LoadedModel:
    versions = available_versions(name, Path(root))
    if not versions:
        raise ModelNotFoundError(f"no shipped model {name!r} under {root}")
    chosen = version or versions[-1]
    if chosen not in versions:
        raise ModelNotFoundError(f"model {name!r} has no version {chosen!r} (have {versions})")
    path = Path(root) / name / chosen
    meta = json.loads((path / META_FILE).read_text())
    if meta["feature_schema_version"] != FEATURE_SCHEMA_VERSION:
        raise ModelNotFoundError(
            f"{name} {chosen} was trained on feature schema {meta['feature_schema_version']}; "
            f"this code computes {FEATURE_SCHEMA_VERSION}"
        )
    cal = json.loads((path / CALIBRATION_FILE).read_text())
    points = cal["operating_points"]
    return LoadedModel(
        name=name,
        version=chosen,
        path=path,
        booster=_booster(path / MODEL_FILE),
        features=tuple(meta["features"]),
        calibration=Calibration(a=float(cal["a"]), b=float(cal["b"])),
        operating_points=OperatingPoints(
            review=float(points["review"]),
            filter=float(points["filter"]),
            block=float(points["block"]),
            review_fpr=float(points["review_fpr"]),
            filter_fpr=float(points["filter_fpr"]),
            negatives=int(points.get("negatives", 0)),
            review_fpr_measured=float(points.get("review_fpr_measured", math.nan)),
            review_fpr_upper=float(points.get("review_fpr_ci95", [math.nan, math.nan])[1]),
            negative_scores=tuple(float(v) for v in points.get("negative_scores", ())),
        ),
        reference={k: float(v) for k, v in meta.get("reference_medians", {}).items()},
        meta=meta,
    )
