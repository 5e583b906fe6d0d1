"""Samples in, fingerprint out: spectral peaks on a log-frequency axis, hashed as triplets.

Why triplets on a log-frequency axis (the Panako idea): a pitch shift moves every peak by the
same number of log-frequency bins and a tempo change multiplies every time gap by the same
factor; a speed change does both. A hash made of the two log-frequency differences and the
ratio of the two time gaps of three peaks is therefore unchanged by all three, while each stored
hash keeps its anchor time, anchor frequency and span so that the matcher can recover the time
map and the pitch shift afterwards and check that many hashes agree on them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft
import soxr
from scipy.ndimage import maximum_filter

from integrity.fingerprint import constants as fc

HASH_DTYPE = np.dtype(
    [
        ("t", "<u4"),  # anchor time (half frames)
        ("f", "u1"),  # anchor log-frequency (half bins)
        ("span", "u1"),  # first-to-last time gap (half frames)
        ("ratio", "u1"),  # (t2 - t1) / (t3 - t1) in 1/256
        ("d12", "i1"),  # log-frequency difference peak 2 - peak 1 (quarter bins)
        ("d13", "i1"),  # log-frequency difference peak 3 - peak 1 (quarter bins)
        ("core", "u1"),  # 1: made from the anchor's first INDEX_PARTNERS partners (indexed)
        ("order", "u1"),  # bits 0-2: l1>l2, l1>l3, l2>l3; bits 3-5: that comparison is close
    ]
)
"""One hash as stored in a fingerprint: 11 bytes, no padding."""

_MAGIC = b"IFP1"
_HEADER = struct.Struct("<4sHHfI")  # magic, version, reserved, duration (s), hash count


class FingerprintError(ValueError):
    """Bytes that are not a fingerprint of this version, or unusable input samples."""


@dataclass(frozen=True)
class Fingerprint:
    """The hashes of one recording (or excerpt) plus its duration.

    The same object is indexed and queried; queries additionally probe neighbouring keys (see
    `keys.query_ranges`), which is why the unquantised components are kept rather than the keys.
    """

    hashes: np.ndarray  # HASH_DTYPE, sorted by anchor time
    duration_s: float
    version: int = fc.FINGERPRINT_VERSION

    def __len__(self) -> int:
        return int(self.hashes.shape[0])

    def to_bytes(self) -> bytes:
        """Compact serialisation: a 16-byte header and the raw hash records."""
        header = _HEADER.pack(_MAGIC, self.version, 0, self.duration_s, len(self))
        return header + np.ascontiguousarray(self.hashes, dtype=HASH_DTYPE).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Fingerprint:
        """Inverse of `to_bytes`; refuses other versions (their hashes mean something else)."""
        if len(data) < _HEADER.size:
            raise FingerprintError("fingerprint bytes too short")
        magic, version, _, duration, count = _HEADER.unpack_from(data)
        if magic != _MAGIC:
            raise FingerprintError("not a fingerprint (bad magic)")
        if version != fc.FINGERPRINT_VERSION:
            raise FingerprintError(
                f"fingerprint version {version}, this code reads {fc.FINGERPRINT_VERSION}"
            )
        body = data[_HEADER.size :]
        if len(body) != count * HASH_DTYPE.itemsize:
            raise FingerprintError("fingerprint bytes truncated")
        hashes = np.frombuffer(body, dtype=HASH_DTYPE).copy()
        return cls(hashes=hashes, duration_s=float(duration), version=version)

    def core(self) -> np.ndarray:
        """The hashes an index stores."""
        core: np.ndarray = self.hashes[self.hashes["core"] == 1]
        return core

    def excerpt(self, start_s: float, end_s: float) -> Fingerprint:
        """The hashes whose triplet lies inside [start_s, end_s), re-timed to start at 0.

        Why: tests and benchmarks cut queries without decoding again; a hash is kept only when
        its whole span fits, as it would if the excerpt had been fingerprinted on its own.
        """
        units = fc.TIME_UNITS_PER_FRAME / fc.FRAME_S
        lo = round(start_s * units)
        hi = round(end_s * units)
        t = self.hashes["t"].astype(np.int64)
        keep = (t >= lo) & (t + self.hashes["span"] < hi)
        sub = self.hashes[keep].copy()
        sub["t"] = (t[keep] - lo).astype(np.uint32)
        return Fingerprint(hashes=sub, duration_s=max(0.0, min(end_s, self.duration_s) - start_s))


@lru_cache(maxsize=4)
def _log_filterbank() -> np.ndarray:
    """Triangular weights mapping FFT bins to log-frequency bins (FFT bins x log bins).

    Each filter is at least one FFT bin wide, so low log bins interpolate between FFT bins and
    high ones average several; columns sum to one so levels stay comparable across the axis.
    """
    n_fft_bins = fc.FFT_SIZE // 2 + 1
    fft_hz = np.arange(n_fft_bins) * (fc.FINGERPRINT_SAMPLE_RATE / fc.FFT_SIZE)
    n_log = n_log_bins()
    centres = fc.LOG_FMIN_HZ * 2.0 ** (np.arange(n_log) / fc.LOG_BINS_PER_OCTAVE)
    spacing = centres * (2.0 ** (1.0 / fc.LOG_BINS_PER_OCTAVE) - 1.0)
    half_width = np.maximum(spacing, fc.FINGERPRINT_SAMPLE_RATE / fc.FFT_SIZE)
    weights = np.maximum(0.0, 1.0 - np.abs(fft_hz[:, None] - centres[None, :]) / half_width)
    weights /= weights.sum(axis=0, keepdims=True)
    return np.asarray(weights, dtype=np.float32)


def n_log_bins() -> int:
    """Number of log-frequency bins of the analysis axis."""
    return int(fc.LOG_BINS_PER_OCTAVE * fc.LOG_OCTAVES)


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    # Normalised so that a full-scale sine gives a peak magnitude of ~0.5.
    w = np.hanning(fc.FFT_SIZE).astype(np.float32)
    return np.asarray(w / w.sum(), dtype=np.float32)


def resample_for_fingerprint(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono float32 at FINGERPRINT_SAMPLE_RATE (no copy when already there)."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise FingerprintError(f"expected mono samples (1-D), got shape {x.shape}")
    if sample_rate <= 0:
        raise FingerprintError(f"bad sample rate {sample_rate}")
    if sample_rate == fc.FINGERPRINT_SAMPLE_RATE:
        return x
    if x.size == 0:
        return x
    return np.asarray(
        soxr.resample(x, sample_rate, fc.FINGERPRINT_SAMPLE_RATE, quality="MQ"), dtype=np.float32
    )


def log_spectrogram(x: np.ndarray) -> np.ndarray:
    """Natural-log magnitude on the log-frequency axis (frames x log bins), float32."""
    if x.size < fc.FFT_SIZE:
        x = np.pad(x, (0, fc.FFT_SIZE - x.size))
    n_frames = 1 + (x.size - fc.FFT_SIZE) // fc.HOP_SIZE
    frames = np.lib.stride_tricks.as_strided(
        x, shape=(n_frames, fc.FFT_SIZE), strides=(x.strides[0] * fc.HOP_SIZE, x.strides[0])
    )
    spec = np.abs(scipy.fft.rfft(frames * _window(), axis=1))
    log_spec: np.ndarray = np.log(spec @ _log_filterbank() + np.float32(fc.LOG_FLOOR))
    return log_spec


def find_peaks(logspec: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local maxima, rationed per time block; returns sub-frame times, sub-bin freqs, levels.

    Sorted by time. Parabolic interpolation gives fractional positions so that the ratio and
    difference components survive the small shifts a tempo or pitch change causes.
    """
    n_t = logspec.shape[0]
    if n_t < 3:
        empty = np.zeros(0, dtype=np.float32)
        return empty, empty, empty
    local = maximum_filter(
        logspec, size=(fc.PEAK_NEIGHBOURHOOD_FRAMES, fc.PEAK_NEIGHBOURHOOD_BINS), mode="nearest"
    )
    floor = max(
        float(np.percentile(logspec, 99.0)) - fc.PEAK_MIN_LEVEL_BELOW_MAX,
        float(np.log(fc.PEAK_ABSOLUTE_FLOOR)),
    )
    is_peak = (logspec == local) & (logspec > floor)
    # Edges cannot be interpolated.
    is_peak[0, :] = is_peak[-1, :] = False
    is_peak[:, 0] = is_peak[:, -1] = False
    ti, fi = np.nonzero(is_peak)
    level = logspec[ti, fi]
    block = ti // fc.PEAK_BLOCK_FRAMES
    order = np.lexsort((-level, block))
    block_sorted = block[order]
    starts = np.searchsorted(block_sorted, block_sorted, side="left")
    rank = np.arange(order.size) - starts
    keep = np.sort(order[rank < fc.PEAKS_PER_BLOCK])  # back to (time, freq) order
    ti, fi, level = ti[keep], fi[keep], level[keep]
    dt = _parabolic(logspec[ti - 1, fi], level, logspec[ti + 1, fi])
    df = _parabolic(logspec[ti, fi - 1], level, logspec[ti, fi + 1])
    return (ti + dt).astype(np.float32), (fi + df).astype(np.float32), level


def _parabolic(left: np.ndarray, centre: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Offset (-0.5..0.5) of the vertex of the parabola through three equally spaced points."""
    denom = left - 2.0 * centre + right
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(denom < 0, 0.5 * (left - right) / denom, 0.0)
    return np.clip(off, -0.5, 0.5)


def triplets(
    t: np.ndarray, f: np.ndarray, partners: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Index triples (anchor, second, third) of peaks, in time order within each triple, and
    whether each is a core triplet (both partners among the first INDEX_PARTNERS).

    Each anchor takes its first `partners` valid successors in time (a rule that a time scaling
    or pitch shift does not change) and makes a triplet of every pair of them.
    """
    n = t.size
    if n < 3:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, np.zeros(0, dtype=bool)
    look = np.arange(1, fc.TRIPLET_LOOKAHEAD + 1)
    cand = np.arange(n)[:, None] + look[None, :]
    inside = cand < n
    cand = np.minimum(cand, n - 1)
    gap = t[cand] - t[:, None]
    valid = (
        inside
        & (gap >= fc.TRIPLET_MIN_DT_FRAMES)
        & (gap <= fc.TRIPLET_MAX_SPAN_FRAMES)
        & (np.abs(f[cand] - f[:, None]) <= fc.TRIPLET_MAX_DF_BINS)
    )
    # The first `partners` valid candidates of each row (stable sort keeps time order).
    order = np.argsort(~valid, axis=1, kind="stable")[:, :partners]
    chosen = np.take_along_axis(cand, order, axis=1)
    chosen_ok = np.take_along_axis(valid, order, axis=1)
    a_idx, b_idx = np.triu_indices(partners, k=1)
    first = np.repeat(np.arange(n), a_idx.size)
    second = chosen[:, a_idx].ravel()
    third = chosen[:, b_idx].ravel()
    ok = (chosen_ok[:, a_idx] & chosen_ok[:, b_idx]).ravel()
    ok &= (t[third] - t[second]) >= fc.TRIPLET_MIN_DT_FRAMES
    core = np.tile(b_idx < fc.INDEX_PARTNERS, n)
    return first[ok], second[ok], third[ok], core[ok]


def extract(samples: np.ndarray, sample_rate: int) -> Fingerprint:
    """Fingerprint mono float samples at any rate (resampled to FINGERPRINT_SAMPLE_RATE).

    One fingerprint serves both uses: an index stores only its core hashes (few per anchor, to
    stay small), a query probes all of them (QUERY_PARTNERS per anchor), which raises the chance
    that a distorted query still contains the reference's triplets.
    """
    x = resample_for_fingerprint(samples, sample_rate)
    duration = x.size / fc.FINGERPRINT_SAMPLE_RATE
    t, f, level = find_peaks(log_spectrogram(x))
    i1, i2, i3, core = triplets(t, f, fc.QUERY_PARTNERS)
    hashes = np.empty(i1.size, dtype=HASH_DTYPE)
    span = t[i3] - t[i1]
    hashes["t"] = np.round(t[i1] * fc.TIME_UNITS_PER_FRAME).astype(np.uint32)
    hashes["f"] = np.clip(np.round(f[i1] * fc.FREQ_UNITS_PER_BIN), 0, 255).astype(np.uint8)
    hashes["span"] = np.clip(np.round(span * fc.TIME_UNITS_PER_FRAME), 1, 255).astype(np.uint8)
    ratio = (t[i2] - t[i1]) / span
    hashes["ratio"] = np.clip(np.floor(ratio * fc.RATIO_UNITS), 0, fc.RATIO_UNITS - 1).astype(
        np.uint8
    )
    for name, other in (("d12", i2), ("d13", i3)):
        diff = (f[other] - f[i1]) * fc.DF_UNITS_PER_BIN
        hashes[name] = np.clip(np.round(diff), -127, 127).astype(np.int8)
    hashes["core"] = core
    order = np.zeros(i1.size, dtype=np.uint8)
    for bit, (a, b) in enumerate(((i1, i2), (i1, i3), (i2, i3))):
        diff = level[a] - level[b]
        order |= ((diff > 0).astype(np.uint8) << bit) | (
            (np.abs(diff) < fc.ORDER_CLOSE_NATS).astype(np.uint8) << (bit + 3)
        )
    hashes["order"] = order
    return Fingerprint(hashes=hashes, duration_s=float(duration))
