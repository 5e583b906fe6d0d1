"""Known test signals for the feature extractor (generated, so every expectation is exact)."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

RATE = 44_100
COMB_PERIOD_SAMPLES = 64  # a stride-64 decoder at 44.1 kHz: lines every 689.06 Hz


def chord(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A slowly vibrating chord over a faint brown-noise bed: music-like, no artifact."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    vibrato = 1.0 + 0.01 * np.sin(2 * np.pi * 0.3 * t)
    x = sum(
        a * np.sin(2 * np.pi * f * t * vibrato)
        for f, a in ((220.0, 0.3), (330.0, 0.2), (440.0, 0.15), (660.0, 0.1))
    )
    noise = np.cumsum(rng.standard_normal(n))
    noise -= np.convolve(noise, np.ones(200) / 200, mode="same")
    return (0.5 * (x + 0.02 * noise / noise.std())).astype(np.float32)


def with_periodic_pattern(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add a faint pattern repeating every COMB_PERIOD_SAMPLES (a decoder's bias imprint)."""
    pattern = rng.standard_normal(COMB_PERIOD_SAMPLES)
    reps = x.size // COMB_PERIOD_SAMPLES + 1
    return (x + 0.003 * np.tile(pattern, reps)[: x.size]).astype(np.float32)


def transposed_conv(
    x: np.ndarray, strides: tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    """Zero-insertion upsampling + random kernel + bias + leaky ReLU per layer (random weights)."""
    y = x.astype(np.float64)
    for s in strides:
        up = np.zeros(y.size * s)
        up[::s] = y
        kernel = np.hanning(2 * s) + 0.3 * rng.standard_normal(2 * s)
        y = np.convolve(up, kernel, mode="same") + 0.05 * rng.standard_normal()
        y = np.where(y > 0, y, 0.2 * y)
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def pitch_shift(x: np.ndarray, cents: float) -> np.ndarray:
    """Resample so that, played at RATE, every frequency moves by `cents`."""
    return soxr.resample(x, RATE, RATE / 2 ** (cents / 1200.0)).astype(np.float32)


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
