"""Model scores for one track: the active version of each shipped detector, on the feature
vector its analysis stored (so a rescan after a model change never decodes audio again)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrity.catalog.policy import ModelThresholds
from integrity.db.service_models import ActiveModel
from integrity.detection.registry import LoadedModel, ModelNotFoundError, load_model
from integrity.features import FeatureVector

logger = logging.getLogger(__name__)

DETECTORS = ("synthetic", "spam")
"""The shipped LightGBM detectors, by registry name."""
EXPLANATIONS_PER_MODEL = 3
"""Top contributing features rendered as sentences for a moderator."""
_reported_missing: set[str] = set()


@dataclass(frozen=True)
class ModelScores:
    """Calibrated probabilities, the versions that produced them, and why."""

    scores: dict[str, float] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    explanations: dict[str, list[str]] = field(default_factory=dict)
    thresholds: dict[str, ModelThresholds] = field(default_factory=dict)


def active_detectors(session: Session, *, models_dir: Path) -> dict[str, LoadedModel]:
    """Each detector at the version an admin activated, else the newest shipped one.

    A detector with no shipped artifact is left out (logged), so scoring degrades to the
    metadata and duplicate signals instead of failing the track.
    """
    chosen = {row.name: row.version for row in session.scalars(select(ActiveModel))}
    detectors = {}
    for name in DETECTORS:
        try:
            detectors[name] = load_model(name, chosen.get(name), root=models_dir)
        except ModelNotFoundError as exc:
            if name not in _reported_missing:  # once per process, not once per track
                _reported_missing.add(name)
                logger.warning("detector unavailable", extra={"model": name, "error": str(exc)})
    return detectors


def score_features(detectors: dict[str, LoadedModel], vector: FeatureVector) -> ModelScores:
    """Score one vector with every detector; each keeps its own operating points."""
    result = ModelScores()
    for name, model in detectors.items():
        result.scores[name] = model.score_features(vector)
        result.versions[name] = model.version
        result.explanations[name] = model.explain(vector, top=EXPLANATIONS_PER_MODEL)
        points = model.operating_points
        result.thresholds[name] = ModelThresholds(
            review=points.review,
            filter=points.filter,
            block=points.block,
            review_fpr=points.review_fpr,
            filter_fpr=points.filter_fpr,
            negatives=points.negatives,
            review_fpr_measured=points.review_fpr_measured,
            review_fpr_upper=points.review_fpr_upper,
        )
    return result
