"""The track-level feature vector: trim, segment, describe, aggregate.

Order of work: trim leading/trailing silence (so silence length cannot carry a model), resample
once to the two analysis rates, pick up to MAX_SEGMENTS segments spread over the track, compute
per-segment descriptors with the chosen backend, aggregate them across segments (mean, std,
percentiles: song-level variance is itself evidence), then add the long-FFT artifact features,
whole-track repetition features and the context features (duration, silence) that only the
spam model may use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import librosa
import numpy as np
import soxr

from integrity.features import constants as c
from integrity.features.artifacts import ARTIFACT_FEATURES, artifact_features
from integrity.features.frames import SEGMENT_DESCRIPTORS, VOICE_DEPENDENT, segment_descriptors
from integrity.features.ops import get_ops

AGGREGATES = ("mean", "std", *(f"p{int(p)}" for p in c.AGGREGATE_PERCENTILES))
REPETITION_FEATURES = (
    "rep.max_lag_similarity",
    "rep.lag_contrast",
    "rep.frame_novelty",
    "rep.segment_similarity",
)
# Context features: duration and silence. Only the spam model may use them (31-second cuts and
# silence padding are spam by definition); the synthetic model must not (field guide §2).
CONTEXT_FEATURES = (
    "ctx.duration_s",
    "ctx.leading_silence_s",
    "ctx.trailing_silence_s",
    "ctx.silence_fraction",
)


def _names() -> tuple[str, ...]:
    names = [f"{d}.{agg}" for d in SEGMENT_DESCRIPTORS for agg in AGGREGATES]
    return tuple(names) + ARTIFACT_FEATURES + REPETITION_FEATURES + CONTEXT_FEATURES


FEATURE_NAMES: tuple[str, ...] = _names()


@dataclass(frozen=True)
class FeatureVector:
    """Ordered names, float32 values and the schema version they were computed under."""

    names: tuple[str, ...]
    values: np.ndarray
    schema_version: str = c.FEATURE_SCHEMA_VERSION

    def as_dict(self) -> dict[str, float]:
        return {n: float(v) for n, v in zip(self.names, self.values, strict=True)}

    def __getitem__(self, name: str) -> float:
        return float(self.values[self.names.index(name)])


@dataclass(frozen=True)
class _Prepared:
    """A track after trimming and resampling, ready for the backend."""

    segments: np.ndarray  # (B, L) at ANALYSIS_RATE_HZ
    full_band: np.ndarray  # (B, L_full) at FULL_BAND_RATE_HZ
    analysis: np.ndarray  # the whole trimmed track at ANALYSIS_RATE_HZ
    context: np.ndarray  # CONTEXT_FEATURES values


def _mono(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=0 if x.shape[0] <= x.shape[1] else 1)
    return np.nan_to_num(x.reshape(-1))


def _audible_span(x: np.ndarray) -> tuple[int, int]:
    """Sample range between the first and last non-silent trim frame ((0, 0) if none)."""
    n = x.size // c.TRIM_FRAME_SAMPLES
    if n == 0:
        return (0, 0)
    frames = x[: n * c.TRIM_FRAME_SAMPLES].reshape(n, c.TRIM_FRAME_SAMPLES).astype(np.float64)
    rms_db = 10.0 * np.log10(np.mean(frames * frames, axis=1) + c.LOG_EPS)
    floor = max(c.TRIM_ABSOLUTE_FLOOR_DBFS, float(rms_db.max()) - c.TRIM_RELATIVE_FLOOR_DB)
    loud = np.nonzero(rms_db > floor)[0]
    if loud.size == 0:
        return (0, 0)
    # Refine to the sample, so the same audio behind different silences is cut identically.
    level = 10.0 ** (floor / 20.0)
    first = int(loud[0]) * c.TRIM_FRAME_SAMPLES
    last = (int(loud[-1]) + 1) * c.TRIM_FRAME_SAMPLES
    head = np.nonzero(np.abs(x[max(0, first - c.TRIM_FRAME_SAMPLES) : last]) > level)[0]
    start = max(0, first - c.TRIM_FRAME_SAMPLES) + int(head[0]) if head.size else first
    tail_from = max(start, last - c.TRIM_FRAME_SAMPLES)
    tail = np.nonzero(np.abs(x[tail_from : last + c.TRIM_FRAME_SAMPLES]) > level)[0]
    stop = tail_from + int(tail[-1]) + 1 if tail.size else last
    return start, stop


def _resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return x.astype(np.float32, copy=False)
    resampled = np.asarray(soxr.resample(x, rate, target, quality="HQ"), dtype=np.float32)
    return resampled


def _segment_starts(n_samples: int, seg: int) -> np.ndarray:
    count = max(1, min(c.MAX_SEGMENTS, n_samples // seg))
    if count == 1:
        return np.array([max(0, (n_samples - seg) // 2)])
    return np.linspace(0, n_samples - seg, count).astype(int)


def _prepare(samples: np.ndarray, sample_rate: int) -> _Prepared | None:
    x = _mono(samples)
    total_s = x.size / sample_rate
    start, stop = _audible_span(x)
    audible_s = (stop - start) / sample_rate
    if audible_s < c.MIN_AUDIBLE_S:
        return None
    trimmed = x[start:stop]
    # Internal silence share (of the whole file), for the spam model only.
    quiet = 0.0
    if trimmed.size >= c.TRIM_FRAME_SAMPLES:
        n = trimmed.size // c.TRIM_FRAME_SAMPLES
        fr = trimmed[: n * c.TRIM_FRAME_SAMPLES].reshape(n, -1).astype(np.float64)
        quiet = float(np.mean(10 * np.log10(np.mean(fr * fr, 1) + c.LOG_EPS) < c.SILENT_FRAME_DBFS))
    context = np.array(
        [
            audible_s,
            start / sample_rate,
            total_s - stop / sample_rate,
            (total_s - audible_s) / total_s + quiet * audible_s / total_s,
        ]
    )
    analysis = _resample(trimmed, sample_rate, c.ANALYSIS_RATE_HZ)
    full = _resample(trimmed, sample_rate, c.FULL_BAND_RATE_HZ)
    seg = int(c.SEGMENT_S * c.ANALYSIS_RATE_HZ)
    seg = min(seg, analysis.size)
    seg_full = seg * (c.FULL_BAND_RATE_HZ // c.ANALYSIS_RATE_HZ)
    if full.size < seg_full:
        full = np.pad(full, (0, seg_full - full.size))
    min_full = c.LONG_FFT_SAMPLES
    seg_full = max(seg_full, min_full)
    if full.size < seg_full:
        full = np.pad(full, (0, seg_full - full.size))
    starts = _segment_starts(analysis.size, seg)
    segments = np.stack([analysis[s : s + seg] for s in starts])
    ratio = c.FULL_BAND_RATE_HZ / c.ANALYSIS_RATE_HZ
    full_starts = np.minimum((starts * ratio).astype(int), full.size - seg_full)
    full_band = np.stack([full[s : s + seg_full] for s in full_starts])
    return _Prepared(segments, full_band, analysis, context)


@lru_cache(maxsize=1)
def _repetition_mel() -> np.ndarray:
    return librosa.filters.mel(
        sr=c.ANALYSIS_RATE_HZ, n_fft=c.REPETITION_FRAME_SAMPLES, n_mels=c.REPETITION_MELS
    )


def repetition_features(analysis: np.ndarray, descriptors: np.ndarray) -> np.ndarray:
    """Loop and noise-bed evidence over the whole trimmed track (cheap coarse frames)."""
    n = analysis.size // c.REPETITION_FRAME_SAMPLES
    if n < 4:
        return np.full(len(REPETITION_FEATURES), np.nan)
    frames = analysis[: n * c.REPETITION_FRAME_SAMPLES].reshape(n, -1).astype(np.float64)
    stride = max(1, n // c.REPETITION_MAX_FRAMES)
    frames = frames[::stride]
    power = np.abs(np.fft.rfft(frames * np.hanning(frames.shape[1]), axis=1)) ** 2
    logmel = np.log10(power @ _repetition_mel().T + c.LOG_EPS)
    z = logmel - logmel.mean(axis=1, keepdims=True)
    z /= np.linalg.norm(z, axis=1, keepdims=True) + 1e-9
    m = z.shape[0]
    spec = np.fft.rfft(z, 2 * m, axis=0)
    lagged = np.fft.irfft(np.abs(spec) ** 2, axis=0)[:m].sum(axis=1) / (m - np.arange(m))
    frame_s = c.REPETITION_FRAME_SAMPLES * stride / c.ANALYSIS_RATE_HZ
    min_lag = max(1, int(np.ceil(c.REPETITION_MIN_LAG_S / frame_s)))
    usable = lagged[min_lag : max(min_lag + 1, m // 2)]
    novelty = float(np.mean(1.0 - np.sum(z[1:] * z[:-1], axis=1)))
    if usable.size == 0:
        max_sim, contrast = np.nan, np.nan
    else:
        max_sim = float(usable.max())
        contrast = float(usable.max() - np.median(usable))
    if descriptors.shape[0] > 1:
        mfcc = [
            i
            for i, d in enumerate(SEGMENT_DESCRIPTORS)
            if d.startswith("mfcc.") and d.endswith(".mean")
        ]
        seg = descriptors[:, mfcc][:, 1:]
        seg = seg / (np.linalg.norm(seg, axis=1, keepdims=True) + 1e-9)
        seg_sim = float(np.mean(np.sum(seg[1:] * seg[:-1], axis=1)))
    else:
        seg_sim = np.nan
    return np.array([max_sim, contrast, novelty, seg_sim])


def _aggregate(descriptors: np.ndarray, voiced: np.ndarray) -> np.ndarray:
    d = descriptors.copy()
    voice_cols = np.array([SEGMENT_DESCRIPTORS.index(n) for n in VOICE_DEPENDENT], dtype=np.intp)
    d[np.ix_(voiced < c.MIN_VOICED_FRAMES, voice_cols)] = np.nan
    out = np.full((d.shape[1], len(AGGREGATES)), np.nan)
    has = ~np.all(np.isnan(d), axis=0)
    if np.any(has):
        dh = d[:, has]
        out[has, 0] = np.nanmean(dh, axis=0)
        out[has, 1] = np.nanstd(dh, axis=0)
        # np.nanpercentile loops over columns in Python; only NaN-holding columns need it.
        gaps = np.any(np.isnan(dh), axis=0)
        for i, p in enumerate(c.AGGREGATE_PERCENTILES):
            col = np.empty(dh.shape[1])
            col[~gaps] = np.percentile(dh[:, ~gaps], p, axis=0)
            if np.any(gaps):
                col[gaps] = np.nanpercentile(dh[:, gaps], p, axis=0)
            out[has, 2 + i] = col
    return out.reshape(-1)


def _finish(
    prep: _Prepared, descriptors: np.ndarray, voiced: np.ndarray, long_power: np.ndarray
) -> FeatureVector:
    values = np.concatenate(
        [
            _aggregate(descriptors, voiced),
            artifact_features(long_power.reshape(-1, long_power.shape[-1])),
            repetition_features(prep.analysis, descriptors),
            prep.context,
        ]
    )
    return FeatureVector(FEATURE_NAMES, values.astype(np.float32))


def _empty() -> FeatureVector:
    return FeatureVector(FEATURE_NAMES, np.full(len(FEATURE_NAMES), np.nan, dtype=np.float32))


def extract_features(
    samples: np.ndarray, sample_rate: int, *, backend: str = "numpy", device: str = "cpu"
) -> FeatureVector:
    """The feature vector of one track (any rate; 44.1/48 kHz input keeps the full band)."""
    return extract_features_batch([(samples, sample_rate)], backend=backend, device=device)[0]


def extract_features_batch(
    tracks: Sequence[tuple[np.ndarray, int]], *, backend: str = "numpy", device: str = "cpu"
) -> list[FeatureVector]:
    """Feature vectors of several tracks; the torch backend runs equal-shaped segments together.

    Segments of all tracks that share a shape are concatenated into one batch for the backend,
    so a GPU (or torch's threaded CPU kernels) sees large tensors instead of one track at a time.
    """
    ops = get_ops(backend, device=device)
    prepared = [_prepare(s, r) for s, r in tracks]
    groups: dict[tuple[int, int], list[int]] = {}
    for i, prep in enumerate(prepared):
        if prep is not None:
            key = (prep.segments.shape[1], prep.full_band.shape[1])
            groups.setdefault(key, []).append(i)
    results: list[FeatureVector] = [_empty() for _ in tracks]
    batched = backend != "numpy"
    for members in groups.values():
        chunks = [members] if batched else [[m] for m in members]
        for chunk in chunks:
            preps = [prepared[m] for m in chunk]
            segs = np.concatenate([p.segments for p in preps if p is not None])
            full = np.concatenate([p.full_band for p in preps if p is not None])
            desc, voiced, long_power = segment_descriptors(ops, segs, full)
            offset = 0
            for m, p in zip(chunk, preps, strict=True):
                assert p is not None
                b = p.segments.shape[0]
                sl = slice(offset, offset + b)
                results[m] = _finish(p, desc[sl], voiced[sl], long_power[sl])
                offset += b
    return results


def feature_names() -> tuple[str, ...]:
    """Ordered names of FEATURE_SCHEMA_VERSION."""
    return FEATURE_NAMES
