"""The whole analysis of a file runs in the sandbox child; the worker only gets the results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from integrity.analysis import analyse_file
from integrity.audio import AudioDecodeError, DecodeFailure, DecodeLimits, shutdown_sandboxes
from tests.conftest import REPO_ROOT

RATE_HZ = 48_000
LONG_MINUTES = 10
"""A file whose decoded samples (115 MB) the worker used to hold, and 7-17x that to analyse."""
MIB = 1 << 20
GIB = 1 << 30
LIMITS = DecodeLimits(
    max_bytes=512 * MIB, max_duration_s=4 * 3600.0, timeout_s=600.0, memory_limit_bytes=4 * GIB
)
WORKER_GROWTH_LIMIT_BYTES = 64 * MIB
"""What the worker's peak RSS may grow by while a 10-minute 48-kHz file is analysed (bytes):
well below the 115 MB of decoded samples, which the worker must never hold."""


def _write_music(path: Path, seconds: float) -> Path:
    rng = np.random.default_rng(21)
    t = np.arange(int(seconds * RATE_HZ)) / RATE_HZ
    notes = 196.0 * 2 ** (np.floor(t * 2.5) % 9 / 12)
    x = 0.3 * np.sin(2 * np.pi * np.cumsum(notes) / RATE_HZ) + 0.02 * rng.standard_normal(t.size)
    soundfile.write(path, np.stack([x, x[::-1]], axis=1).astype(np.float32), RATE_HZ, "PCM_16")
    return path


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_music(tmp_path_factory.mktemp("analysis") / "song.wav", 40.0)


@pytest.fixture(autouse=True, scope="module")
def _stop_children() -> None:
    yield
    shutdown_sandboxes()


def test_sandboxed_analysis_equals_the_in_process_one(song: Path) -> None:
    inside = analyse_file(song, limits=LIMITS)
    here = analyse_file(song, limits=LIMITS, sandbox=False)
    assert inside.peak_rss_bytes is not None and inside.peak_rss_bytes < LIMITS.memory_limit_bytes
    assert (inside.probe.channels, inside.sample_rate, inside.decodes) == (2, RATE_HZ, 1)
    assert inside.measurements == here.measurements
    assert np.array_equal(inside.features.values, here.features.values, equal_nan=True)
    # The child runs BLAS on one thread, this process on several: a rounding difference in
    # the spectrogram may move a hash or two, never more.
    shared = np.intersect1d(inside.fingerprint.hashes, here.fingerprint.hashes).size
    assert len(here.fingerprint) > 0 and shared >= 0.99 * len(here.fingerprint)


def test_a_file_too_long_to_keep_is_decoded_again_with_the_same_result(song: Path) -> None:
    kept = analyse_file(song, limits=LIMITS, sandbox=False)
    again = analyse_file(song, limits=LIMITS, sandbox=False, retain_bytes=1)
    assert (kept.decodes, again.decodes) == (1, 3)
    assert again.measurements == kept.measurements
    assert np.array_equal(again.fingerprint.hashes, kept.fingerprint.hashes)
    assert np.array_equal(again.features.values, kept.features.values, equal_nan=True)


def test_the_wall_clock_cap_covers_the_whole_analysis(song: Path) -> None:
    hurried = DecodeLimits(
        max_bytes=LIMITS.max_bytes,
        max_duration_s=LIMITS.max_duration_s,
        timeout_s=0.05,
        memory_limit_bytes=LIMITS.memory_limit_bytes,
    )
    with pytest.raises(AudioDecodeError) as caught:
        analyse_file(song, limits=hurried)
    assert caught.value.reason is DecodeFailure.TIMEOUT
    assert caught.value.path == song


WORKER_SCRIPT = """
import json, resource, sys
from pathlib import Path
from integrity.analysis import analyse_file
from integrity.audio import DecodeLimits
limits = DecodeLimits(max_bytes={max_bytes}, max_duration_s={max_duration_s},
                      timeout_s={timeout_s}, memory_limit_bytes={memory})
warm = analyse_file(Path(sys.argv[2]), limits=limits)  # child started, caches warm
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
result = analyse_file(Path(sys.argv[1]), limits=limits)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"growth": after - before, "child": result.peak_rss_bytes,
                  "duration": result.measurements.duration_s}}))
"""


def test_the_worker_never_holds_the_decoded_samples(tmp_path: Path, song: Path) -> None:
    # Before, the worker received the decoded samples and measured and fingerprinted them
    # itself (~7x and ~17x their size); now its peak grows by far less than the samples.
    long_file = _write_music(tmp_path / "long.wav", LONG_MINUTES * 60.0)
    script = WORKER_SCRIPT.format(
        max_bytes=LIMITS.max_bytes,
        max_duration_s=LIMITS.max_duration_s,
        timeout_s=LIMITS.timeout_s,
        memory=LIMITS.memory_limit_bytes,
    )
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run(
        [sys.executable, "-c", script, str(long_file), str(song)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    decoded_bytes = report["duration"] * RATE_HZ * 4
    assert report["duration"] == pytest.approx(LONG_MINUTES * 60.0)
    assert report["growth"] < WORKER_GROWTH_LIMIT_BYTES < decoded_bytes, report
    assert report["child"] < LIMITS.memory_limit_bytes
