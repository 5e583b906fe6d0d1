"""Calibration, reasons and the audio-only decision, on small models trained here."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np

from integrity.detection.reasons import feature_phrase, render_reason
from integrity.detection.registry import Calibration, LoadedModel, OperatingPoints
from integrity.features import FEATURE_NAMES, FeatureVector
from integrity.training.fit import fit_platt

POINTS = OperatingPoints(review=0.5, filter=0.8, block=0.99, review_fpr=0.02, filter_fpr=0.003)


def test_platt_calibration_is_monotone_and_bounded() -> None:
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(200), np.ones(200)]
    margins = np.r_[rng.normal(-2, 1, 200), rng.normal(2, 1, 200)]
    a, b = fit_platt(margins, labels)
    assert a > 0
    grid = np.linspace(-40, 40, 401)
    probs = Calibration(a, b)(grid)
    assert np.all((probs >= 0) & (probs <= 1))
    assert np.all(np.diff(probs) >= 0)
    assert probs[0] < 0.01 and probs[-1] > 0.99


def test_every_feature_has_a_plain_language_phrase() -> None:
    for name in FEATURE_NAMES:
        phrase = feature_phrase(name, {"art.comb_period_hz": 689.0})
        assert not phrase.startswith("feature "), name


def test_reason_sentence_states_value_and_direction() -> None:
    sentence = render_reason("art.comb_strength", 0.72, 0.1, {"art.comb_period_hz": 689.06})
    assert "comb at 689 Hz" in sentence
    assert "higher than typical real recordings" in sentence
    assert sentence.endswith(".")


def _toy_model() -> LoadedModel:
    """A booster whose positives are exactly the clips with a strong comb."""
    rng = np.random.default_rng(1)
    features = ("art.comb_strength", "spec.centroid_hz.mean.mean", "voice.hnr_db.mean")
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] > 0.5).astype(int)
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5}
    booster = lgb.train(params, lgb.Dataset(x, y, feature_name=list(features)), 30)
    return LoadedModel(
        name="toy",
        version="0",
        path=Path("."),
        booster=booster,
        features=features,
        calibration=Calibration(1.0, 0.0),
        operating_points=POINTS,
        reference={f: 0.0 for f in features},
        meta={"feature_schema_version": FeatureVector(FEATURE_NAMES, np.zeros(1)).schema_version},
    )


def test_explain_names_the_feature_that_drove_the_score() -> None:
    model = _toy_model()
    values = np.zeros(len(FEATURE_NAMES), dtype=np.float32)
    values[FEATURE_NAMES.index("art.comb_strength")] = 2.0
    values[FEATURE_NAMES.index("art.comb_period_hz")] = 689.0
    vec = FeatureVector(FEATURE_NAMES, values)
    assert model.score_features(vec) > 0.5
    reasons = model.explain(vec)
    assert reasons, "a positive score must come with reasons"
    assert "comb" in reasons[0] and reasons[0].endswith(".")


def test_reason_says_how_rare_the_value_is_among_real_recordings_with_its_unit() -> None:
    quantiles = (0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 4.0)  # at REAL_QUANTILES levels
    full = {"art.comb_period_hz": 689.06}
    sentence = render_reason("art.grid_22050_s32", 3.5, 1.0, full, quantiles, 1234)
    assert "689 Hz" in sentence and "3.5 dB" in sentence
    assert "higher than in 99.0% of 1,234 held-out real recordings" in sentence
    low = render_reason("voice.hnr_db.mean", 0.05, 1.0, {}, quantiles, 1234)
    assert "lower than in 99.9% of 1,234 held-out real recordings" in low
    # Ordinary values fall back to the direction against the median, never an inverted claim.
    typical = render_reason("art.grid_22050_s32", 1.5, 1.0, full, quantiles, 1234)
    assert "higher than typical real recordings (1 dB)" in typical


def test_operating_point_is_chosen_for_the_policy_budget_and_records_what_it_measures() -> None:
    from integrity.training.fit import operating_points

    rng = np.random.default_rng(5)
    records = [{"package": f"pkg-{i % 7}"} for i in range(1500)]
    scores = rng.uniform(size=1500)
    points = operating_points(scores, records, budget=0.01)
    k = int(np.sum(scores >= points["review"]))
    assert k == 4 and points["negatives"] == 1500  # floor(0.3 % of 1,500)
    assert points["review_fpr_measured"] == k / 1500
    assert points["review_fpr_ci95"][1] <= 0.01
    assert len(points["negative_packages"]) == 7 and len(points["negative_scores"]) == 1500
    # A tight budget lowers the allowed count until the upper bound fits it.
    tight = operating_points(scores, records, budget=0.004)
    assert int(np.sum(scores >= tight["review"])) < k
    assert tight["review_fpr_ci95"][1] <= 0.004
