"""The torch backend computes the same vector as the NumPy backend."""

from __future__ import annotations

import numpy as np
import pytest

from integrity.features import FEATURE_NAMES, extract_features, extract_features_batch
from tests.unit.features.conftest import RATE, chord, with_periodic_pattern

torch = pytest.importorskip(
    "torch", reason="torch is not installed (the `torch` extra); CI installs it"
)

# Both backends compute in float64; differences are FFT rounding, far below any model's split.
PARITY_RTOL = 1e-6
PARITY_ATOL = 1e-6


def test_torch_backend_matches_numpy_in_a_batch(rng: np.random.Generator) -> None:
    tracks = [
        (chord(7.0, rng), RATE),
        (with_periodic_pattern(chord(12.0, rng), rng), RATE),
        (chord(7.0, rng)[::2].copy(), RATE // 2),
    ]
    batched = extract_features_batch(tracks, backend="torch")
    for (samples, rate), got in zip(tracks, batched, strict=True):
        want = extract_features(samples, rate)
        assert got.names == want.names == FEATURE_NAMES
        assert np.array_equal(np.isnan(got.values), np.isnan(want.values))
        np.testing.assert_allclose(
            got.values, want.values, rtol=PARITY_RTOL, atol=PARITY_ATOL, equal_nan=True
        )
