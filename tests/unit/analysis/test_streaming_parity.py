"""The streamed analysis computes what the whole-array code computes, chunk sizes whatever.

Why it matters: the sandbox child measures, fingerprints and describes a file in blocks so a
four-hour file fits its memory cap; a streamed value that drifted from the in-memory one would
silently change findings, duplicate matches and model scores.
"""

from __future__ import annotations

import numpy as np
import pytest
import soxr
from scipy import signal

from integrity.audio import constants as ac
from integrity.audio.measurements import Measurer, k_weighting_sos
from integrity.audio.records import resample
from integrity.features import prepare as fprep
from integrity.fingerprint import FINGERPRINT_SAMPLE_RATE
from integrity.fingerprint.extract import FingerprintStream, extract

LONGEST_CHUNK = 300_000
"""Upper bound of the random chunk sizes fed (samples)."""


def _chunks(x: np.ndarray, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out, position = [], 0
    while position < x.size:
        step = int(rng.integers(1, LONGEST_CHUNK))
        out.append(x[position : position + step])
        position += step
    return out


def _music(seconds: float, rate: int, *, lead_s: float = 0.4, trail_s: float = 1.3) -> np.ndarray:
    rng = np.random.default_rng(11)
    t = np.arange(int(seconds * rate)) / rate
    notes = 220.0 * 2 ** (np.floor(t * 3) % 12 / 12)
    x = 0.3 * np.sin(2 * np.pi * np.cumsum(notes) / rate) + 0.03 * rng.standard_normal(t.size)
    pad = (np.zeros(int(lead_s * rate)), x, np.zeros(int(trail_s * rate)))
    return np.concatenate(pad).astype(np.float32)


def _whole_array_measurements(x: np.ndarray, rate: int) -> tuple:
    """The pre-streaming measurement code (whole arrays), as the reference."""
    frame = max(1, round(ac.SILENCE_FRAME_S * rate))
    starts = np.arange(0, x.size, frame)
    sums = np.add.reduceat(x.astype(np.float64) ** 2, starts)
    with np.errstate(divide="ignore"):
        levels = 10.0 * np.log10(sums / np.diff(np.append(starts, x.size)))
    loud = np.flatnonzero(levels >= ac.SILENCE_THRESHOLD_DBFS)
    block = round(ac.LOUDNESS_BLOCK_S * rate)
    step = round(ac.LOUDNESS_BLOCK_S * (1.0 - ac.LOUDNESS_BLOCK_OVERLAP) * rate)
    weighted = signal.sosfilt(k_weighting_sos(rate), x.astype(np.float64))
    energy = np.concatenate(([0.0], np.cumsum(weighted * weighted)))
    first = np.arange(0, x.size - block + 1, step)
    mean_squares = (energy[first + block] - energy[first]) / block
    full = np.abs(x) >= ac.CLIP_LEVEL
    edges = np.diff(np.concatenate(([0], full.astype(np.int8), [0])))
    runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    clipped = runs[runs >= ac.CLIP_MIN_RUN_SAMPLES].sum() / x.size
    return float(np.abs(x).max()), int(loud[0]), int(loud[-1]), loud.size, mean_squares, clipped


@pytest.mark.parametrize("rate", [8_000, 11_025, 44_100, 48_000])
def test_measurements_fed_in_chunks_equal_the_whole_array_ones(rate: int) -> None:
    x = _music(20.0, rate)
    x[rate * 5 : rate * 5 + 9] = 1.0  # a clipped run inside a chunk or across two
    x[-2:] = -1.0  # a run too short to count, at the very end
    peak, first_loud, last_loud, loud, mean_squares, clipped = _whole_array_measurements(x, rate)
    meter = Measurer(rate)
    for chunk in _chunks(x, rate):
        meter.feed(chunk)
    result = meter.result()
    frame = meter.frame
    assert result.sample_peak_dbfs == pytest.approx(20 * np.log10(peak), abs=0)
    assert result.leading_silence_s == first_loud * frame / rate
    assert result.trailing_silence_s == max(0, x.size - (last_loud + 1) * frame) / rate
    assert result.silence_ratio == 1.0 - loud / np.ceil(x.size / frame)
    assert result.clipping_ratio == clipped > 0
    blocks = (meter.count - meter.block) // meter.step + 1
    streamed = (np.concatenate(meter._ends)[:blocks] - np.concatenate(meter._starts)[:blocks])
    np.testing.assert_allclose(streamed / meter.block, mean_squares, rtol=1e-12)


@pytest.mark.parametrize("rate", [8_000, 22_050, 44_100, 48_000])
def test_fingerprint_stream_equals_fingerprinting_the_resampled_whole(rate: int) -> None:
    x = _music(150.0, rate)  # several spectrogram blocks at the fingerprint rate
    reference = extract(resample(x, rate, FINGERPRINT_SAMPLE_RATE), FINGERPRINT_SAMPLE_RATE)
    stream = FingerprintStream(rate)
    for chunk in _chunks(x, rate):
        stream.feed(chunk)
    streamed = stream.finish()
    assert len(reference) > 0
    assert np.array_equal(streamed.hashes, reference.hashes)
    assert streamed.duration_s == reference.duration_s


@pytest.mark.parametrize(
    ("seconds", "rate"), [(0.3, 22_050), (3.0, 44_100), (9.0, 48_000), (70.0, 16_000)]
)
def test_streamed_feature_passes_equal_preparing_the_whole_array(seconds: float, rate: int) -> None:
    x = _music(seconds, rate)
    chunks = _chunks(x, 3)
    scan = fprep.TrimScan()
    for chunk in chunks:
        scan.feed(chunk)
    plan = scan.plan()
    whole = fprep.prepare(x, rate)
    if whole is None:  # too short to describe: the stream says so too
        locator = fprep.TrimLocator(plan) if plan else None
        if locator is not None:
            for chunk in chunks:
                locator.feed(chunk)
            assert not fprep.audible(rate, *locator.span())
        return
    locator = fprep.TrimLocator(plan)
    for chunk in chunks:
        locator.feed(chunk)
    start, stop = locator.span()
    capture = fprep.SegmentCapture(rate, start, stop, x.size)
    for chunk in chunks:
        capture.feed(chunk)
    streamed = capture.prepared()
    for name in ("segments", "full_band", "context"):
        assert np.array_equal(getattr(streamed, name), getattr(whole, name)), name
    assert (streamed.repetition_frames is None) == (whole.repetition_frames is None)
    if whole.repetition_frames is not None:
        assert np.array_equal(streamed.repetition_frames, whole.repetition_frames)


def test_resampled_length_is_what_libsoxr_delivers() -> None:
    # SegmentCapture places its windows by this length before any sample is resampled.
    rng = np.random.default_rng(5)
    for _ in range(60):
        count = int(rng.integers(1, 400_000))
        rate = int(rng.choice([8_000, 11_025, 16_000, 32_000, 44_100, 48_000, 96_000]))
        target = int(rng.choice([22_050, 44_100]))
        x = rng.standard_normal(count).astype(np.float32)
        delivered = soxr.resample(x, rate, target, quality=fprep.RESAMPLE_QUALITY).shape[0]
        assert fprep.resampled_length(count, rate, target) == delivered, (count, rate, target)


def test_query_views_stream_like_the_whole_and_stop_at_their_limit(monkeypatch) -> None:
    """The views cover the first QUERY_VIEW_MAX_S only, streamed or not, whatever block that
    limit falls in."""
    from integrity.fingerprint import constants as fc

    monkeypatch.setattr(fc, "QUERY_VIEW_MAX_S", 70.0)  # inside the second spectrogram block
    x = _music(150.0, FINGERPRINT_SAMPLE_RATE)
    reference = extract(x, FINGERPRINT_SAMPLE_RATE)
    stream = FingerprintStream(FINGERPRINT_SAMPLE_RATE)
    for chunk in _chunks(x, 5):
        stream.feed(chunk)
    assert np.array_equal(stream.finish().hashes, reference.hashes)
    units_per_s = fc.TIME_UNITS_PER_FRAME / fc.FRAME_S
    for i, (factor, _) in enumerate(fc.QUERY_VIEWS):
        view = reference.hashes[reference.hashes["core"] == fc.QUERY_VIEW_CORE_BASE + i]
        assert view.size > 0
        end = view["t"].astype(np.float64) + view["span"]
        assert end.max() <= 70.0 * factor * units_per_s
        assert end.max() > 60.0 * factor * units_per_s
