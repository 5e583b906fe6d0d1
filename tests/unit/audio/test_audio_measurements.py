"""Loudness (BS.1770-4), peak, silence and clipping against signals with known answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from integrity.audio import (
    DecodedAudio,
    DecodeLimits,
    decode_file,
    integrated_loudness,
    k_weighting_sos,
    measure,
)

# ITU-R BS.1770-4, Tables 1 and 2: the K-weighting biquads at 48 kHz (b0 b1 b2 a0 a1 a2).
BS1770_48K_SOS = np.array(
    [
        [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241,
         0.73248077421585],
        [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621],
    ]
)  # fmt: skip
# BS.1770-4: a 0 dBFS 997 Hz sine in one channel reads -3.01 LKFS.
FULL_SCALE_SINE_LUFS = -3.01


def sine(seconds: float, rate: int, amplitude: float = 1.0, frequency_hz: float = 997.0):
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency_hz * t)).astype(np.float32)


def as_audio(samples: np.ndarray, rate: int) -> DecodedAudio:
    return DecodedAudio(
        samples=samples,
        sample_rate=rate,
        source_sample_rate=rate,
        source_channels=1,
        codec="pcm_f32le",
        container="wav",
    )


def test_k_weighting_matches_the_standard_at_48k() -> None:
    np.testing.assert_allclose(k_weighting_sos(48_000), BS1770_48K_SOS, atol=1e-8)


@pytest.mark.parametrize(("rate", "tolerance"), [(48_000, 0.005), (44_100, 0.01), (22_050, 0.05)])
def test_full_scale_997_hz_sine_reads_minus_3_01_lufs(rate: int, tolerance: float) -> None:
    assert integrated_loudness(sine(5.0, rate), rate) == pytest.approx(
        FULL_SCALE_SINE_LUFS, abs=tolerance
    )


def test_loudness_follows_gain() -> None:
    rate = 48_000
    assert integrated_loudness(sine(5.0, rate, amplitude=0.1), rate) == pytest.approx(
        FULL_SCALE_SINE_LUFS - 20.0, abs=0.01
    )


def test_gates_ignore_silence_and_much_quieter_passages() -> None:
    rate = 48_000
    tone = sine(10.0, rate, amplitude=0.1)
    reference = integrated_loudness(tone, rate)
    assert reference is not None
    padded = np.concatenate([np.zeros(5 * rate, np.float32), tone, np.zeros(5 * rate, np.float32)])
    # Only the 400 ms blocks straddling the edges (partly silent) pull the level down a little;
    # without gating, half the programme being silence would cost 3 LU.
    assert integrated_loudness(padded, rate) == pytest.approx(reference, abs=0.15)
    quiet_tail = np.concatenate([tone, sine(10.0, rate, amplitude=0.001)])  # 40 dB down
    assert integrated_loudness(quiet_tail, rate) == pytest.approx(reference, abs=0.15)


def test_silence_has_no_loudness_or_peak() -> None:
    result = measure(as_audio(np.zeros(48_000, np.float32), 48_000))
    assert result.integrated_lufs is None
    assert result.sample_peak_dbfs is None
    assert result.silence_ratio == 1.0
    assert result.leading_silence_s == result.trailing_silence_s == pytest.approx(1.0)


def test_leading_and_trailing_silence_within_20_ms() -> None:
    rate = 44_100
    lead_s, body_s, tail_s = 1.234, 2.0, 0.567
    samples = np.concatenate(
        [
            np.zeros(round(lead_s * rate), np.float32),
            sine(body_s, rate, amplitude=0.25, frequency_hz=440.0),
            np.zeros(round(tail_s * rate), np.float32),
        ]
    )
    result = measure(as_audio(samples, rate))
    assert result.duration_s == pytest.approx(lead_s + body_s + tail_s, abs=1e-4)
    assert result.leading_silence_s == pytest.approx(lead_s, abs=0.02)
    assert result.trailing_silence_s == pytest.approx(tail_s, abs=0.02)
    assert result.silence_ratio == pytest.approx((lead_s + tail_s) / result.duration_s, abs=0.01)
    assert result.sample_peak_dbfs == pytest.approx(20 * np.log10(0.25), abs=0.01)
    assert result.clipping_ratio == 0.0


def test_hard_clipping_is_counted_but_a_normalised_peak_is_not() -> None:
    rate = 48_000
    assert measure(as_audio(sine(1.0, rate), rate)).clipping_ratio == 0.0
    clipped = np.clip(sine(1.0, rate, amplitude=2.0), -1.0, 1.0)
    ratio = measure(as_audio(clipped, rate)).clipping_ratio
    # |2 sin x| >= 0.999 for 2/3 of each period.
    assert ratio == pytest.approx(2 / 3, abs=0.02)


def test_measure_decoded_file_end_to_end(encoded: dict[str, Path], limits: DecodeLimits) -> None:
    audio = decode_file(encoded["flac"], limits=limits)
    result = measure(audio)
    # The fixture is a 0.5-amplitude 440 Hz sine (plus -40 dB noise): mean square 0.125,
    # raised by the K-weighting gain at 440 Hz.
    _, response = signal.sosfreqz(k_weighting_sos(audio.sample_rate), [440.0], fs=audio.sample_rate)
    gain_db = 20 * np.log10(np.abs(response[0]))
    expected = -0.691 + 10 * np.log10(0.125) + gain_db
    assert result.integrated_lufs == pytest.approx(expected, abs=0.05)
    assert result.sample_peak_dbfs is not None
    assert 20 * np.log10(0.5) < result.sample_peak_dbfs < 20 * np.log10(0.6)  # sine + noise
    assert result.leading_silence_s == 0.0
    assert result.trailing_silence_s == 0.0
