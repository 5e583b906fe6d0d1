"""Spam material for the audio-side `spam` model: beds, loops, silence padding, 31-second cuts.

Each positive is made from a recipe (so its label is true by construction, never by a
detector); negatives are real tracks and real speech at their natural length.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.signal

from integrity.training import constants as t

SPAM_KINDS = ("noise_bed", "looped", "padded", "cut31")
BED_TYPES = ("white", "pink", "brown", "rain", "ocean", "wind")


def _coloured(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectrum ~ 1/f^exponent (0 white, 1 pink, 2 brown)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=np.float64)
    f[0] = 1.0
    y = np.fft.irfft(spec / f ** (exponent / 2), n)
    return (y / (np.std(y) + 1e-12)).astype(np.float32)


def noise_bed(rate: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """A synthetic noise or nature bed (rain drops, ocean swell, wind gusts, coloured noise)."""
    seconds = float(rng.uniform(*t.SPAM_BED_S))
    n = int(seconds * rate)
    kind = str(rng.choice(BED_TYPES))
    tt = np.arange(n) / rate
    if kind in ("white", "pink", "brown"):
        y = _coloured(n, {"white": 0.0, "pink": 1.0, "brown": 2.0}[kind], rng)
    elif kind == "rain":
        y = _coloured(n, 0.5, rng)
        drops = (rng.random(n) < 40.0 / rate).astype(np.float32)
        env = scipy.signal.lfilter([1.0], [1.0, -0.995], drops)
        y = 0.5 * y + 2.0 * env * _coloured(n, 0.0, rng)
    elif kind == "ocean":
        swell = 0.55 + 0.45 * np.sin(2 * np.pi * rng.uniform(0.05, 0.15) * tt)
        y = _coloured(n, 1.7, rng) * swell
    else:
        gust = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.02, 0.1) * tt + rng.uniform(0, 6))
        b, a = scipy.signal.butter(2, [300.0, 1500.0], btype="band", fs=rate)
        y = scipy.signal.lfilter(b, a, _coloured(n, 1.0, rng)) * gust
    y = np.asarray(y, dtype=np.float32)
    return y, {"bed": kind, "seconds": round(seconds, 2)}


def looped(x: np.ndarray, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """A short excerpt of a real track repeated to track length."""
    loop_s = float(rng.uniform(*t.SPAM_LOOP_S))
    total_s = float(rng.uniform(*t.SPAM_LOOPED_S))
    n_loop = min(int(loop_s * rate), x.size)
    start = int(rng.integers(0, max(1, x.size - n_loop)))
    piece = x[start : start + n_loop]
    reps = int(np.ceil(total_s * rate / piece.size))
    params = {"loop_s": round(loop_s, 2), "total_s": round(total_s, 2), "offset_s": start / rate}
    return np.tile(piece, reps)[: int(total_s * rate)], params


def padded(x: np.ndarray, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """A little real audio inside a long silence (leading, trailing or both)."""
    content_s = min(float(rng.uniform(*t.SPAM_PADDED_CONTENT_S)), x.size / rate)
    total_s = float(rng.uniform(*t.SPAM_PADDED_TOTAL_S))
    content = x[: int(content_s * rate)]
    lead_share = float(rng.uniform(0.0, 1.0))
    pad = max(0, int(total_s * rate) - content.size)
    lead = int(pad * lead_share)
    y = np.concatenate([np.zeros(lead, np.float32), content, np.zeros(pad - lead, np.float32)])
    return y, {
        "content_s": round(content_s, 2),
        "total_s": round(total_s, 2),
        "lead_share": round(lead_share, 3),
    }


def cut31(x: np.ndarray, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """A real track cut to just over 30 s (the royalty threshold) with a short fade-out."""
    seconds = min(float(rng.uniform(*t.SPAM_CUT_S)), x.size / rate)
    y = x[: int(seconds * rate)].copy()
    fade = min(int(t.SPAM_FADE_S * rate), y.size)
    y[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return y, {"seconds": round(seconds, 2)}
