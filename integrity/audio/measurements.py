"""Level, loudness, silence and clipping of decoded audio.

Loudness follows ITU-R BS.1770-4: K-weighting (a head-related high shelf, then the RLB
high-pass), mean square over 400 ms blocks overlapping by 75 %, an absolute gate at -70 LUFS and
a relative gate 10 LU below the absolute-gated level. The filters are designed for the actual
sample rate from their analog prototypes (bilinear transform with pre-warping), so they match
the standard's published 48 kHz coefficients there and stay correct at 22.05 or 44.1 kHz.

What the numbers mean for our mono samples: a single channel has weight G = 1, so a 0 dBFS
997 Hz sine reads -3.01 LUFS (the standard's own check value for one channel). Decoded audio is
the mean of the source channels, so a stereo programme with identical channels reads 3.01 LU
below its two-channel BS.1770 loudness (the standard sums channel powers), and uncorrelated
channels read up to 6.02 LU below. Use the figures to compare files with each other (re-uploads,
loudness-war outliers), not as a broadcast compliance meter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal

from integrity.audio.constants import (
    CLIP_LEVEL,
    CLIP_MIN_RUN_SAMPLES,
    K_HIGHPASS_FREQ_HZ,
    K_HIGHPASS_Q,
    K_SHELF_FREQ_HZ,
    K_SHELF_GAIN_DB,
    K_SHELF_Q,
    K_SHELF_VB_EXPONENT,
    LOUDNESS_ABSOLUTE_GATE_LUFS,
    LOUDNESS_BLOCK_OVERLAP,
    LOUDNESS_BLOCK_S,
    LOUDNESS_OFFSET_DB,
    LOUDNESS_RELATIVE_GATE_LU,
    SILENCE_FRAME_S,
    SILENCE_THRESHOLD_DBFS,
)
from integrity.audio.records import DecodedAudio


@dataclass(frozen=True, slots=True)
class AudioMeasurements:
    """What one decoded file measures.

    `integrated_lufs` is None when no 400 ms block passes the absolute gate (silence, or audio
    shorter than one block); `sample_peak_dbfs` is None for digital silence.
    """

    duration_s: float
    integrated_lufs: float | None
    sample_peak_dbfs: float | None
    leading_silence_s: float
    trailing_silence_s: float
    silence_ratio: float
    clipping_ratio: float


def k_weighting_sos(sample_rate: int) -> np.ndarray:
    """The two K-weighting biquads at `sample_rate`, as second-order sections (2, 6)."""
    # Stage 1: high shelf (+4 dB above ~1.7 kHz), modelling the head.
    k = math.tan(math.pi * K_SHELF_FREQ_HZ / sample_rate)
    vh = 10.0 ** (K_SHELF_GAIN_DB / 20.0)
    vb = vh**K_SHELF_VB_EXPONENT
    a0 = 1.0 + k / K_SHELF_Q + k * k
    shelf = [
        (vh + vb * k / K_SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / K_SHELF_Q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / K_SHELF_Q + k * k) / a0,
    ]
    # Stage 2: the RLB high-pass (second order, ~38 Hz).
    k = math.tan(math.pi * K_HIGHPASS_FREQ_HZ / sample_rate)
    a0 = 1.0 + k / K_HIGHPASS_Q + k * k
    highpass = [
        1.0,
        -2.0,
        1.0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / K_HIGHPASS_Q + k * k) / a0,
    ]
    return np.array([shelf, highpass], dtype=np.float64)


def _block_loudness(mean_squares: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        loudness: np.ndarray = LOUDNESS_OFFSET_DB + 10.0 * np.log10(mean_squares)
    return loudness


def integrated_loudness(samples: np.ndarray, sample_rate: int) -> float | None:
    """BS.1770-4 gated loudness of one channel (LUFS); None when nothing passes the gates."""
    block = round(LOUDNESS_BLOCK_S * sample_rate)
    step = round(LOUDNESS_BLOCK_S * (1.0 - LOUDNESS_BLOCK_OVERLAP) * sample_rate)
    if samples.shape[0] < block:
        return None
    weighted = signal.sosfilt(k_weighting_sos(sample_rate), samples.astype(np.float64))
    energy = np.concatenate(([0.0], np.cumsum(weighted * weighted)))
    starts = np.arange(0, samples.shape[0] - block + 1, step)
    mean_squares = (energy[starts + block] - energy[starts]) / block
    levels = _block_loudness(mean_squares)
    above_absolute = levels > LOUDNESS_ABSOLUTE_GATE_LUFS
    if not above_absolute.any():
        return None
    relative_gate = _block_loudness(mean_squares[above_absolute].mean()) + (
        LOUDNESS_RELATIVE_GATE_LU
    )
    gated = above_absolute & (levels > relative_gate)
    return float(_block_loudness(mean_squares[gated].mean()))


def _frame_levels_db(samples: np.ndarray, frame: int) -> np.ndarray:
    """RMS level of consecutive frames (dB re full scale); the last frame may be shorter."""
    starts = np.arange(0, samples.shape[0], frame)
    squares = samples.astype(np.float64) ** 2
    sums = np.add.reduceat(squares, starts)
    lengths = np.diff(np.append(starts, samples.shape[0]))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(sums / lengths)


def _clipped_fraction(samples: np.ndarray) -> float:
    """Fraction of samples inside runs of >= CLIP_MIN_RUN_SAMPLES full-scale samples."""
    at_full_scale = np.abs(samples) >= CLIP_LEVEL
    if not at_full_scale.any():
        return 0.0
    edges = np.diff(np.concatenate(([0], at_full_scale.astype(np.int8), [0])))
    run_starts = np.flatnonzero(edges == 1)
    run_ends = np.flatnonzero(edges == -1)
    lengths = run_ends - run_starts
    return float(lengths[lengths >= CLIP_MIN_RUN_SAMPLES].sum() / samples.shape[0])


def measure(audio: DecodedAudio) -> AudioMeasurements:
    """Duration, loudness, peak, silence and clipping of one decoded file.

    Silence is measured on SILENCE_FRAME_S frames, so leading and trailing silence are exact to
    within one frame (10 ms); the ratio is the fraction of frames below SILENCE_THRESHOLD_DBFS.
    """
    samples = audio.samples
    rate = audio.sample_rate
    count = samples.shape[0]
    duration_s = count / rate
    if count == 0:
        return AudioMeasurements(duration_s, None, None, 0.0, 0.0, 1.0, 0.0)
    peak = float(np.abs(samples).max())
    frame = max(1, round(SILENCE_FRAME_S * rate))
    loud = np.flatnonzero(_frame_levels_db(samples, frame) >= SILENCE_THRESHOLD_DBFS)
    frames_total = math.ceil(count / frame)
    if loud.size == 0:
        leading_s, trailing_s = duration_s, duration_s
    else:
        leading_s = loud[0] * frame / rate
        trailing_s = max(0, count - (loud[-1] + 1) * frame) / rate
    return AudioMeasurements(
        duration_s=duration_s,
        integrated_lufs=integrated_loudness(samples, rate),
        sample_peak_dbfs=20.0 * math.log10(peak) if peak > 0.0 else None,
        leading_silence_s=leading_s,
        trailing_silence_s=trailing_s,
        silence_ratio=1.0 - loud.size / frames_total,
        clipping_ratio=_clipped_fraction(samples),
    )
