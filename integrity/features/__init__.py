"""Versioned per-track feature vectors for the synthetic and spam detectors.

`extract_features(samples, sample_rate)` is the entry point; `FEATURE_SCHEMA_VERSION` and
`FEATURE_NAMES` say exactly what a vector holds. Constants and their units: constants.py.
"""

from integrity.features.constants import FEATURE_SCHEMA_VERSION
from integrity.features.extract import (
    CONTEXT_FEATURES,
    FEATURE_NAMES,
    FeatureVector,
    extract_features,
    extract_features_batch,
    feature_names,
)

__all__ = [
    "CONTEXT_FEATURES",
    "FEATURE_NAMES",
    "FEATURE_SCHEMA_VERSION",
    "FeatureVector",
    "extract_features",
    "extract_features_batch",
    "feature_names",
]
