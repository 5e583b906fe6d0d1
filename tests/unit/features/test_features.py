"""The feature extractor on signals whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from integrity.features import (
    CONTEXT_FEATURES,
    FEATURE_NAMES,
    FEATURE_SCHEMA_VERSION,
    extract_features,
)
from tests.unit.features.conftest import (
    COMB_PERIOD_SAMPLES,
    RATE,
    chord,
    pitch_shift,
    transposed_conv,
    with_periodic_pattern,
)

COMB_HZ = RATE / COMB_PERIOD_SAMPLES


def test_vector_shape_names_and_version(rng: np.random.Generator) -> None:
    vec = extract_features(chord(6.0, rng), RATE)
    assert vec.values.dtype == np.float32
    assert len(vec.values) == len(FEATURE_NAMES) == len(set(FEATURE_NAMES))
    assert vec.schema_version == FEATURE_SCHEMA_VERSION
    assert np.isfinite(vec["spec.centroid_hz.mean.mean"])


def test_pure_tone_centroid_is_its_frequency() -> None:
    t = np.arange(int(5 * RATE)) / RATE
    vec = extract_features((0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32), RATE)
    assert vec["spec.centroid_hz.mean.mean"] == pytest.approx(1000.0, abs=15.0)
    assert vec["spec.bandwidth_hz.mean.mean"] < 100.0


def test_transposed_conv_lines_at_predicted_bins(rng: np.random.Generator) -> None:
    """Three stride-2 layers at 44.1 kHz predict lines at multiples of 44100 / 8 Hz."""
    low = soxr.resample(chord(10.0, rng), RATE, RATE // 8)
    fake = extract_features(transposed_conv(low, (2, 2, 2), rng), RATE)
    real = extract_features(chord(10.0, rng), RATE)
    assert fake["art.fs8_44100"] > real["art.fs8_44100"] + 15.0
    assert fake["art.grid_44100_s8"] > real["art.grid_44100_s8"] + 15.0
    # The fixed bin holding 44100 * 2 / 8 = 11025 Hz lights up too.
    assert fake["art.bin_11000_11500hz"] > real["art.bin_11000_11500hz"] + 10.0


def test_periodic_pattern_comb_found(rng: np.random.Generator) -> None:
    base = chord(10.0, rng)
    fake = extract_features(with_periodic_pattern(base, rng), RATE)
    real = extract_features(base, RATE)
    assert fake["art.comb_period_hz"] == pytest.approx(COMB_HZ, rel=0.01)
    assert fake["art.grid_44100_s64"] > real["art.grid_44100_s64"] + 10.0
    assert fake["art.comb_strength"] > real["art.comb_strength"] + 0.3


@pytest.mark.parametrize("cents", [-50.0, 50.0])
def test_shift_invariant_features_survive_pitch_shift(
    rng: np.random.Generator, cents: float
) -> None:
    base = chord(10.0, rng)
    fake = pitch_shift(with_periodic_pattern(base, rng), cents)
    real = pitch_shift(base, cents)
    f, r = extract_features(fake, RATE), extract_features(real, RATE)
    assert f["art.comb_period_hz"] == pytest.approx(COMB_HZ * 2 ** (cents / 1200), rel=0.01)
    assert f["art.grid_44100_s64"] > r["art.grid_44100_s64"] + 10.0  # scale search finds it
    assert f["art.comb_strength"] > r["art.comb_strength"] + 0.3


@pytest.mark.parametrize("factor", [0.92, 1.0, 1.08])
def test_resample_invariant_grid_finds_a_comb_resampled_by_up_to_10_percent(
    rng: np.random.Generator, factor: float
) -> None:
    """A stride-64 imprint resampled by 8 % leaves the +-60-cent fixed-grid search (its lines
    every 689 Hz x factor are out of reach) but not the resample-invariant one."""
    base = chord(10.0, rng)
    cents = 1200.0 * np.log2(factor)
    fake = pitch_shift(with_periodic_pattern(base, rng), cents)
    real = pitch_shift(base, cents)
    f, r = extract_features(fake, RATE), extract_features(real, RATE)
    assert f["art.rgrid_s64"] > r["art.rgrid_s64"] + 10.0
    assert f["art.rgrid_s64_contrast"] > r["art.rgrid_s64_contrast"] + 8.0


def test_a_length_libsoxr_resamples_one_sample_short_still_gets_features(
    rng: np.random.Generator,
) -> None:
    """458,720 samples at 48 kHz: libsoxr streams 210,724 samples at 22.05 kHz, one fewer than
    count * rate / 48 kHz rounded (the extractor raised on such clips before)."""
    x = (0.1 * rng.standard_normal(458_720)).astype(np.float32)
    assert np.isfinite(extract_features(x, 48_000)["spec.centroid_hz.mean.mean"])


def test_silence_padding_changes_only_context_features(rng: np.random.Generator) -> None:
    """Leading silence must not move any feature the synthetic model may use."""
    x = chord(8.0, rng)
    padded = np.concatenate([np.zeros(5 * RATE, dtype=np.float32), x])
    a, b = extract_features(x, RATE), extract_features(padded, RATE)
    content = [i for i, n in enumerate(FEATURE_NAMES) if n not in CONTEXT_FEATURES]
    np.testing.assert_allclose(a.values[content], b.values[content], rtol=1e-4, atol=1e-4)
    assert b["ctx.leading_silence_s"] == pytest.approx(5.0, abs=0.1)


def _melody(notes: int, rng: np.random.Generator) -> np.ndarray:
    """Random quarter-second notes (a music-like signal with no repetition)."""
    t = np.arange(RATE // 4) / RATE
    pitches = 220.0 * 2 ** (rng.integers(0, 24, notes) / 12)
    return np.concatenate([0.3 * np.sin(2 * np.pi * f * t) for f in pitches]).astype(np.float32)


def test_loop_scores_higher_repetition_than_a_melody(rng: np.random.Generator) -> None:
    loop = np.tile(_melody(12, rng), 6)  # a 3-second loop played six times
    melody = _melody(72, rng)
    looped = extract_features(loop, RATE)["rep.max_lag_similarity"]
    plain = extract_features(melody, RATE)["rep.max_lag_similarity"]
    assert looped > 0.9
    assert looped > plain + 0.15


def test_silence_gives_all_nan() -> None:
    vec = extract_features(np.zeros(RATE * 3, dtype=np.float32), RATE)
    assert np.all(np.isnan(vec.values))


def test_lower_input_rates_accepted(rng: np.random.Generator) -> None:
    x = soxr.resample(chord(6.0, rng), RATE, 22_050).astype(np.float32)
    vec = extract_features(x, 22_050)
    assert vec["bw.cutoff_hz"] < 11_100.0
