"""The shipped spam model flags what is spam by construction and not ordinary songs."""

from __future__ import annotations

import numpy as np
import pytest

from integrity.config import Settings
from integrity.detection import load_model
from integrity.features import extract_features

SHIPPED = Settings().models_dir

RATE = 22_050
SONG_S = 48.0


def _song(seed: int) -> np.ndarray:
    """An ordinary (if plain) song: chord changes, a melody that never repeats exactly, bass,
    a drum pattern with human timing, a fade at the end: nothing made by looping or padding."""
    rng = np.random.default_rng(seed)
    bpm = float(rng.uniform(80, 150))
    beat = 60.0 / bpm
    n = int(SONG_S * RATE)
    out = np.zeros(n)
    root = float(rng.uniform(110, 220))
    scale = root * 2 ** (np.array([0, 2, 4, 5, 7, 9, 11, 12]) / 12)
    t_note = 0.0
    while t_note < SONG_S - 1.0:
        length = beat * float(rng.choice([0.5, 1.0, 1.0, 2.0]))
        f = float(rng.choice(scale)) * 2
        m = int(length * RATE)
        start = int(t_note * RATE)
        tt = np.arange(min(m, n - start)) / RATE
        env = np.exp(-tt * rng.uniform(2, 6))
        out[start : start + tt.size] += 0.2 * env * sum(
            np.sin(2 * np.pi * f * k * tt) / k**1.5 for k in range(1, 6)
        )
        t_note += length
    for bar in range(int(SONG_S / (4 * beat))):
        chord_root = float(rng.choice(scale[:5])) / 2
        start = int(bar * 4 * beat * RATE)
        tt = np.arange(min(int(4 * beat * RATE), n - start)) / RATE
        out[start : start + tt.size] += 0.15 * np.sin(2 * np.pi * chord_root * tt) * np.exp(-tt)
        for b in range(4):
            hit = start + int((b * beat + rng.normal(0, 0.01)) * RATE)
            if 0 <= hit < n - 2000:
                out[hit : hit + 2000] += 0.3 * rng.standard_normal(2000) * np.exp(
                    -np.arange(2000) / 300.0
                )
    fade = int(3 * RATE)
    out[-fade:] *= np.linspace(1, 0, fade)
    return (0.5 * out / np.abs(out).max()).astype(np.float32)


def _score(x: np.ndarray) -> float:
    return load_model("spam", root=SHIPPED).score_features(extract_features(x, RATE))


@pytest.fixture(scope="module")
def threshold() -> float:
    return load_model("spam", root=SHIPPED).operating_points.review


@pytest.mark.parametrize("seed", range(5))
def test_ordinary_songs_stay_below_the_review_threshold(seed: int, threshold: float) -> None:
    assert _score(_song(seed)) < threshold


def _constructions() -> dict[str, np.ndarray]:
    """Spam by construction: a white-noise bed, an exact 4-s loop of a song, a song excerpt
    padded with a minute and a half of silence."""
    song = _song(0)
    white = 0.1 * np.random.default_rng(3).standard_normal(int(60 * RATE))
    silence = np.zeros(int(40 * RATE), dtype=np.float32)
    return {
        "white bed": white.astype(np.float32),
        "4-s loop": np.tile(song[4 * RATE : 8 * RATE], 15),
        "padded": np.concatenate([silence, song[: 20 * RATE], silence, silence]),
    }


@pytest.mark.parametrize("kind", ["white bed", "4-s loop", "padded"])
def test_spam_constructions_score_above_ordinary_songs(kind: str) -> None:
    # (A high-passed brown-noise bed, outside the generated bed recipes, scores below the songs
    # with the shipped 1.1.0 fit: its card lists it among the known misses.)
    songs = [_score(_song(seed)) for seed in range(3)]
    assert _score(_constructions()[kind]) > max(songs)
