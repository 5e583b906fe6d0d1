"""Feature names to sentences a moderator can read.

Every feature family maps to a plain-language phrase; the sentence adds the measured value with
its unit and how rare it is among held-out real recordings (quantiles the model recorded from
packages it never trained on), or else its direction against their median.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

AGG_PHRASES = {
    "mean": "on average over the track",
    "std": "in how much it varies between parts of the track",
    "p10": "in the quietest-scoring tenth of the track",
    "p90": "in the highest-scoring tenth of the track",
}

DESCRIPTOR_PHRASES = {
    "spec.centroid_hz": "spectral brightness (centroid)",
    "spec.bandwidth_hz": "spectral spread",
    "spec.rolloff85_hz": "the frequency holding 85% of the energy",
    "spec.rolloff99_hz": "the frequency holding 99% of the energy",
    "spec.flatness": "noise-likeness of the spectrum (flatness)",
    "spec.flux": "how fast the spectrum changes (flux)",
    "spec.zcr": "zero-crossing rate",
    "spec.rms_dbfs": "loudness per frame",
    "phase.if_dispersion_low": "irregular phase evolution below 4 kHz, typical of phase "
    "reconstruction (Griffin-Lim, vocoders)",
    "phase.if_dispersion_high": "irregular phase evolution above 4 kHz, typical of phase "
    "reconstruction (Griffin-Lim, vocoders)",
    "phase.if_coherence_low": "phase coherence of partials below 4 kHz",
    "phase.if_coherence_high": "phase coherence of partials above 4 kHz",
    "phase.gd_dispersion": "group-delay irregularity across frequency",
    "phase.gd_coherence": "group-delay consistency across frequency",
    "loud.range_db": "loudness range",
    "loud.crest_db": "peak-to-average ratio",
    "loud.silent_fraction": "share of near-silent frames inside the audio",
    "voice.voiced_fraction": "share of pitched (voiced) frames",
    "voice.hnr_db": "harmonics-to-noise ratio of the voice",
    "voice.jitter": "period-to-period pitch jitter of the voice",
    "voice.f0_std_semitones": "pitch variation of the voice",
    "voice.shimmer_db": "frame-to-frame loudness shimmer of the voice",
}


def _khz(hz: float) -> str:
    return f"{hz / 1000:.2f} kHz" if hz >= 1000 else f"{hz:.0f} Hz"


def _artifact(name: str, full: Mapping[str, float]) -> str | None:
    period = full.get("art.comb_period_hz", math.nan)
    fixed: dict[str, str] = {
        "art.comb_strength": "narrow periodic spectral peaks typical of neural decoders "
        f"(comb at {_khz(period)})",
        "art.comb_prominence": "a regular comb of narrow spectral peaks, as left by upsampling "
        f"decoders (spacing {_khz(period)})",
        "art.cepstral_prominence": "a periodic pattern in the fine spectrum (cepstral peak), "
        "as left by upsampling decoders",
        "art.comb_mean_db": f"strength of the spectral comb at multiples of {_khz(period)}",
        "art.comb_period_hz": f"spacing of the strongest spectral comb ({_khz(period)})",
        "art.peaks_per_khz": "many narrow spectral peaks that are not musical notes",
        "art.top_peak_db": "very prominent narrow spectral peaks",
        "art.stable_fraction": "narrow spectral peaks that stay fixed while the music changes",
        "art.stable_high_per_khz": "fixed narrow peaks above 4 kHz that no instrument explains",
        "art.residual_std_db": "a ragged fine spectrum after removing its envelope",
    }
    if name in fixed:
        return fixed[name]
    m = re.fullmatch(r"art\.grid_(\d+)_s(\d+)", name)
    if m:
        fs, stride = int(m.group(1)), int(m.group(2))
        return (
            f"narrow spectral lines at multiples of {_khz(fs / stride)} "
            f"({fs / 1000:g} kHz / {stride}), where a stride-{stride} upsampling decoder "
            "leaves them"
        )
    m = re.fullmatch(r"art\.rgrid_s(\d+)(_contrast)?", name)
    if m:
        stride = int(m.group(1))
        what = "stands out" if m.group(2) else "is strong"
        return (
            f"a comb of narrow spectral lines on a stride-{stride} decoder grid (a generator "
            f"rate / {stride}, searched within 10 % resampling) {what}"
        )
    m = re.fullmatch(r"art\.fs(\d)_(\d+)", name)
    if m:
        div, fs = int(m.group(1)), int(m.group(2))
        return (
            f"a spectral line at {_khz(fs / div)} (1/{div} of {fs / 1000:g} kHz), a decoder trace"
        )
    m = re.fullmatch(r"art\.bin_(\d+)_(\d+)hz", name)
    if m:
        return (
            f"a narrow spectral peak between {_khz(float(m.group(1)))} and "
            f"{_khz(float(m.group(2)))} (fixed-position decoder fingerprint)"
        )
    return None


def _other(name: str) -> str | None:
    fixed = {
        "bw.cutoff_hz": "where the spectrum is cut off (bandwidth)",
        "bw.cutoff_sharpness_db": "how abruptly the spectrum is cut off",
        "bw.high_band_db": "energy above 16 kHz",
        "bw.rolloff99_hz": "the frequency holding 99% of the energy (whole track)",
        "bw.floor_flatness": "flatness of the spectral floor",
        "rep.max_lag_similarity": "the audio repeats itself (loop-like self-similarity)",
        "rep.lag_contrast": "one repetition period dominates (a loop)",
        "rep.frame_novelty": "how little the sound changes from moment to moment",
        "rep.segment_similarity": "all parts of the track sound alike (noise or drone bed)",
        "ctx.duration_s": "track duration (the royalty threshold is 30 s)",
        "ctx.leading_silence_s": "silence before the audio starts",
        "ctx.trailing_silence_s": "silence after the audio ends",
        "ctx.silence_fraction": "share of the file that is silent",
    }
    return fixed.get(name)


def _segment(name: str) -> str | None:
    parts = name.split(".")
    agg = parts[-1]
    if agg not in AGG_PHRASES:
        return None
    base = ".".join(parts[:-1])
    m = re.fullmatch(r"(mfcc|lfcc)\.(\d+)\.(mean|std|delta_std)", base)
    if m:
        kind, coef, stat = m.groups()
        scale = "mel-scale" if kind == "mfcc" else "linear-frequency"
        what = {"mean": "level", "std": "variability", "delta_std": "rate of change"}[stat]
        return f"timbre ({scale} cepstral coefficient {int(coef)}, {what}) {AGG_PHRASES[agg]}"
    m = re.fullmatch(r"band\.(\d+)_(\d+)hz_db", base)
    if m:
        return (
            f"share of energy between {_khz(float(m.group(1)))} and {_khz(float(m.group(2)))} "
            f"{AGG_PHRASES[agg]}"
        )
    stem = re.sub(r"\.(mean|std)$", "", base)
    phrase = DESCRIPTOR_PHRASES.get(stem) or DESCRIPTOR_PHRASES.get(base)
    if phrase is None:
        return None
    frame_stat = " (its frame-to-frame variation)" if base.endswith(".std") else ""
    return f"{phrase}{frame_stat} {AGG_PHRASES[agg]}"


def feature_phrase(name: str, full: Mapping[str, float] | None = None) -> str:
    """Plain-language phrase for a feature name (falls back to the name itself)."""
    for found in (_artifact(name, full or {}), _other(name), _segment(name)):
        if found is not None:
            return found
    return f"feature {name}"


REAL_QUANTILES = (0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999)
"""Quantile levels of each feature among held-out real recordings that a model records."""
UNITLESS_ART = frozenset(
    {
        "art.comb_strength",
        "art.comb_prominence",
        "art.cepstral_prominence",
        "art.stable_fraction",
        "art.peaks_per_khz",
        "art.stable_high_per_khz",
    }
)


def feature_unit(name: str) -> str:
    """The unit a feature's value is in (empty when it is a ratio or a count)."""
    if name.endswith("_hz") or "_hz." in name:
        return " Hz"
    if name.endswith("_per_khz"):
        return " per kHz"
    if name.endswith("_s"):
        return " s"
    if "_db" in name or "dbfs" in name or (name.startswith("art.") and name not in UNITLESS_ART):
        return " dB"
    return ""


def _rarity(value: float, quantiles: Sequence[float], n_real: int) -> str | None:
    """'higher than 99 % of N held-out real recordings' from the recorded quantiles."""
    if len(quantiles) != len(REAL_QUANTILES) or not all(map(math.isfinite, quantiles)):
        return None
    of = f" of {n_real:,} held-out real recordings" if n_real else " of held-out real recordings"
    for level, q in reversed(list(zip(REAL_QUANTILES, quantiles, strict=True))):
        if level > 0.5 and value > q:
            return f"higher than in {level:.1%}{of}"
    for level, q in zip(REAL_QUANTILES, quantiles, strict=True):
        if level < 0.5 and value < q:
            return f"lower than in {1.0 - level:.1%}{of}"
    return None


def render_reason(
    name: str,
    value: float,
    reference: float,
    full: Mapping[str, float],
    quantiles: Sequence[float] = (),
    n_real: int = 0,
) -> str:
    """One sentence: phrase, measured value with its unit, and how rare it is among real
    recordings (or, without recorded quantiles, its direction against their median)."""
    phrase = feature_phrase(name, full)
    phrase = phrase[0].upper() + phrase[1:]
    if not math.isfinite(value):
        return f"{phrase}: not measurable in this file (no voice or too short)."
    unit = feature_unit(name)
    rare = _rarity(value, quantiles, n_real)
    if rare is not None:
        return f"{phrase}: {value:.3g}{unit}, {rare} (median {quantiles[3]:.3g}{unit})."
    if math.isfinite(reference) and not math.isclose(value, reference, rel_tol=1e-3):
        direction = "higher" if value > reference else "lower"
        return (
            f"{phrase}: {value:.3g}{unit}, {direction} than typical real recordings "
            f"({reference:.3g}{unit})."
        )
    return f"{phrase}: {value:.3g}{unit}."
