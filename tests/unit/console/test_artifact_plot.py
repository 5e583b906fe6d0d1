"""The residual plot shows what the detector reads: the same comb period and peaks as the
feature vector, the peaks marked where they are, and the comb drawn only where its prominence
is rare among the real recordings the shipped model measured."""

from __future__ import annotations

import numpy as np
import pytest

from integrity.console.artifact_plot import (
    COMB,
    MARGIN_LEFT_PX,
    MARGIN_RIGHT_PX,
    PEAK,
    PLOT_WIDTH_PX,
    artifact_image,
    artifact_residual,
)
from integrity.console.service import ARTIFACT_MODEL, artifact_evidence
from integrity.console.spectrogram import png_bytes
from integrity.db.models import Analysis, Track
from integrity.features import extract_features
from tests.service_support import REPO_ROOT

RATE_HZ = 44_100
SECONDS = 12
COMB_HZ = RATE_HZ / 32  # a stride-32 decoder's line spacing at 44.1 kHz
COMB_LINES = 10
LINE_AMPLITUDE = 0.01  # against noise of standard deviation 0.1
BIN_TOLERANCE_HZ = 3 * RATE_HZ / 16_384  # three long-FFT bins


def _noise(seed: int) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(RATE_HZ * SECONDS)).astype(np.float32)


def _decoder_like() -> np.ndarray:
    t = np.arange(RATE_HZ * SECONDS) / RATE_HZ
    lines = sum(np.sin(2 * np.pi * k * COMB_HZ * t) for k in range(1, COMB_LINES + 1))
    return (_noise(1) + LINE_AMPLITUDE * lines).astype(np.float32)


def _share(pixels: np.ndarray, colour: np.ndarray) -> float:
    return float(np.all(pixels == colour, axis=-1).mean())


def test_the_plot_reads_what_the_detector_reads():
    samples = _decoder_like()
    found = artifact_residual(samples, RATE_HZ)
    assert found is not None
    vector = extract_features(samples, RATE_HZ)
    assert found.comb_period_hz == pytest.approx(vector["art.comb_period_hz"], rel=1e-5)
    assert found.comb_period_hz == pytest.approx(COMB_HZ, abs=BIN_TOLERANCE_HZ)
    # The marked peaks are the detector's strongest narrow peaks: their mean prominence is its
    # art.top_peak_db, and here they are the decoder's lines.
    assert np.mean(found.peaks_db) == pytest.approx(vector["art.top_peak_db"], rel=1e-4)
    multiples = np.array(found.peaks_hz) / COMB_HZ
    assert np.all(np.abs(multiples - np.rint(multiples)) * COMB_HZ < BIN_TOLERANCE_HZ)


def test_peaks_are_marked_where_they_are_and_the_comb_only_when_asked():
    found = artifact_residual(_decoder_like(), RATE_HZ)
    assert found is not None
    plain = artifact_image(found, draw_comb=False)
    combed = artifact_image(found, draw_comb=True)
    assert plain.shape == combed.shape == (plain.shape[0], PLOT_WIDTH_PX, 3)
    assert _share(plain, COMB) == 0.0 < _share(combed, COMB)
    f_lo, f_hi = found.freqs_hz[0], found.freqs_hz[-1]
    span = PLOT_WIDTH_PX - MARGIN_RIGHT_PX - MARGIN_LEFT_PX - 1
    for hz in found.peaks_hz:
        x = MARGIN_LEFT_PX + round((hz - f_lo) / (f_hi - f_lo) * span)
        assert np.any(np.all(plain[:, x] == PEAK, axis=-1)), f"no mark at {hz:.0f} Hz"
    assert png_bytes(plain).startswith(b"\x89PNG\r\n\x1a\n")


def test_plain_noise_has_a_smooth_residual_and_silence_no_plot():
    found = artifact_residual(_noise(2), RATE_HZ)
    lines = artifact_residual(_decoder_like(), RATE_HZ)
    assert found is not None and lines is not None
    # Chance peaks of noise barely clear the detector's 3 dB, far below a decoder's lines.
    assert max(found.peaks_db, default=0.0) < min(lines.peaks_db) / 2
    assert artifact_residual(np.zeros(RATE_HZ * SECONDS, dtype=np.float32), RATE_HZ) is None


def _evidence(samples: np.ndarray) -> dict | None:
    vector = extract_features(samples, RATE_HZ)
    analysis = Analysis(
        asset_sha256="0" * 64,
        details={
            "features": {
                "schema_version": vector.schema_version,
                "values": [float(v) if np.isfinite(v) else None for v in vector.values],
            }
        },
    )
    track = Track(scores={ARTIFACT_MODEL: 0.5}, model_versions={})
    return artifact_evidence(track=track, analysis=analysis, models_dir=REPO_ROOT / "models")


def test_the_comb_is_drawn_only_where_real_recordings_rarely_reach_its_prominence():
    combed, plain = _evidence(_decoder_like()), _evidence(_noise(2))
    assert combed is not None and plain is not None
    for view in (combed, plain):  # the shipped model's recorded real-recording figures
        assert view["real_n"] > 0 and view["real_median"] < view["real_upper"]
    assert combed["comb_prominence"] > combed["real_upper"] and combed["draw_comb"]
    assert combed["comb_spacing"] == "1.378 kHz"
    assert plain["comb_prominence"] < plain["real_upper"] and not plain["draw_comb"]
    unscored = Track(scores={}, model_versions={})
    assert artifact_evidence(track=unscored, analysis=None, models_dir=REPO_ROOT / "models") is None
