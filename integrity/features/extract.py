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

from integrity.features import constants as c
from integrity.features.artifacts import ARTIFACT_FEATURES, artifact_features
from integrity.features.frames import SEGMENT_DESCRIPTORS, VOICE_DEPENDENT, segment_descriptors
from integrity.features.ops import get_ops
from integrity.features.prepare import Prepared, prepare

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


@lru_cache(maxsize=1)
def _repetition_mel() -> np.ndarray:
    return librosa.filters.mel(
        sr=c.ANALYSIS_RATE_HZ, n_fft=c.REPETITION_FRAME_SAMPLES, n_mels=c.REPETITION_MELS
    )


def repetition_features(analysis: np.ndarray, descriptors: np.ndarray) -> np.ndarray:
    """Loop and noise-bed evidence over the whole trimmed track (cheap coarse frames)."""
    n = analysis.size // c.REPETITION_FRAME_SAMPLES
    if n < c.REPETITION_MIN_FRAMES:
        return np.full(len(REPETITION_FEATURES), np.nan)
    stride = max(1, n // c.REPETITION_MAX_FRAMES)
    frames = analysis[: n * c.REPETITION_FRAME_SAMPLES].reshape(n, -1)[::stride]
    return _repetition_from_frames(frames, stride, descriptors)


def _repetition_from_frames(
    frames: np.ndarray | None, stride: int, descriptors: np.ndarray
) -> np.ndarray:
    """`repetition_features` on the coarse frames it reads (every stride-th one)."""
    if frames is None:
        return np.full(len(REPETITION_FEATURES), np.nan)
    frames = frames.astype(np.float64)
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
    prep: Prepared, descriptors: np.ndarray, voiced: np.ndarray, long_power: np.ndarray
) -> FeatureVector:
    values = np.concatenate(
        [
            _aggregate(descriptors, voiced),
            artifact_features(long_power.reshape(-1, long_power.shape[-1])),
            _repetition_from_frames(prep.repetition_frames, prep.repetition_stride, descriptors),
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


def features_of_prepared(
    prep: Prepared | None, *, backend: str = "numpy", device: str = "cpu"
) -> FeatureVector:
    """The feature vector of one track already trimmed and cut (`prepare` or the streamed
    passes of `integrity.features.prepare`); all NaN when nothing was audible."""
    if prep is None:
        return _empty()
    desc, voiced, long_power = segment_descriptors(
        get_ops(backend, device=device), prep.segments, prep.full_band
    )
    return _finish(prep, desc, voiced, long_power)


def extract_features_batch(
    tracks: Sequence[tuple[np.ndarray, int]], *, backend: str = "numpy", device: str = "cpu"
) -> list[FeatureVector]:
    """Feature vectors of several tracks; the torch backend runs equal-shaped segments together.

    Segments of all tracks that share a shape are concatenated into one batch for the backend,
    so a GPU (or torch's threaded CPU kernels) sees large tensors instead of one track at a time.
    """
    ops = get_ops(backend, device=device)
    prepared = [prepare(s, r) for s, r in tracks]
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
