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
    MEASURE_CHUNK_SAMPLES,
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
    meter = Measurer(sample_rate)
    meter.feed(samples)
    return meter.loudness()


def _gated_loudness(mean_squares: np.ndarray) -> float | None:
    """BS.1770-4 gating over the blocks' mean squares (LUFS); None when nothing passes."""
    levels = _block_loudness(mean_squares)
    above_absolute = levels > LOUDNESS_ABSOLUTE_GATE_LUFS
    if not above_absolute.any():
        return None
    relative_gate = _block_loudness(mean_squares[above_absolute].mean()) + (
        LOUDNESS_RELATIVE_GATE_LU
    )
    gated = above_absolute & (levels > relative_gate)
    return float(_block_loudness(mean_squares[gated].mean()))


class Measurer:
    """`measure` fed in chunks: the whole file is never held, whatever its length.

    Why: a four-hour file at 48 kHz is 2.8 GB of float32 samples, and measuring it whole
    needed ~7x that. State kept here is O(duration) only at 100 values per second (10-ms
    silence frames) and 20 per second (loudness block edges), ~1 KB per second of audio; the
    per-chunk work arrays are O(chunk). Every sum is accumulated in the same order as a
    whole-array computation, so the results are the same to the last bit.
    """

    def __init__(self, sample_rate: int) -> None:
        self.rate = sample_rate
        self.count = 0
        self.peak = 0.0
        # Silence: 10-ms frames; `_frame_tail` holds the samples of the unfinished frame.
        self.frame = max(1, round(SILENCE_FRAME_S * sample_rate))
        self._frame_tail = np.zeros(0, dtype=np.float64)
        self._frame_levels: list[np.ndarray] = []
        # Loudness: K-weighting state, the running energy, and the energy at each block edge.
        self.block = round(LOUDNESS_BLOCK_S * sample_rate)
        self.step = round(LOUDNESS_BLOCK_S * (1.0 - LOUDNESS_BLOCK_OVERLAP) * sample_rate)
        self._sos = k_weighting_sos(sample_rate)
        self._zi = np.zeros((self._sos.shape[0], 2), dtype=np.float64)
        self._energy = 0.0
        self._starts: list[np.ndarray] = [np.zeros(1)]  # energy before sample 0
        self._ends: list[np.ndarray] = []
        # Clipping: the length of the full-scale run still open at the end of the last chunk.
        self._run = 0
        self._clipped = 0

    def feed(self, chunk: np.ndarray) -> None:
        """Take the next samples (any length; the chunk is not kept)."""
        if chunk.shape[0] == 0:
            return
        base = self.count
        self.count += chunk.shape[0]
        self.peak = max(self.peak, float(np.abs(chunk).max()))
        squares = chunk.astype(np.float64) ** 2
        self._feed_frames(squares)
        self._feed_loudness(chunk, base)
        self._feed_clipping(np.abs(chunk) >= CLIP_LEVEL)

    def _feed_frames(self, squares: np.ndarray) -> None:
        data = np.concatenate((self._frame_tail, squares)) if self._frame_tail.size else squares
        whole = data.shape[0] // self.frame * self.frame
        if whole:
            sums = np.add.reduceat(data[:whole], np.arange(0, whole, self.frame))
            with np.errstate(divide="ignore"):
                self._frame_levels.append(10.0 * np.log10(sums / self.frame))
        self._frame_tail = data[whole:].copy()

    def _feed_loudness(self, chunk: np.ndarray, base: int) -> None:
        weighted, self._zi = signal.sosfilt(
            self._sos, chunk.astype(np.float64), zi=self._zi
        )
        # energy[j] = sum of the first base + j weighted squares, summed left to right.
        energy = np.cumsum(np.concatenate(([self._energy], weighted * weighted)))
        self._energy = float(energy[-1])
        top = base + chunk.shape[0]
        for edges, offset in ((self._starts, 0), (self._ends, self.block)):
            # Block k starts at k*step and ends at k*step + block; keep the energy there.
            first = max(0, -(-(base + 1 - offset) // self.step))
            last = (top - offset) // self.step
            if last >= first:
                positions = np.arange(first, last + 1) * self.step + offset - base
                edges.append(energy[positions])

    def _feed_clipping(self, full: np.ndarray) -> None:
        edges = np.diff(np.concatenate(([1 if self._run else 0], full.astype(np.int8), [0])))
        starts = np.flatnonzero(edges == 1)
        ends = np.flatnonzero(edges == -1)
        lengths = ends - (np.concatenate(([-self._run], starts)) if self._run else starts)
        if full[-1]:  # the last run may go on in the next chunk
            self._run = int(lengths[-1])
            lengths = lengths[:-1]
        else:
            self._run = 0
        self._clipped += int(lengths[lengths >= CLIP_MIN_RUN_SAMPLES].sum())

    def loudness(self) -> float | None:
        """The integrated loudness of what was fed (LUFS), None below one block or the gates."""
        if self.count < self.block:
            return None
        blocks = (self.count - self.block) // self.step + 1
        starts = np.concatenate(self._starts)[:blocks]
        ends = np.concatenate(self._ends)[:blocks]
        return _gated_loudness((ends - starts) / self.block)

    def result(self) -> AudioMeasurements:
        """Duration, loudness, peak, silence and clipping of everything fed."""
        count, rate, frame = self.count, self.rate, self.frame
        duration_s = count / rate
        if count == 0:
            return AudioMeasurements(duration_s, None, None, 0.0, 0.0, 1.0, 0.0)
        levels = list(self._frame_levels)
        if self._frame_tail.size:
            with np.errstate(divide="ignore"):
                tail_mean = self._frame_tail.sum() / self._frame_tail.size
                levels.append(np.array([10.0 * np.log10(tail_mean)]))
        loud = np.flatnonzero(np.concatenate(levels) >= SILENCE_THRESHOLD_DBFS)
        frames_total = math.ceil(count / frame)
        if loud.size == 0:
            leading_s, trailing_s = duration_s, duration_s
        else:
            leading_s = loud[0] * frame / rate
            trailing_s = max(0, count - (loud[-1] + 1) * frame) / rate
        clipped = self._clipped + (self._run if self._run >= CLIP_MIN_RUN_SAMPLES else 0)
        return AudioMeasurements(
            duration_s=duration_s,
            integrated_lufs=self.loudness(),
            sample_peak_dbfs=20.0 * math.log10(self.peak) if self.peak > 0.0 else None,
            leading_silence_s=leading_s,
            trailing_silence_s=trailing_s,
            silence_ratio=1.0 - loud.size / frames_total,
            clipping_ratio=clipped / count,
        )


def measure(audio: DecodedAudio) -> AudioMeasurements:
    """Duration, loudness, peak, silence and clipping of one decoded file.

    Silence is measured on SILENCE_FRAME_S frames, so leading and trailing silence are exact to
    within one frame (10 ms); the ratio is the fraction of frames below SILENCE_THRESHOLD_DBFS.
    Fed in MEASURE_CHUNK_SAMPLES pieces, so measuring costs O(chunk) working memory.
    """
    meter = Measurer(audio.sample_rate)
    samples = audio.samples
    for start in range(0, samples.shape[0], MEASURE_CHUNK_SAMPLES):
        meter.feed(samples[start : start + MEASURE_CHUNK_SAMPLES])
    return meter.result()
