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
        ("core", "u1"),  # 1: indexed (reference peaks, INDEX_PARTNERS); 0: query extra; 2+: view
        ("order", "u1"),  # bits 0-2: l1>l2, l1>l3, l2>l3; bits 3-5: that comparison is close
    ]
)
"""One hash as stored in a fingerprint: 11 bytes, no padding."""

SPECTROGRAM_BLOCK_FRAMES = 4096
"""Spectrogram frames computed or peak-filtered at a time (frames; ~66 s of audio): bounds the
work arrays to ~17 MB whatever the file's length."""

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

    hashes: np.ndarray  # HASH_DTYPE: the reference view's by anchor time, then each query view's
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
        factor = view_time_factors(self.hashes["core"])  # a view's times are its own
        lo = np.round(start_s * units * factor).astype(np.int64)
        hi = np.round(end_s * units * factor).astype(np.int64)
        t = self.hashes["t"].astype(np.int64)
        keep = (t >= lo) & (t + self.hashes["span"] < hi)
        sub = self.hashes[keep].copy()
        sub["t"] = (t[keep] - lo[keep]).astype(np.uint32)
        return Fingerprint(hashes=sub, duration_s=max(0.0, min(end_s, self.duration_s) - start_s))


def view_time_factors(core: np.ndarray) -> np.ndarray:
    """Time factor of each hash's view (1.0 for the reference view; see QUERY_VIEWS)."""
    table = np.array([1.0, 1.0, *(factor for factor, _ in fc.QUERY_VIEWS)])
    return table[np.minimum(core.astype(np.int64), table.size - 1)]


@lru_cache(maxsize=8)
def _log_filterbank(shift_bins: int = 0) -> np.ndarray:
    """Triangular weights mapping FFT bins to log-frequency bins (FFT bins x log bins), the band
    lowered by shift_bins log bins (a query view; 0 for the reference analysis).

    Each filter is at least one FFT bin wide, so low log bins interpolate between FFT bins and
    high ones average several; columns sum to one so levels stay comparable across the axis.
    """
    n_fft_bins = fc.FFT_SIZE // 2 + 1
    fft_hz = np.arange(n_fft_bins) * (fc.FINGERPRINT_SAMPLE_RATE / fc.FFT_SIZE)
    n_log = n_log_bins()
    centres = fc.LOG_FMIN_HZ * 2.0 ** ((np.arange(n_log) - shift_bins) / fc.LOG_BINS_PER_OCTAVE)
    if centres[-1] >= fc.FINGERPRINT_SAMPLE_RATE / 2:
        raise FingerprintError(f"a band shift of {shift_bins} bins passes the Nyquist frequency")
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
    return log_spectrograms(x, (0,))[0]


def view_shifts() -> tuple[int, ...]:
    """The band shifts the query views need besides the reference band (log bins)."""
    return tuple(sorted({shift for _, shift in fc.QUERY_VIEWS} - {0}))


def log_spectrograms(
    x: np.ndarray, shifts: tuple[int, ...], *, shifted_frames: int | None = None
) -> list[np.ndarray]:
    """`log_spectrogram` for each band shift in `shifts` (log bins), from one STFT; a nonzero
    shift covers only the first `shifted_frames` frames (all when None).

    Computed SPECTROGRAM_BLOCK_FRAMES frames at a time: the windowed frames of a whole
    four-hour file at once would need 8x its samples again (3.7 GB at 8 kHz).
    """
    if x.size < fc.FFT_SIZE:
        x = np.pad(x, (0, fc.FFT_SIZE - x.size))
    n_frames = 1 + (x.size - fc.FFT_SIZE) // fc.HOP_SIZE
    limit = n_frames if shifted_frames is None else max(0, min(n_frames, shifted_frames))
    sizes = [n_frames if shift == 0 else limit for shift in shifts]
    outs = [np.empty((size, n_log_bins()), dtype=np.float32) for size in sizes]
    for first in range(0, n_frames, SPECTROGRAM_BLOCK_FRAMES):
        count = min(SPECTROGRAM_BLOCK_FRAMES, n_frames - first)
        wanted = tuple(shift for shift, size in zip(shifts, sizes, strict=True) if size > first)
        rows = dict(zip(wanted, _log_frames(x[first * fc.HOP_SIZE :], count, wanted), strict=True))
        for shift, out in zip(shifts, outs, strict=True):
            if shift in rows:
                out[first : first + count] = rows[shift][: out.shape[0] - first]
    return outs


def _log_frames(x: np.ndarray, count: int, shifts: tuple[int, ...]) -> list[np.ndarray]:
    """The log spectrum of the first `count` frames of `x` (which holds their samples), once per
    band shift."""
    frames = np.lib.stride_tricks.as_strided(
        x, shape=(count, fc.FFT_SIZE), strides=(x.strides[0] * fc.HOP_SIZE, x.strides[0])
    )
    spec = np.abs(scipy.fft.rfft(frames * _window(), axis=1))
    floor = np.float32(fc.LOG_FLOOR)
    return [np.log(spec @ _log_filterbank(shift) + floor) for shift in shifts]


class FingerprintStream:
    """`extract` fed in chunks at any rate: only the log spectrogram is kept, never the samples.

    Why: a four-hour file at 48 kHz held whole, resampled and framed needed ~17x its decoded
    size. What this keeps grows by 62.5 spectrogram frames of n_log_bins() float32 per second
    of audio (~25 KB/s), plus one chunk; `finish` briefly needs a second copy for the
    percentile (~50 KB/s at the peak). The streaming resampler gives the very samples a
    whole-signal libsoxr resample of the same quality gives, so the hashes are the same too.
    """

    def __init__(self, sample_rate: int, *, quality: str = "HQ") -> None:
        if sample_rate <= 0:
            raise FingerprintError(f"bad sample rate {sample_rate}")
        self._resampler: soxr.ResampleStream | None = None
        if sample_rate != fc.FINGERPRINT_SAMPLE_RATE:
            self._resampler = soxr.ResampleStream(
                sample_rate, fc.FINGERPRINT_SAMPLE_RATE, 1, dtype="float32", quality=quality
            )
        self._pending = np.zeros(0, dtype=np.float32)  # samples from the next frame's start
        self._shifts = (0, *view_shifts())
        self._rows: dict[int, list[np.ndarray]] = {shift: [] for shift in self._shifts}
        self._frames = 0
        self._total = 0

    def feed(self, chunk: np.ndarray) -> None:
        """Take the next mono float32 samples (the chunk is not kept)."""
        chunk = np.asarray(chunk, dtype=np.float32)
        if self._resampler is not None:
            chunk = self._resampler.resample_chunk(chunk)
        self._take(chunk)

    def _take(self, y: np.ndarray, *, last: bool = False) -> None:
        """Turn whole blocks of SPECTROGRAM_BLOCK_FRAMES frames into rows (all at the end).

        Blocks start where `log_spectrogram` starts its own, so each row comes out of a matrix
        product of the same shape, hence the same rounding, as in a whole-array call.
        """
        self._total += y.size
        data = np.concatenate((self._pending, y)) if self._pending.size else y
        block_samples = (SPECTROGRAM_BLOCK_FRAMES - 1) * fc.HOP_SIZE + fc.FFT_SIZE
        whole = (
            0
            if data.size < block_samples
            else 1 + (data.size - block_samples) // (SPECTROGRAM_BLOCK_FRAMES * fc.HOP_SIZE)
        )
        count = whole * SPECTROGRAM_BLOCK_FRAMES
        if last and data.size >= fc.FFT_SIZE:
            count = 1 + (data.size - fc.FFT_SIZE) // fc.HOP_SIZE
        if count:
            specs = log_spectrograms(
                data[: (count - 1) * fc.HOP_SIZE + fc.FFT_SIZE],
                self._shifts,
                shifted_frames=_view_frames() - self._frames,
            )
            for shift, rows in zip(self._shifts, specs, strict=True):
                if rows.shape[0]:
                    self._rows[shift].append(rows)
            self._frames += count
        self._pending = data[count * fc.HOP_SIZE :].copy()

    def finish(self) -> Fingerprint:
        """The fingerprint of everything fed."""
        tail = np.zeros(0, dtype=np.float32)
        if self._resampler is not None:
            tail = self._resampler.resample_chunk(tail, last=True)
            self._resampler = None
        self._take(tail, last=True)
        if self._rows[0]:
            specs = {
                shift: np.concatenate(rows) if len(rows) != 1 else rows[0]
                for shift, rows in self._rows.items()
            }
        else:
            made = log_spectrograms(self._pending, self._shifts, shifted_frames=_view_frames())
            specs = dict(zip(self._shifts, made, strict=True))
        self._rows = {shift: [] for shift in self._shifts}
        return _fingerprint(specs, self._total / fc.FINGERPRINT_SAMPLE_RATE)


PeakSet = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""Sub-frame times, sub-bin freqs, levels and integer cells (frame * bins + bin) of peaks."""


def find_peaks(
    logspec: np.ndarray,
    *,
    neighbourhood_frames: int = fc.PEAK_NEIGHBOURHOOD_FRAMES,
    neighbourhood_bins: int = fc.PEAK_NEIGHBOURHOOD_BINS,
    per_block: int = fc.PEAKS_PER_BLOCK,
) -> PeakSet:
    """Local maxima, rationed per time block; returns sub-frame times, sub-bin freqs, levels
    and the integer cell (frame * bins + bin) of each peak.

    Sorted by time. Parabolic interpolation gives fractional positions so that the ratio and
    difference components survive the small shifts a tempo or pitch change causes. The cells
    let a caller merge two peak sets (a query's denser set contains the reference's).
    """
    return find_peak_sets(logspec, ((neighbourhood_frames, neighbourhood_bins, per_block),))[0]


def find_peak_sets(
    logspec: np.ndarray, sets: tuple[tuple[int, int, int], ...]
) -> list[PeakSet]:
    """`find_peaks` for several (neighbourhood frames, neighbourhood bins, per block) at once.

    Why together: the level floor is one percentile of the spectrogram, and a wider local
    maximum follows exactly from a narrower one by two shifted maxima per axis (see
    `_local_maxima`), so the costly filter runs once for the reference and the query peaks.
    """
    n_t, n_f = logspec.shape
    if n_t < 3:
        empty = np.zeros(0, dtype=np.float32)
        return [(empty, empty, empty, np.zeros(0, dtype=np.int64)) for _ in sets]
    floor = max(
        float(np.percentile(logspec, 99.0)) - fc.PEAK_MIN_LEVEL_BELOW_MAX,
        float(np.log(fc.PEAK_ABSOLUTE_FLOOR)),
    )
    sizes = [(frames, bins) for frames, bins, _ in sets]
    # The local-maximum filter runs on blocks of frames with enough overlap that every frame
    # sees its whole neighbourhood: the same peaks as one pass, without a second full array.
    reach = max(frames for frames, _ in sizes) // 2
    found: list[tuple[list[np.ndarray], list[np.ndarray]]] = [([], []) for _ in sets]
    for first in range(0, n_t, SPECTROGRAM_BLOCK_FRAMES):
        stop = min(n_t, first + SPECTROGRAM_BLOCK_FRAMES)
        lo, hi = max(0, first - reach), min(n_t, stop + reach)
        part = logspec[first:stop]
        for (times, freqs), local in zip(found, _local_maxima(logspec[lo:hi], sizes), strict=True):
            is_peak = (part == local[first - lo : stop - lo]) & (part > floor)
            # Edges cannot be interpolated.
            if first == 0:
                is_peak[0, :] = False
            if stop == n_t:
                is_peak[-1, :] = False
            is_peak[:, 0] = is_peak[:, -1] = False
            block_t, block_f = np.nonzero(is_peak)
            times.append(block_t + first)
            freqs.append(block_f)
    out = []
    for (times, freqs), (_, _, per_block) in zip(found, sets, strict=True):
        ti, fi = np.concatenate(times), np.concatenate(freqs)
        level = logspec[ti, fi]
        block = ti // fc.PEAK_BLOCK_FRAMES
        order = np.lexsort((-level, block))
        block_sorted = block[order]
        starts = np.searchsorted(block_sorted, block_sorted, side="left")
        rank = np.arange(order.size) - starts
        keep = np.sort(order[rank < per_block])  # back to (time, freq) order
        ti, fi, level = ti[keep], fi[keep], level[keep]
        dt = _parabolic(logspec[ti - 1, fi], level, logspec[ti + 1, fi])
        df = _parabolic(logspec[ti, fi - 1], level, logspec[ti, fi + 1])
        cell = ti.astype(np.int64) * n_f + fi
        out.append(((ti + dt).astype(np.float32), (fi + df).astype(np.float32), level, cell))
    return out


def _local_maxima(x: np.ndarray, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
    """maximum_filter(x, size, mode="nearest") for each (frames, bins) size, exactly.

    The smallest size is filtered; a size that exceeds it by 2d on an axis (d at most its half
    width, so the two windows still meet) is the larger of two copies of it shifted by d either
    way, clipped at the ends, which is what "nearest" does for a maximum. Other sizes are
    filtered on their own.
    """
    base_size = min(sizes)
    base = maximum_filter(x, size=base_size, mode="nearest")
    out = []
    for size in sizes:
        steps = [divmod(size[axis] - base_size[axis], 2) for axis in (0, 1)]
        reachable = [
            not odd and 0 <= d <= base_size[axis] // 2 for axis, (d, odd) in enumerate(steps)
        ]
        if not all(reachable):
            out.append(maximum_filter(x, size=size, mode="nearest"))
            continue
        grown: np.ndarray = base
        for axis, (d, _) in enumerate(steps):
            if d:
                idx = np.arange(grown.shape[axis])
                below = np.take(grown, np.maximum(idx - d, 0), axis=axis)
                above = np.take(grown, np.minimum(idx + d, idx.size - 1), axis=axis)
                grown = np.maximum(below, above)
        out.append(grown)
    return out


def _parabolic(left: np.ndarray, centre: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Offset (-0.5..0.5) of the vertex of the parabola through three equally spaced points."""
    denom = left - 2.0 * centre + right
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(denom < 0, 0.5 * (left - right) / denom, 0.0)
    return np.clip(off, -0.5, 0.5)


def triplets(
    t: np.ndarray,
    f: np.ndarray,
    partners: int,
    *,
    min_dt_frames: float = fc.TRIPLET_MIN_DT_FRAMES,
    max_span_frames: float = fc.TRIPLET_MAX_SPAN_FRAMES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index triples (anchor, second, third) of peaks, in time order within each triple.

    Each anchor takes its first `partners` valid successors in time (a rule that a time scaling
    or pitch shift does not change) and makes a triplet of every pair of them.
    """
    n = t.size
    if n < 3:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    look = np.arange(1, fc.TRIPLET_LOOKAHEAD + 1)
    cand = np.arange(n)[:, None] + look[None, :]
    inside = cand < n
    cand = np.minimum(cand, n - 1)
    gap = t[cand] - t[:, None]
    valid = (
        inside
        & (gap >= min_dt_frames)
        & (gap <= max_span_frames)
        & (np.abs(f[cand] - f[:, None]) <= fc.TRIPLET_MAX_DF_BINS)
    )
    # The first `partners` valid candidates of each row (stable sort keeps time order).
    order = np.argsort(~valid, axis=1, kind="stable")[:, :partners]
    chosen = np.take_along_axis(cand, order, axis=1)
    chosen_ok = np.take_along_axis(valid, order, axis=1)
    a_idx, b_idx = np.triu_indices(chosen.shape[1], k=1)
    first = np.repeat(np.arange(n), a_idx.size)
    second = chosen[:, a_idx].ravel()
    third = chosen[:, b_idx].ravel()
    ok = (chosen_ok[:, a_idx] & chosen_ok[:, b_idx]).ravel()
    ok &= (t[third] - t[second]) >= min_dt_frames
    return first[ok], second[ok], third[ok]


def extract(samples: np.ndarray, sample_rate: int) -> Fingerprint:
    """Fingerprint mono float samples at any rate (resampled to FINGERPRINT_SAMPLE_RATE).

    One fingerprint serves both uses: an index stores only its core hashes (INDEX_PARTNERS per
    anchor on the sparse reference peaks, to stay small); a query probes those and the extra
    hashes of a denser peak set with more partners and looser time limits, which raises the
    chance that a pitch-, tempo- or speed-changed query still contains the reference's triplets.
    """
    x = resample_for_fingerprint(samples, sample_rate)
    shifts = (0, *view_shifts())
    specs = log_spectrograms(x, shifts, shifted_frames=_view_frames())
    return _fingerprint(dict(zip(shifts, specs, strict=True)), x.size / fc.FINGERPRINT_SAMPLE_RATE)


def _view_frames() -> int:
    """Frames the query views cover (see QUERY_VIEW_MAX_S)."""
    return int(fc.QUERY_VIEW_MAX_S / fc.FRAME_S)


def _fingerprint(specs: dict[int, np.ndarray], duration: float) -> Fingerprint:
    """The reference view's hashes (core and query extras), then each query view's.

    A view's hashes keep its own times (view frames = time factor x query frames) and its own
    log-frequency axis; the matcher maps its alignments back (see QUERY_VIEWS).
    """
    base = _from_logspec(specs[0], duration)
    parts = [base.hashes]
    for i, (factor, shift) in enumerate(fc.QUERY_VIEWS):
        spec = specs[shift][: _view_frames()]
        if spec.shape[0] < 3:
            continue
        view = _from_logspec(_warp_time(spec, factor), 0.0).hashes
        view["core"] = fc.QUERY_VIEW_CORE_BASE + i
        parts.append(view)
    return Fingerprint(hashes=np.concatenate(parts), duration_s=base.duration_s)


def _warp_time(spec: np.ndarray, factor: float) -> np.ndarray:
    """The spectrogram as if played `factor` times as long (linear interpolation of frames)."""
    if factor == 1.0:
        return spec
    n = spec.shape[0]
    pos = np.arange(max(3, round(n * factor))) / factor
    i0 = np.minimum(np.floor(pos).astype(np.int64), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    w = (pos - i0)[:, None].astype(np.float32)
    warped: np.ndarray = (spec[i0] * (1.0 - w) + spec[i1] * w).astype(np.float32)
    return warped


def _from_logspec(logspec: np.ndarray, duration: float) -> Fingerprint:
    """Peaks, triplets and hashes of a log spectrogram: core hashes, then the query extras."""
    (t, f, level, cell), (qt, qf, qlevel, qcell) = find_peak_sets(
        logspec,
        (
            (fc.PEAK_NEIGHBOURHOOD_FRAMES, fc.PEAK_NEIGHBOURHOOD_BINS, fc.PEAKS_PER_BLOCK),
            (
                fc.QUERY_PEAK_NEIGHBOURHOOD_FRAMES,
                fc.QUERY_PEAK_NEIGHBOURHOOD_BINS,
                fc.QUERY_PEAKS_PER_BLOCK,
            ),
        ),
    )
    c1, c2, c3 = triplets(t, f, fc.INDEX_PARTNERS)
    # The query's peaks: the reference peaks and the denser set, merged in (time, freq) order.
    extra = ~np.isin(qcell, cell)
    u_cell = np.concatenate([cell, qcell[extra]])
    order = np.argsort(u_cell, kind="stable")
    ut = np.concatenate([t, qt[extra]])[order]
    uf = np.concatenate([f, qf[extra]])[order]
    ulevel = np.concatenate([level, qlevel[extra]])[order]
    q1, q2, q3 = triplets(
        ut,
        uf,
        fc.QUERY_PARTNERS,
        min_dt_frames=fc.QUERY_TRIPLET_MIN_DT_FRAMES,
        max_span_frames=fc.QUERY_TRIPLET_MAX_SPAN_FRAMES,
    )
    # Query triplets that repeat a core one (same three peaks) would count its hits twice.
    position = np.empty(order.size, dtype=np.int64)
    position[order] = np.arange(order.size)
    core_ids = _triplet_ids(position[c1], position[c2], position[c3], order.size)
    new = ~np.isin(_triplet_ids(q1, q2, q3, order.size), core_ids)
    core = _hashes(t, f, level, c1, c2, c3, core=1)
    query = _hashes(ut, uf, ulevel, q1[new], q2[new], q3[new], core=0)
    hashes = np.concatenate([core, query])
    hashes = hashes[np.argsort(hashes["t"], kind="stable")]
    return Fingerprint(hashes=hashes, duration_s=float(duration))


def _triplet_ids(i1: np.ndarray, i2: np.ndarray, i3: np.ndarray, n: int) -> np.ndarray:
    """One integer per triplet of peak indices below n."""
    ids: np.ndarray = (i1.astype(np.int64) * n + i2) * n + i3
    return ids


def _hashes(
    t: np.ndarray,
    f: np.ndarray,
    level: np.ndarray,
    i1: np.ndarray,
    i2: np.ndarray,
    i3: np.ndarray,
    *,
    core: int,
) -> np.ndarray:
    """Hash records of the triplets (i1, i2, i3) of peaks (t, f, level)."""
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
    return hashes
