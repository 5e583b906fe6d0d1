"""Hostile and broken files: refused with AudioDecodeError naming the file, never a crash of
the caller; the sandbox child is killed and replaced when it hangs, balloons or dies."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile

from integrity.audio import (
    AudioDecodeError,
    DecodeFailure,
    DecodeLimits,
    _decoders,
    decode_file,
    probe_file,
    shutdown_sandboxes,
)
from integrity.audio._sandbox import SandboxDecoder
from integrity.audio.constants import (
    MAX_SOURCE_CHANNELS,
    MIN_SOURCE_RATE_HZ,
    SANDBOX_MAX_OPEN_FILES,
)
from integrity.audio.decode import sandbox_for

from .signals import ALL_FORMATS, FIXTURE_SECONDS, MEBIBYTE, tone, write_format

MEMORY_TEST_HEADROOM_BYTES = 24 * MEBIBYTE
LONG_FILE_RATE_HZ = 48_000
LONG_FILE_SECONDS = 300


def _assert_refused(path: Path, limits: DecodeLimits, *reasons: DecodeFailure) -> AudioDecodeError:
    with pytest.raises(AudioDecodeError) as caught:
        decode_file(path, limits=limits)
    error = caught.value
    assert error.path == path
    assert path.name in str(error)
    assert error.reason in reasons, str(error)
    return error


def test_random_bytes_are_refused(tmp_path: Path, limits: DecodeLimits) -> None:
    path = tmp_path / "noise.mp3"
    path.write_bytes(np.random.default_rng(1).bytes(50_000))
    error = _assert_refused(path, limits, DecodeFailure.UNSUPPORTED, DecodeFailure.CORRUPT)
    assert "unsupported" in str(error) or "corrupt" in str(error)


def test_text_renamed_flac_is_refused(tmp_path: Path, limits: DecodeLimits) -> None:
    path = tmp_path / "liner-notes.flac"
    path.write_text("Recorded live at the Roundhouse, 1971.\n" * 100)
    error = _assert_refused(path, limits, DecodeFailure.UNSUPPORTED)
    assert "unsupported audio format" in str(error)


def test_empty_file_is_refused(tmp_path: Path, limits: DecodeLimits) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    _assert_refused(path, limits, DecodeFailure.UNSUPPORTED)


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_truncated_file_is_refused(
    name: str, tmp_path: Path, encoded: dict[str, Path], limits: DecodeLimits
) -> None:
    # An interrupted upload: the first third of a valid file.
    data = encoded[name].read_bytes()
    path = tmp_path / f"truncated{encoded[name].suffix}"
    path.write_bytes(data[: len(data) // 3])
    error = _assert_refused(path, limits, DecodeFailure.CORRUPT)
    assert "corrupt audio" in str(error)


def test_mp3_header_with_garbage_body_is_refused(tmp_path: Path, limits: DecodeLimits) -> None:
    whole = write_format("mp3", tone(4.0), 44_100, tmp_path, "whole")
    data = bytearray(whole.read_bytes())
    data[2000:] = np.random.default_rng(2).bytes(len(data) - 2000)
    path = tmp_path / "garbled.mp3"
    path.write_bytes(bytes(data))
    _assert_refused(path, limits, DecodeFailure.CORRUPT)


def test_missing_file_is_refused(tmp_path: Path, limits: DecodeLimits) -> None:
    _assert_refused(tmp_path / "absent.flac", limits, DecodeFailure.UNREADABLE)


def test_oversized_file_is_refused_before_opening(
    encoded: dict[str, Path], limits: DecodeLimits, monkeypatch: pytest.MonkeyPatch
) -> None:
    def must_not_run(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the sandbox was asked to open an oversized file")

    monkeypatch.setattr(SandboxDecoder, "decode", must_not_run)
    monkeypatch.setattr(SandboxDecoder, "probe", must_not_run)
    path = encoded["wav"]
    small = replace(limits, max_bytes=path.stat().st_size - 1)
    error = _assert_refused(path, small, DecodeFailure.TOO_BIG)
    assert "file too big" in str(error)
    with pytest.raises(AudioDecodeError, match="too big"):
        probe_file(path, limits=small)


@pytest.mark.parametrize("name", ["wav", "flac", "mp3", "m4a", "opus"])
def test_over_long_file_is_refused_from_its_header(
    name: str, encoded: dict[str, Path], limits: DecodeLimits
) -> None:
    short = replace(limits, max_duration_s=FIXTURE_SECONDS / 2)
    error = _assert_refused(encoded[name], short, DecodeFailure.TOO_LONG)
    assert "header says" in error.detail  # refused at probe time, before any decoding
    with pytest.raises(AudioDecodeError, match="too long"):
        probe_file(encoded[name], limits=short)


@pytest.mark.parametrize("name", ["wav", "flac"])
def test_decode_stops_at_the_duration_cap_when_headers_lie(
    name: str, encoded: dict[str, Path]
) -> None:
    # Pretend the header passed the check: the decode loop itself must stop at the cap.
    path = encoded[name].resolve()
    found = _decoders.probe(path)
    with pytest.raises(AudioDecodeError) as caught:
        _decoders.decode(path, sample_rate=None, max_duration_s=0.5, checked=found)
    assert caught.value.reason is DecodeFailure.TOO_LONG


@pytest.fixture(scope="module")
def long_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five minutes of 48 kHz mono noise (one second repeated): slow enough to time out, and
    58 MB once decoded to float32, more than the memory test's headroom."""
    path = tmp_path_factory.mktemp("long") / "long.wav"
    noise = (
        0.1 * np.iinfo(np.int16).max * np.random.default_rng(3).standard_normal(LONG_FILE_RATE_HZ)
    )
    second = noise.astype(np.int16)
    soundfile.write(path, np.tile(second, LONG_FILE_SECONDS), LONG_FILE_RATE_HZ)
    return path


@pytest.fixture()
def sandbox(limits: DecodeLimits) -> Iterator[SandboxDecoder]:
    """A private decoder child (tests here kill theirs; the shared one must stay warm)."""
    private = SandboxDecoder(limits.memory_limit_bytes, limits.timeout_s)
    yield private
    private.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_timeout_kills_the_child_and_the_next_decode_works(
    long_wav: Path, encoded: dict[str, Path], limits: DecodeLimits, sandbox: SandboxDecoder
) -> None:
    impatient = replace(limits, timeout_s=0.05)
    started = time.monotonic()
    with pytest.raises(AudioDecodeError) as caught:
        sandbox.decode(long_wav, 22_050, impatient)
    assert caught.value.reason is DecodeFailure.TIMEOUT
    assert "timed out" in str(caught.value)
    assert time.monotonic() - started < 2.0
    assert sandbox.pid is None  # killed, not left running

    _, samples, rate, _ = sandbox.decode(encoded["flac"].resolve(), 22_050, limits)
    assert rate == 22_050
    assert samples.shape[0] == pytest.approx(FIXTURE_SECONDS * 22_050, abs=2)


@pytest.mark.slow  # spawns extra decoder children
def test_memory_cap_stops_a_ballooning_decode(
    long_wav: Path, encoded: dict[str, Path], limits: DecodeLimits, sandbox: SandboxDecoder
) -> None:
    # Measure an idle child's address space, then allow it less than the decode needs
    # (five minutes at 48 kHz is 58 MB of float32).
    sandbox.probe(encoded["wav"].resolve(), limits)
    assert sandbox.pid is not None
    status = Path(f"/proc/{sandbox.pid}/status").read_text()
    idle_bytes = 1024 * int(
        next(x for x in status.splitlines() if x.startswith("VmSize")).split()[1]
    )

    capped = SandboxDecoder(idle_bytes + MEMORY_TEST_HEADROOM_BYTES, limits.timeout_s)
    try:
        with pytest.raises(AudioDecodeError) as caught:
            capped.decode(long_wav, None, limits)
        assert caught.value.reason is DecodeFailure.MEMORY
        assert "memory" in str(caught.value)

        _, samples, _, _ = capped.decode(encoded["mp3"].resolve(), 22_050, limits)
        assert samples.shape[0] > 0
    finally:
        capped.close()


def test_a_crashed_child_is_replaced(
    encoded: dict[str, Path], limits: DecodeLimits, sandbox: SandboxDecoder
) -> None:
    sandbox.probe(encoded["wav"].resolve(), limits)
    first = sandbox.pid
    assert first is not None
    os.kill(first, signal.SIGSEGV)
    time.sleep(0.1)
    found = sandbox.probe(encoded["ogg"].resolve(), limits)
    assert found.codec == "vorbis"
    assert sandbox.pid != first
    assert not _alive(first)


@pytest.mark.slow  # spawns extra decoder children
def test_a_forked_process_gets_its_own_child(
    encoded: dict[str, Path], limits: DecodeLimits
) -> None:
    # Celery prefork: the parent's warm child must not be shared with (or killed by) a fork.
    decode_file(encoded["wav"], limits=limits)
    parent_child = sandbox_for(limits).pid
    assert parent_child is not None
    forked = os.fork()
    if forked == 0:  # pragma: no cover - runs in the forked process
        status = 1
        try:
            audio = decode_file(encoded["ogg"], limits=limits)
            mine = sandbox_for(limits).pid
            status = 0 if audio.codec == "vorbis" and mine not in (None, parent_child) else 2
            shutdown_sandboxes()
        finally:
            os._exit(status)
    _, status = os.waitpid(forked, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert sandbox_for(limits).pid == parent_child
    assert decode_file(encoded["mp3"], limits=limits).codec == "mp3"


@pytest.mark.slow  # spawns extra decoder children
def test_a_child_crashing_mid_decode_fails_that_file_only(
    long_wav: Path, encoded: dict[str, Path], limits: DecodeLimits, sandbox: SandboxDecoder
) -> None:
    # What a memory-corruption bug in a decoder looks like from outside: SIGSEGV mid-request.
    sandbox.probe(encoded["wav"].resolve(), limits)
    victim = sandbox.pid
    assert victim is not None
    timer = threading.Timer(0.05, os.kill, args=(victim, signal.SIGSEGV))
    timer.start()
    with pytest.raises(AudioDecodeError) as caught:
        sandbox.decode(long_wav, None, limits)
    timer.join()
    assert caught.value.reason is DecodeFailure.CRASHED
    assert "SIGSEGV" in str(caught.value)
    _, samples, _, _ = sandbox.decode(encoded["m4a"].resolve(), 22_050, limits)
    assert samples.shape[0] > 0
    assert sandbox.pid != victim


def _limits_of(pid: int) -> dict[str, str]:
    """/proc/PID/limits as {name: soft limit}."""
    rows = Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]
    return {row[:26].strip(): row[26:47].strip() for row in rows}


def test_the_child_runs_under_its_resource_limits(
    encoded: dict[str, Path], limits: DecodeLimits, sandbox: SandboxDecoder
) -> None:
    sandbox.probe(encoded["wav"].resolve(), limits)
    assert sandbox.pid is not None
    applied = _limits_of(sandbox.pid)
    assert applied["Max address space"] == str(limits.memory_limit_bytes)
    assert applied["Max file size"] == "0"
    assert applied["Max core file size"] == "0"
    assert applied["Max open files"] == str(SANDBOX_MAX_OPEN_FILES)
    # The budget comes on top of what the child's imports spent (whole seconds, rounded up).
    import_cpu_bound_s = 60
    assert sandbox.cpu_limit_s <= int(applied["Max cpu time"]) <= (
        sandbox.cpu_limit_s + import_cpu_bound_s
    )


def test_threads_share_one_child_safely(encoded: dict[str, Path], limits: DecodeLimits) -> None:
    names = ["wav", "flac", "ogg", "mp3", "m4a", "opus"] * 2
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(lambda n: decode_file(encoded[n], sample_rate=16_000, limits=limits), names)
        )
    for name, audio in zip(names, results, strict=True):
        assert audio.duration_s == pytest.approx(FIXTURE_SECONDS, abs=0.06), name
    assert {audio.codec for audio in results} == {
        "pcm_s16le",
        "flac",
        "vorbis",
        "mp3",
        "aac",
        "opus",
    }


@pytest.mark.slow  # spawns an extra decoder child
def test_the_child_ignores_a_decoy_package_in_the_working_directory(
    tmp_path: Path,
    encoded: dict[str, Path],
    limits: DecodeLimits,
    sandbox: SandboxDecoder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoy = tmp_path / "integrity"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise SystemExit('decoy imported')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    assert sandbox.probe(encoded["flac"].resolve(), limits).codec == "flac"


def test_the_child_has_no_network_where_namespaces_allow(
    encoded: dict[str, Path], limits: DecodeLimits
) -> None:
    decode_file(encoded["wav"], limits=limits)
    shared = sandbox_for(limits)
    assert shared.pid is not None
    if not shared.network_isolated:
        pytest.skip("unprivileged user namespaces are disabled on this host")
    assert os.readlink(f"/proc/{shared.pid}/ns/net") != os.readlink("/proc/self/ns/net")


@pytest.mark.parametrize(
    ("channels", "rate", "detail"),
    [(MAX_SOURCE_CHANNELS + 1, 44_100, "channels"), (1, MIN_SOURCE_RATE_HZ // 2, "sample rate")],
)
def test_odd_channel_counts_and_rates_are_refused_at_probe(
    channels: int, rate: int, detail: str, tmp_path: Path, limits: DecodeLimits
) -> None:
    path = tmp_path / "odd.wav"
    soundfile.write(path, np.zeros((rate // 10, channels), dtype=np.float32), rate)
    with pytest.raises(AudioDecodeError) as caught:
        probe_file(path, limits=limits)
    assert caught.value.reason is DecodeFailure.UNSUPPORTED
    assert detail in str(caught.value)
    error = _assert_refused(path, limits, DecodeFailure.UNSUPPORTED)
    assert detail in error.detail
