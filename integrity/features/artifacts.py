"""Decoder-artifact and bandwidth features from the long-FFT average spectrum.

Physics: a decoder that upsamples with transposed convolutions (or any stride-s interpolation
with a bias / non-linearity) imprints a pattern that repeats every s output samples, i.e. narrow
spectral lines at multiples of fs/s. Averaging a long FFT over the track and removing the lower
envelope leaves those lines as a residual. Fixed bins find them where they are expected;
pitch-shift moves them (x1.029 for +50 cents), so there are also shift-invariant measures: the
comb period/prominence from the residual's autocorrelation and cepstrum, narrow peaks stable
across segments, expected positions searched over small resampling factors (+-60 cents), and a
resample-invariant stride-grid search: on a log-frequency copy of the residual a resampling is a
shift, so the grid of every stride product is searched over +-10 % of every generator rate.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.ndimage
import scipy.signal

from integrity.features import constants as c

BIN_HZ = c.FULL_BAND_RATE_HZ / c.LONG_FFT_SAMPLES
COMB_DETREND_BINS = max(3, round(c.COMB_DETREND_HZ / BIN_HZ) | 1)


def _fixed_bins() -> list[tuple[float, float]]:
    edges = np.arange(c.ARTIFACT_MIN_HZ + 200.0, c.ARTIFACT_MAX_HZ + 1.0, c.ARTIFACT_BIN_HZ)
    return [(float(lo), float(hi)) for lo, hi in itertools.pairwise(edges)]


FIXED_BINS = _fixed_bins()


def artifact_feature_names() -> tuple[str, ...]:
    names = [f"art.bin_{int(lo)}_{int(hi)}hz" for lo, hi in FIXED_BINS]
    for fs in c.GENERATOR_RATES_HZ:
        for stride in c.STRIDE_PRODUCTS:
            names.append(f"art.grid_{int(fs)}_s{stride}")
    for fs in c.GENERATOR_RATES_HZ:
        names += [f"art.fs4_{int(fs)}", f"art.fs8_{int(fs)}"]
    for stride in c.STRIDE_PRODUCTS:
        names += [f"art.rgrid_s{stride}", f"art.rgrid_s{stride}_contrast"]
    names += [
        "art.comb_period_hz",
        "art.comb_strength",
        "art.comb_prominence",
        "art.cepstral_prominence",
        "art.comb_mean_db",
        "art.peaks_per_khz",
        "art.top_peak_db",
        "art.stable_fraction",
        "art.stable_high_per_khz",
        "art.residual_std_db",
    ]
    names += [
        "bw.cutoff_hz",
        "bw.cutoff_sharpness_db",
        "bw.high_band_db",
        "bw.rolloff99_hz",
        "bw.floor_flatness",
    ]
    return tuple(names)


ARTIFACT_FEATURES = artifact_feature_names()


def _db(power: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(power + c.LOG_EPS)


def residual(db: np.ndarray) -> np.ndarray:
    """Spectrum minus its lower envelope (running minimum, then smoothed), in dB."""
    width = max(3, round(c.ENVELOPE_WIDTH_HZ / BIN_HZ))
    floor = scipy.ndimage.minimum_filter1d(db, width, axis=-1, mode="nearest")
    envelope = scipy.ndimage.uniform_filter1d(floor, width, axis=-1, mode="nearest")
    out: np.ndarray = db - envelope
    return out


@lru_cache(maxsize=1)
def _scales() -> np.ndarray:
    cents = np.arange(-c.SCALE_SEARCH_CENTS, c.SCALE_SEARCH_CENTS + 1e-9, c.SCALE_STEP_CENTS)
    return 2.0 ** (cents / 1200.0)


def _peak_near(res: np.ndarray, positions_hz: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Max residual within +-PEAK_TOLERANCE_BINS of each position (NaN outside [lo, hi))."""
    idx = np.rint(positions_hz / BIN_HZ).astype(int)
    offsets = np.arange(-c.PEAK_TOLERANCE_BINS, c.PEAK_TOLERANCE_BINS + 1)
    window = idx[..., None] + offsets
    inside = (idx >= lo) & (idx < hi)
    vals = res[np.clip(window, 0, res.size - 1)].max(axis=-1)
    return np.where(inside, vals, np.nan)


def _grid_score(res: np.ndarray, base_hz: float, lo: int, hi: int, floor: float) -> float:
    """Mean prominence at multiples of base_hz, best over the small resampling factors."""
    top = hi * BIN_HZ
    k = np.arange(1, int(top / (base_hz * _scales()[0])) + 1, dtype=np.float64)
    if k.size == 0:
        return float("nan")
    positions = _scales()[:, None] * base_hz * k[None, :]
    vals = _peak_near(res, positions, lo, hi)
    counts = np.sum(~np.isnan(vals), axis=1)
    if not np.any(counts):
        return float("nan")
    means = np.where(counts > 0, np.nansum(vals, axis=1) / np.maximum(counts, 1), -np.inf)
    return float(np.max(means) - floor)


def _single_score(res: np.ndarray, freq_hz: float, lo: int, hi: int, floor: float) -> float:
    vals = _peak_near(res, _scales() * freq_hz, lo, hi)
    if np.all(np.isnan(vals)):
        return float("nan")
    return float(np.nanmax(vals) - floor)


CELLS_PER_OCTAVE = 1200.0 / c.RESAMPLE_STEP_CENTS


def _log_residual(res: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """The residual on a log-frequency grid (RESAMPLE_STEP_CENTS per cell) from bin lo to hi,
    each cell the largest value within PEAK_TOLERANCE_BINS of its frequency: a resampling by a
    factor is then a shift by a whole number of cells, the same at every harmonic."""
    dilated = scipy.ndimage.maximum_filter1d(res, 2 * c.PEAK_TOLERANCE_BINS + 1, mode="nearest")
    cells = int(np.log2(hi / lo) * CELLS_PER_OCTAVE)
    freqs_bins = lo * 2.0 ** (np.arange(cells) / CELLS_PER_OCTAVE)
    out: np.ndarray = dilated[np.clip(np.rint(freqs_bins).astype(int), 0, res.size - 1)]
    return out


def resample_invariant_grid(
    log_res: np.ndarray, lo: int, stride: int, floor: float
) -> tuple[float, float]:
    """(best, contrast) of the comb at multiples of fs / stride, fs any generator rate, searched
    over every resampling factor within +-RESAMPLE_SEARCH: best is the largest mean residual (dB
    above the band's median) at the first RESAMPLE_MAX_HARMONICS multiples that fall in the band,
    contrast how far it stands above the median over all searched bases (a real decoder grid
    stands out at one factor; a busy spectrum scores alike everywhere)."""
    base_lo = lo * BIN_HZ
    span = np.log2(1.0 + c.RESAMPLE_SEARCH) * CELLS_PER_OCTAVE
    starts = []
    for fs in c.GENERATOR_RATES_HZ:
        centre = np.log2(fs / stride / base_lo) * CELLS_PER_OCTAVE
        starts.append(np.arange(np.floor(centre - span), np.ceil(centre + span) + 1))
    bases = np.unique(np.concatenate(starts)).astype(int)
    bases = bases[(bases >= 0) & (bases < log_res.size)]
    if bases.size == 0:
        return float("nan"), float("nan")
    k = np.arange(1, c.RESAMPLE_MAX_HARMONICS + 1)
    offsets = np.rint(np.log2(k) * CELLS_PER_OCTAVE).astype(int)
    idx = bases[:, None] + offsets[None, :]
    inside = idx < log_res.size
    vals = np.where(inside, log_res[np.minimum(idx, log_res.size - 1)], 0.0)
    counts = inside.sum(axis=1)
    means = vals.sum(axis=1) / np.maximum(counts, 1) - floor
    best = float(np.max(means))
    return best, float(best - np.median(means))


def _bandwidth(db: np.ndarray, power: np.ndarray) -> tuple[list[float], float]:
    freqs = np.arange(db.size) * BIN_HZ
    smooth = scipy.ndimage.uniform_filter1d(
        db, max(3, round(c.CUTOFF_SMOOTH_HZ / BIN_HZ)), mode="nearest"
    )
    ref_lo, ref_hi = c.CUTOFF_REFERENCE_BAND_HZ
    reference = float(np.median(smooth[(freqs >= ref_lo) & (freqs < ref_hi)]))
    above = np.nonzero(smooth > reference - c.CUTOFF_DROP_DB)[0]
    cutoff_idx = int(above[-1]) if above.size else 0
    cutoff_hz = float(freqs[cutoff_idx])
    span = round(c.CUTOFF_SLOPE_SPAN_HZ / BIN_HZ)
    below = smooth[max(cutoff_idx - span, 0)]
    after = smooth[min(cutoff_idx + span, db.size - 1)]
    total = float(power.sum()) + c.LOG_EPS
    high = float(power[freqs >= c.HIGH_BAND_HZ].sum())
    cum = np.cumsum(power) / total
    roll99 = float(freqs[min(int(np.searchsorted(cum, c.ROLLOFF_HIGH)), db.size - 1)])
    band = (freqs >= c.ARTIFACT_MIN_HZ) & (freqs < min(cutoff_hz, c.ARTIFACT_MAX_HZ))
    seg = power[band] if np.any(band) else power
    flatness = float(np.exp(np.mean(np.log(seg + c.LOG_EPS))) / (np.mean(seg) + c.LOG_EPS))
    values = [
        cutoff_hz,
        float(below - after),
        10.0 * np.log10(high / total + c.LOG_EPS),
        roll99,
        flatness,
    ]
    return values, cutoff_hz


@dataclass(frozen=True)
class ArtifactBand:
    """What the artifact features read from the average long-FFT spectrum: the residual, the
    band it is analysed over and the narrow peaks found there."""

    residual_db: np.ndarray  # the average spectrum minus its lower envelope, every bin
    lo: int  # the analysed band is bins [lo, hi): ARTIFACT_MIN_HZ up to the top below
    hi: int  # ARTIFACT_MAX_HZ or CUTOFF_GUARD_HZ below the cut-off, whichever is lower
    bandwidth: list[float]  # the bw.* feature values (the cut-off first)
    peaks: np.ndarray  # narrow peaks, as bin offsets from lo, in frequency order
    prominences: np.ndarray  # their prominence above the residual around them (dB)

    @property
    def analysed(self) -> bool:
        """Whether the band is wide enough to read artifacts in (else peaks are empty)."""
        return self.hi - self.lo >= c.ARTIFACT_MIN_BAND_BINS

    @property
    def band_db(self) -> np.ndarray:
        """The residual over the analysed band."""
        return self.residual_db[self.lo : self.hi]

    @property
    def freqs_hz(self) -> np.ndarray:
        """Bin centres of the analysed band."""
        return (self.lo + np.arange(self.hi - self.lo)) * BIN_HZ

    def strongest(self, count: int = c.TOP_PEAKS) -> np.ndarray:
        """Indices into `peaks` of the `count` most prominent, strongest first."""
        order: np.ndarray = np.argsort(self.prominences)[::-1][:count]
        return order


def artifact_band(long_power: np.ndarray) -> ArtifactBand:
    """The residual, analysed band and narrow peaks of long-FFT power spectra (M, K)."""
    mean_power = long_power.mean(axis=0)
    db = _db(mean_power)
    bw_values, cutoff_hz = _bandwidth(db, mean_power)
    res = residual(db)
    lo = int(np.ceil(c.ARTIFACT_MIN_HZ / BIN_HZ))
    top_hz = min(c.ARTIFACT_MAX_HZ, cutoff_hz - c.CUTOFF_GUARD_HZ)
    hi = int(top_hz / BIN_HZ)
    peaks, prominences = np.zeros(0, dtype=np.intp), np.zeros(0)
    if hi - lo >= c.ARTIFACT_MIN_BAND_BINS:
        # Narrow: a minimum prominence and a maximum width at half prominence.
        peaks, props = scipy.signal.find_peaks(
            res[lo:hi], prominence=c.NARROW_PEAK_MIN_DB, width=(None, c.NARROW_PEAK_MAX_WIDTH_BINS)
        )
        prominences = props["prominences"]
    return ArtifactBand(res, lo, hi, bw_values, peaks, prominences)


def artifact_features(long_power: np.ndarray, found: ArtifactBand | None = None) -> np.ndarray:
    """ARTIFACT_FEATURES for a track from long-FFT power spectra of its sub-segments (M, K).

    The M spectra are the halves of every analysed segment, so stability across time can be
    judged even for a single segment. `found` is `artifact_band(long_power)` when the caller
    already has it (the console's plot), so the residual is not computed twice.
    """
    found = artifact_band(long_power) if found is None else found
    res, lo, hi, bw_values = found.residual_db, found.lo, found.hi, found.bandwidth
    out: list[float] = []
    if not found.analysed:  # band-limited to almost nothing: no artifact analysis possible
        n_art = len(ARTIFACT_FEATURES) - len(bw_values)
        return np.array([np.nan] * n_art + bw_values, dtype=np.float64)
    band = found.band_db
    floor = float(np.median(band))
    for b_lo, b_hi in FIXED_BINS:
        i, j = int(b_lo / BIN_HZ), int(b_hi / BIN_HZ)
        if j > hi:
            out.append(float("nan"))
        else:
            chunk = res[i:j]
            out.append(float(chunk.max() - np.median(chunk)))
    for fs in c.GENERATOR_RATES_HZ:
        for stride in c.STRIDE_PRODUCTS:
            out.append(_grid_score(res, fs / stride, lo, hi, floor))
    for fs in c.GENERATOR_RATES_HZ:
        out.append(_single_score(res, fs / 4.0, lo, hi, floor))
        out.append(_single_score(res, fs / 8.0, lo, hi, floor))
    log_res = _log_residual(res, lo, hi)
    for stride in c.STRIDE_PRODUCTS:
        out += list(resample_invariant_grid(log_res, lo, stride, floor))

    # Shift-invariant comb: autocorrelation and cepstrum of the positive residual, detrended so
    # only narrow structure remains; the comb period is the most prominent autocorrelation peak.
    positive = np.clip(band - floor, 0.0, None)
    narrow = positive - scipy.ndimage.median_filter(positive, COMB_DETREND_BINS, mode="nearest")
    centred = narrow - narrow.mean()
    n = centred.size
    spectrum = np.fft.rfft(centred, 2 * n)
    ac = np.fft.irfft(np.abs(spectrum) ** 2)[:n]
    ac = ac / (ac[0] + 1e-12)
    lag_lo = max(1, round(c.COMB_MIN_PERIOD_HZ / BIN_HZ))
    lag_hi = min(n - 1, round(c.COMB_MAX_PERIOD_HZ / BIN_HZ))
    window = ac[lag_lo:lag_hi]
    cand, cand_props = scipy.signal.find_peaks(window, prominence=0.0)
    if cand.size:
        proms = cand_props["prominences"]
        # Multiples of the period are nearly as prominent: take the shortest close to the best.
        pick = int(np.nonzero(proms >= c.COMB_MULTIPLE_RATIO * proms.max())[0][0])
        best, _strength = int(cand[pick]), float(proms[pick])
    else:
        best, _strength = int(np.argmax(window)), 0.0
    period_hz = (best + lag_lo) * BIN_HZ
    mad = float(np.median(np.abs(window - np.median(window)))) + 1e-9
    ceps = np.abs(np.fft.rfft(centred))
    q_lo = max(1, int(n / lag_hi))  # quefrency (cycles per band) of the longest period
    q_hi = min(ceps.size - 1, int(n / lag_lo) + 1)
    ceps_win = ceps[q_lo:q_hi]
    ceps_prom = float((ceps_win.max() - np.median(ceps_win)) / (np.std(ceps_win) + 1e-9))
    multiples = np.arange(1, int(hi * BIN_HZ / period_hz) + 1) * period_hz
    comb_vals = _peak_near(res, multiples, lo, hi)
    comb_mean = float(np.nanmean(comb_vals) - floor) if np.any(~np.isnan(comb_vals)) else 0.0
    out += [
        period_hz,
        float(window[best]),
        float((window[best] - np.median(window)) / mad),
        ceps_prom,
        comb_mean,
    ]

    # Narrow peaks, and whether they stay put across segments (harmonics of notes move).
    peaks = found.peaks
    width_khz = (hi - lo) * BIN_HZ / 1000.0
    top = float(found.prominences[found.strongest()].mean()) if peaks.size else 0.0
    if peaks.size and long_power.shape[0] > 1:
        seg_res = residual(_db(long_power))[:, lo:hi]
        near = np.stack([seg_res[:, np.clip(peaks + d, 0, band.size - 1)] for d in (-1, 0, 1)]).max(
            axis=0
        )
        present = (near > c.STABLE_PEAK_LEVEL_DB).mean(axis=0)
        stable = present >= c.STABLE_PEAK_FRACTION
        stable_fraction = float(stable.mean())
        high = (lo + peaks) * BIN_HZ >= c.HIGH_PEAK_MIN_HZ
        stable_high = float(np.sum(stable & high)) / width_khz
    else:
        stable_fraction = 0.0 if not peaks.size else 1.0
        stable_high = 0.0
    out += [peaks.size / width_khz, top, stable_fraction, stable_high, float(np.std(band))]
    return np.array(out + bw_values, dtype=np.float64)
