"""Per-segment descriptors, written once against ArrayOps so both backends share the maths.

Input: a batch of equal-length segments at ANALYSIS_RATE_HZ and the same segments at
FULL_BAND_RATE_HZ. Output: one row of SEGMENT_DESCRIPTORS per segment, plus each segment's
long-FFT power spectrum (the decoder-artifact analysis in artifacts.py works from those).
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from typing import Any

import librosa
import numpy as np
import scipy.fft
import scipy.signal

from integrity.features import constants as c
from integrity.features.ops import ArrayOps


def _descriptor_names() -> tuple[str, ...]:
    names: list[str] = []
    for base in (
        "centroid_hz",
        "bandwidth_hz",
        "rolloff85_hz",
        "rolloff99_hz",
        "flatness",
        "flux",
        "zcr",
        "rms_dbfs",
    ):
        names += [f"spec.{base}.mean", f"spec.{base}.std"]
    edges = c.SUB_BAND_EDGES_HZ
    names += [f"band.{int(lo)}_{int(hi)}hz_db" for lo, hi in itertools.pairwise(edges)]
    for kind in ("mfcc", "lfcc"):
        names += [f"{kind}.{i:02d}.mean" for i in range(c.N_CEPSTRA)]
        names += [f"{kind}.{i:02d}.std" for i in range(c.N_CEPSTRA)]
        names += [f"{kind}.{i:02d}.delta_std" for i in range(c.N_CEPSTRA)]
    names += [
        "phase.if_dispersion_low",
        "phase.if_dispersion_high",
        "phase.if_coherence_low",
        "phase.if_coherence_high",
        "phase.gd_dispersion",
        "phase.gd_coherence",
        "loud.range_db",
        "loud.crest_db",
        "loud.silent_fraction",
        "voice.voiced_fraction",
        "voice.hnr_db",
        "voice.jitter",
        "voice.f0_std_semitones",
        "voice.shimmer_db",
    ]
    return tuple(names)


SEGMENT_DESCRIPTORS: tuple[str, ...] = _descriptor_names()
# Voice descriptors that are NaN when a segment has too few voiced frames.
VOICE_DEPENDENT = ("voice.hnr_db", "voice.jitter", "voice.f0_std_semitones", "voice.shimmer_db")


@lru_cache(maxsize=1)
def _constants() -> dict[str, np.ndarray]:
    """Windows, filterbanks and DCT matrices, built once per process (NumPy, float64)."""
    n_bins = c.FRAME_SAMPLES // 2 + 1
    freqs = np.fft.rfftfreq(c.FRAME_SAMPLES, 1.0 / c.ANALYSIS_RATE_HZ)
    window = scipy.signal.get_window("hann", c.FRAME_SAMPLES, fftbins=True)
    mel = librosa.filters.mel(
        sr=c.ANALYSIS_RATE_HZ, n_fft=c.FRAME_SAMPLES, n_mels=c.N_MELS, fmin=0.0, htk=False
    ).astype(np.float64)
    # Linear-frequency triangular filterbank (LFCC), equal-width bands from 0 to Nyquist.
    centres = np.linspace(0.0, c.ANALYSIS_RATE_HZ / 2, c.N_LINEAR_BANDS + 2)
    linear = np.zeros((c.N_LINEAR_BANDS, n_bins))
    for i in range(c.N_LINEAR_BANDS):
        lo, mid, hi = centres[i], centres[i + 1], centres[i + 2]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        linear[i] = np.clip(np.minimum(up, down), 0.0, None)
    dct = scipy.fft.dct(np.eye(c.N_MELS), type=2, norm="ortho", axis=0)[: c.N_CEPSTRA]
    dct_lin = scipy.fft.dct(np.eye(c.N_LINEAR_BANDS), type=2, norm="ortho", axis=0)[: c.N_CEPSTRA]
    bins = np.arange(n_bins)
    expected_advance = np.exp(-2j * np.pi * bins * c.HOP_SAMPLES / c.FRAME_SAMPLES)
    band_masks = np.stack(
        [
            ((freqs >= lo) & (freqs < hi)).astype(np.float64)
            for lo, hi in zip(c.SUB_BAND_EDGES_HZ[:-1], c.SUB_BAND_EDGES_HZ[1:], strict=True)
        ]
    )
    band_masks[-1, -1] = 1.0  # Nyquist bin belongs to the top band
    low = (freqs < c.PHASE_SPLIT_HZ).astype(np.float64)
    # Window autocorrelation, to undo the taper's bias on the periodicity estimate (Boersma).
    win_ac = np.fft.irfft(np.abs(np.fft.rfft(window, 2 * c.FRAME_SAMPLES)) ** 2)[: c.FRAME_SAMPLES]
    win_ac = win_ac / win_ac[0]
    return {
        "freqs": freqs,
        "window": window,
        "mel": mel.T.copy(),
        "linear": linear.T.copy(),
        "dct": dct.T.copy(),
        "dct_lin": dct_lin.T.copy(),
        "expected_advance": expected_advance,
        "band_masks": band_masks.T.copy(),
        "low": low,
        "high": 1.0 - low,
        "win_ac": win_ac,
        "long_window": scipy.signal.get_window("hann", c.LONG_FFT_SAMPLES, fftbins=True),
    }


def _cepstra(ops: ArrayOps, power: Any, bank: Any, dct: Any) -> list[Any]:
    """Mean, std and delta-std of log-filterbank cepstra over frames: (B, N_CEPSTRA) each."""
    logspec = 10.0 * ops.log10(power @ bank + c.LOG_EPS)
    ceps = logspec @ dct  # (B, T, N_CEPSTRA)
    delta = (ceps[:, 2:, :] - ceps[:, :-2, :]) * 0.5
    return [ops.mean(ceps, 1), ops.std(ceps, 1), ops.std(delta, 1)]


def _masked_mean(ops: ArrayOps, values: Any, mask: Any) -> Any:
    return ops.sum(values * mask, 1) / (ops.sum(mask, 1) + 1e-12)


def segment_descriptors(
    ops: ArrayOps, segments: np.ndarray, full_band: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Descriptors (B, D), voiced-frame counts (B,), long-FFT power of segment halves (B, 2, K)."""
    k = _constants()
    x = ops.asarray(segments)
    freqs = ops.asarray(k["freqs"])
    frames = ops.frame(x, c.FRAME_SAMPLES, c.HOP_SAMPLES) * ops.asarray(k["window"])
    # One zero-padded FFT serves both the STFT (its even bins equal the unpadded FFT) and the
    # autocorrelation of the pitch tracker (which needs the padding to avoid wrap-around).
    padded = ops.rfft(frames, 2 * c.FRAME_SAMPLES)
    spec = padded[..., ::2]  # (B, T, K)
    mag = ops.abs(spec)
    power = mag * mag
    total = ops.sum(power, 2) + c.LOG_EPS  # (B, T)
    cols: list[Any] = []

    centroid = ops.sum(power * freqs, 2) / total
    spread = ops.sqrt(ops.clip(ops.sum(power * freqs * freqs, 2) / total - centroid**2, 0.0, None))
    cum = ops.cumsum(power, 2)
    bin_hz = c.ANALYSIS_RATE_HZ / c.FRAME_SAMPLES
    roll_lo = ops.sum(ops.as_float(cum < c.ROLLOFF_LOW * total[..., None]), 2) * bin_hz
    roll_hi = ops.sum(ops.as_float(cum < c.ROLLOFF_HIGH * total[..., None]), 2) * bin_hz
    log_power = ops.log10(power + c.LOG_EPS)
    flatness = 10.0 ** ops.mean(log_power, 2) / (ops.mean(power, 2) + c.LOG_EPS)
    norm_mag = mag / (ops.sqrt(total)[..., None])
    flux_frames = ops.sum((norm_mag[:, 1:, :] - norm_mag[:, :-1, :]) ** 2, 2)
    raw = ops.frame(x, c.FRAME_SAMPLES, c.HOP_SAMPLES)
    signs = ops.as_float(raw >= 0.0)
    zcr = ops.mean(ops.abs(signs[..., 1:] - signs[..., :-1]), 2)
    rms = ops.sqrt(ops.mean(raw * raw, 2))
    rms_db = 20.0 * ops.log10(rms + 1e-9)
    for series in (centroid, spread, roll_lo, roll_hi, flatness, flux_frames, zcr, rms_db):
        cols += [ops.mean(series, 1), ops.std(series, 1)]

    band_energy = ops.sum(power, 1) @ ops.asarray(k["band_masks"])  # (B, n_bands)
    band_db = 10.0 * ops.log10(band_energy / (ops.sum(band_energy, 1)[:, None]) + c.LOG_EPS)
    cols += [band_db[:, i] for i in range(len(c.SUB_BAND_EDGES_HZ) - 1)]

    for bank, dct in ((k["mel"], k["dct"]), (k["linear"], k["dct_lin"])):
        for stat in _cepstra(ops, power, ops.asarray(bank), ops.asarray(dct)):
            cols += [stat[:, i] for i in range(c.N_CEPSTRA)]

    # Phase: deviation of the frame-to-frame phase advance from the bin-centre advance
    # (instantaneous frequency), and of the bin-to-bin phase step (group delay).
    # Dispersion = magnitude-weighted mean of (1 - cos deviation): 0 for perfectly steady
    # phase, up to 2 for opposite phase; avoids an arctangent per bin.
    rotation = ops.ascomplex(k["expected_advance"])
    advance = spec[:, 1:, :] * ops.conj(spec[:, :-1, :]) * rotation
    weight = mag[:, 1:, :] * mag[:, :-1, :]
    real = ops.real(advance)
    low, high = ops.asarray(k["low"]), ops.asarray(k["high"])
    for band in (low, high):
        w = ops.sum(ops.sum(weight * band, 2), 1) + 1e-30
        cols.append(ops.sum(ops.sum((weight - real) * band, 2), 1) / w)
    resultant = ops.abs(ops.sum(advance, 1)) / (ops.sum(weight, 1) + 1e-30)  # (B, K)
    bin_energy = ops.sum(power, 1)
    for band in (low, high):
        w = bin_energy * band
        cols.append(ops.sum(resultant * w, 1) / (ops.sum(w, 1) + 1e-30))
    step = spec[..., 1:] * ops.conj(spec[..., :-1])
    curvature = step[..., 1:] * ops.conj(step[..., :-1])
    gd_weight = mag[..., 2:] * mag[..., 1:-1] * mag[..., 1:-1] * mag[..., :-2]
    gd_total = ops.sum(ops.sum(gd_weight, 2), 1) + 1e-30
    cols.append(ops.sum(ops.sum(gd_weight - ops.real(curvature), 2), 1) / gd_total)
    cols.append(ops.sum(ops.abs(ops.sum(curvature, 1)), 1) / gd_total)

    # Loudness and internal silence (edges were trimmed before segmentation).
    cols.append(ops.quantile(rms_db, 0.95, 1) - ops.quantile(rms_db, 0.10, 1))
    peak = ops.amax(ops.abs(x), 1)
    seg_rms = ops.sqrt(ops.mean(x * x, 1))
    cols.append(20.0 * ops.log10((peak + 1e-9) / (seg_rms + 1e-9)))
    cols.append(ops.mean(ops.as_float(rms_db < c.SILENT_FRAME_DBFS), 1))

    # Voice: normalised autocorrelation pitch track, corrected for the window's taper.
    padded_power = ops.real(padded * ops.conj(padded))
    ac = ops.irfft(padded_power, 2 * c.FRAME_SAMPLES)
    lag_lo = int(c.ANALYSIS_RATE_HZ // c.F0_MAX_HZ)
    lag_hi = int(c.ANALYSIS_RATE_HZ // c.F0_MIN_HZ)
    norm = ac[..., lag_lo : lag_hi + 1] / (ac[..., :1] + c.LOG_EPS)
    norm = norm / ops.asarray(k["win_ac"][lag_lo : lag_hi + 1])
    r = ops.clip(ops.amax(norm, 2), 0.0, c.MAX_CORRELATION)
    lag = ops.argmax(norm, 2) + lag_lo
    voiced = ops.as_float((r > c.VOICED_MIN_CORRELATION) & (rms_db > c.VOICED_MIN_DBFS))
    voiced_count = ops.sum(voiced, 1)
    cols.append(ops.mean(voiced, 1))
    cols.append(_masked_mean(ops, 10.0 * ops.log10(r / (1.0 - r) + c.LOG_EPS), voiced))
    pair = voiced[:, 1:] * voiced[:, :-1]
    period_change = ops.clip(
        ops.abs(lag[:, 1:] - lag[:, :-1]) / lag[:, :-1], None, c.JITTER_MAX_RATIO
    )
    cols.append(_masked_mean(ops, period_change, pair))
    semitones = 12.0 * ops.log2(c.ANALYSIS_RATE_HZ / lag)
    mean_st = _masked_mean(ops, semitones, voiced)
    cols.append(ops.sqrt(_masked_mean(ops, (semitones - mean_st[:, None]) ** 2, voiced)))
    cols.append(_masked_mean(ops, ops.abs(rms_db[:, 1:] - rms_db[:, :-1]), pair))

    descriptors = np.stack([ops.to_numpy(col) for col in cols], axis=1)

    fb = ops.asarray(full_band)
    long_frames = ops.frame(fb, c.LONG_FFT_SAMPLES, c.LONG_HOP_SAMPLES) * ops.asarray(
        k["long_window"]
    )
    long_fft = ops.rfft(long_frames, c.LONG_FFT_SAMPLES)
    long_spec = ops.real(long_fft * ops.conj(long_fft))  # (B, T_long, K)
    half = max(1, long_spec.shape[1] // 2)
    first = ops.to_numpy(ops.mean(long_spec[:, :half, :], 1))
    second = ops.to_numpy(ops.mean(long_spec[:, half:, :], 1)) if long_spec.shape[1] > 1 else first
    long_power = np.stack([first, second], axis=1)  # (B, 2, K): halves of each segment
    return descriptors, ops.to_numpy(voiced_count), long_power
