"""How the build uses codec2: a twin paired with real speech."""

from __future__ import annotations

import numpy as np
import pytest

from integrity.training import constants as t
from integrity.training import dataset
from integrity.training import generators as gen


def _speech_like(seconds: float, rate: int) -> np.ndarray:
    """A 140-Hz pulse train under a slow syllable-rate envelope, full band."""
    n = int(seconds * rate)
    phase = 2 * np.pi * 140.0 * np.arange(n) / rate
    voice = sum(np.sin(k * phase) / np.sqrt(k) for k in range(1, 60))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * np.arange(n) / rate)
    return (0.05 * voice * envelope).astype(np.float32)


@pytest.mark.skipif(not gen.codec2_available(), reason="c2enc / c2dec: apt-get install codec2")
@pytest.mark.parametrize(("native", "pairs"), [(8_000, 1), (44_100, 2)])
def test_a_codec2_twin_comes_with_its_real_clip_through_8khz_when_the_source_is_wider(
    native: int, pairs: int
) -> None:
    clip = _speech_like(2.0, t.WORK_RATE_HZ)
    out: list[tuple[str, np.ndarray, dict[str, object]]] = []
    dataset._codec2_pair(clip, np.random.default_rng([7, t.CODEC2_STREAM]), native, out)
    assert [family for family, _, _ in out] == ["codec2", "real"][:pairs]
    assert out[0][2]["stream_salt"] == t.CODEC2_STREAM and out[0][2]["mode"] in t.CODEC2_MODES
    for _, audio, _ in out:  # both at the work rate, both without energy above 4 kHz
        assert audio.size == pytest.approx(clip.size, abs=2)
        power = np.abs(np.fft.rfft(audio.astype(np.float64))) ** 2
        freqs = np.fft.rfftfreq(audio.size, 1.0 / t.WORK_RATE_HZ)
        assert power[freqs > 4_200].sum() / power.sum() < 1e-4
