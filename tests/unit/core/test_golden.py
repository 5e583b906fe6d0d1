"""Golden outputs: a fixed clip's feature vector and fingerprint may change only with a version
bump (the test id names the version; `python -m tests.golden.regenerate` re-pins after one)."""

from __future__ import annotations

import numpy as np
import pytest

from integrity.features import FEATURE_SCHEMA_VERSION
from integrity.fingerprint import FINGERPRINT_VERSION
from tests.golden import regenerate

REGENERATE = "`.venv/bin/python -m tests.golden.regenerate`"
FEATURE_RTOL = 1e-5
"""Relative tolerance per feature value: float32 storage and summation order, not maths."""
FEATURE_ATOL = 1e-6
"""Absolute tolerance for values near zero."""
MIN_SAME_HASHES = 0.99
"""Share of pinned hashes that must come out identical: room for a float tie between two
peaks on another CPU, none for a change of the extraction (which moves far more)."""


def _golden(path):
    if not path.is_file():
        pytest.fail(
            f"no golden file {path.name} for this version: after checking that the "
            f"change is intended, run {REGENERATE}"
        )
    return np.load(path, allow_pickle=False)


@pytest.mark.parametrize("version", [FEATURE_SCHEMA_VERSION])
def test_feature_vector_of_the_golden_clip(version):
    golden = _golden(regenerate.features_file(version))
    names, values = regenerate.current_features()
    assert list(names) == list(golden["names"]), (
        f"feature names changed under schema {version}: bump FEATURE_SCHEMA_VERSION"
    )
    bad = ~np.isclose(
        values, golden["values"], rtol=FEATURE_RTOL, atol=FEATURE_ATOL, equal_nan=True
    )
    assert not bad.any(), (
        f"{int(bad.sum())} feature values changed under schema {version} "
        f"(first: {list(names[bad][:5])}): bump FEATURE_SCHEMA_VERSION, then run {REGENERATE}"
    )


@pytest.mark.parametrize("version", [FINGERPRINT_VERSION])
def test_fingerprint_of_the_golden_clip(version):
    golden = _golden(regenerate.fingerprint_file(version))["hashes"]
    hashes = regenerate.current_fingerprint()
    assert hashes.dtype == golden.dtype
    pinned = {row.tobytes() for row in golden}
    same = sum(row.tobytes() in pinned for row in hashes) / max(len(golden), 1)
    assert len(hashes) == pytest.approx(len(golden), rel=1 - MIN_SAME_HASHES) and (
        same >= MIN_SAME_HASHES
    ), (
        f"fingerprint v{version} changed: {len(hashes)} hashes (pinned {len(golden)}), "
        f"{same:.1%} identical: bump FINGERPRINT_VERSION, then run {REGENERATE}"
    )
