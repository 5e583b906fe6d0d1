"""From hash components to integer index keys, and the key ranges a query probes.

Key layout, most significant first: anchor band | span class | d13 level | d12 level | ratio
level. The ratio, the component that jitters most, sits in the low bits so that probing the
neighbouring ratio levels is one contiguous key range. The other coarse components are probed
at their neighbouring level only when the query value lies near a quantisation boundary, which
keeps the index small (one key per hash) and the query cost bounded.
"""

from __future__ import annotations

import numpy as np

from integrity.fingerprint import constants as fc

RATIO_BITS = int(fc.RATIO_LEVELS - 1).bit_length()
DF_BITS = int(fc.DF_LEVELS - 1).bit_length()
SPAN_BITS = int(fc.SPAN_CLASSES - 1).bit_length()
BAND_BITS = int(fc.BANDS - 1).bit_length()
ORDER_BITS = 3
KEY_BITS = RATIO_BITS + 2 * DF_BITS + SPAN_BITS + BAND_BITS + ORDER_BITS
"""Bits used by a key (the key space is 2**KEY_BITS)."""


def _levels(value: np.ndarray, n_levels: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """Level of each value (already in step units, offset so level 0 starts at 0.0) and the
    neighbouring level to probe as well, or -1 when the value is not near a boundary."""
    level = np.floor(value)
    frac = value - level
    level = np.clip(level, 0, n_levels - 1).astype(np.int64)
    alt = np.where(frac < margin, level - 1, np.where(frac > 1.0 - margin, level + 1, -1))
    alt = np.where((alt < 0) | (alt >= n_levels), -1, alt)
    return level, alt


def _components(hashes: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(level, alt level, shift) for the loudness order bits, band, span class, d13 and d12,
    in key order. An order bit is also probed flipped when its two peaks are nearly as loud."""
    order = hashes["order"].astype(np.int64)
    top = RATIO_BITS + 2 * DF_BITS + SPAN_BITS + BAND_BITS
    out = []
    for bit in range(ORDER_BITS):
        value = (order >> bit) & 1
        close = ((order >> (bit + ORDER_BITS)) & 1) == 1
        out.append((value, np.where(close, 1 - value, -1), top + bit))
    f_bins = hashes["f"].astype(np.float64) / fc.FREQ_UNITS_PER_BIN
    band = np.minimum(np.floor(f_bins / fc.BAND_BINS), fc.BANDS - 1).astype(np.int64)
    # Neighbouring band when the anchor lies within BAND_MARGIN_BINS of an inner band edge.
    pos = f_bins - band * fc.BAND_BINS
    band_alt = np.where(
        (pos < fc.BAND_MARGIN_BINS) & (band > 0),
        band - 1,
        np.where((pos > fc.BAND_BINS - fc.BAND_MARGIN_BINS) & (band < fc.BANDS - 1), band + 1, -1),
    )
    span_frames = np.maximum(hashes["span"].astype(np.float64), 1.0) / fc.TIME_UNITS_PER_FRAME
    span_pos = (np.log2(span_frames) - fc.SPAN_CLASS_LOG2_BASE) / fc.SPAN_CLASS_LOG2_STEP
    span_lvl, span_alt = _levels(span_pos, fc.SPAN_CLASSES, fc.BOUNDARY_MARGIN)
    out.append((band, band_alt, RATIO_BITS + 2 * DF_BITS + SPAN_BITS))
    out.append((span_lvl, span_alt, RATIO_BITS + 2 * DF_BITS))
    for name, shift in (("d13", RATIO_BITS + DF_BITS), ("d12", RATIO_BITS)):
        steps = hashes[name].astype(np.float64) / (fc.DF_UNITS_PER_BIN * fc.DF_STEP_BINS)
        lvl, alt = _levels(steps + fc.DF_LEVELS // 2, fc.DF_LEVELS, fc.BOUNDARY_MARGIN)
        out.append((lvl, alt, shift))
    return out


def _ratio_level(hashes: np.ndarray) -> np.ndarray:
    return (hashes["ratio"].astype(np.int64) * fc.RATIO_LEVELS) // fc.RATIO_UNITS


def index_keys(hashes: np.ndarray) -> np.ndarray:
    """One uint32 key per hash (what the index stores)."""
    key = _ratio_level(hashes)
    for level, _, shift in _components(hashes):
        key = key | (level << shift)
    return key.astype(np.uint32)


def query_ranges(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Key ranges [lo, hi] (inclusive) to probe for each query hash.

    Returns (hash index, lo, hi, substitutions). Each hash yields its own key plus, for every
    coarse component near a boundary, the variants with the neighbouring level (all
    combinations), each widened to the ratio levels within RATIO_QUERY_RADIUS. `substitutions`
    counts the neighbouring levels a range uses (0 for the hash's own key): the more it uses,
    the less likely the reference's key is in it, which is how a budgeted lookup ranks it.
    """
    n = hashes.shape[0]
    base = np.zeros(n, dtype=np.int64)
    idx = np.arange(n, dtype=np.int64)
    variants = [(idx, base, base)]
    for level, alt, shift in _components(hashes):
        grown = []
        for hidx, key, subs in variants:
            grown.append((hidx, key | (level[hidx] << shift), subs))
            has_alt = alt[hidx] >= 0
            grown.append(
                (
                    hidx[has_alt],
                    key[has_alt] | (alt[hidx][has_alt] << shift),
                    subs[has_alt] + 1,
                )
            )
        variants = grown
    hidx = np.concatenate([v[0] for v in variants])
    key = np.concatenate([v[1] for v in variants])
    substitutions = np.concatenate([v[2] for v in variants])
    ratio = _ratio_level(hashes)[hidx]
    lo = key | np.maximum(ratio - fc.RATIO_QUERY_RADIUS, 0)
    hi = key | np.minimum(ratio + fc.RATIO_QUERY_RADIUS, fc.RATIO_LEVELS - 1)
    return hidx, lo.astype(np.uint32), hi.astype(np.uint32), substitutions
