"""Public entry points: hash, probe and decode one untrusted file.

Order of defences for every decode: the size is checked before the file is opened; the child
sniffs the container, probes duration/channels/rate and refuses odd or over-long files before
decoding anything; the decode itself stops at the duration cap; the child runs under memory,
CPU, file and time limits and is replaced whenever it fails.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import threading
from pathlib import Path

from integrity.audio._sandbox import CHILD_MODULE, SandboxDecoder
from integrity.audio.constants import (
    DEFAULT_DECODE_MEMORY_LIMIT_BYTES,
    DEFAULT_DECODE_TIMEOUT_S,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DURATION_S,
    HASH_CHUNK_BYTES,
)
from integrity.audio.errors import AudioDecodeError, DecodeFailure
from integrity.audio.records import AudioProbe, DecodedAudio, DecodeLimits, check_output_rate

logger = logging.getLogger(__name__)

_registry_lock = threading.Lock()
_sandboxes: dict[tuple[int, float, str], SandboxDecoder] = {}


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, streamed (audio assets are stored by this key)."""
    digest = hashlib.sha256()
    chunk = bytearray(HASH_CHUNK_BYTES)
    view = memoryview(chunk)
    with Path(path).open("rb", buffering=0) as handle:
        while count := handle.readinto(chunk):
            digest.update(view[:count])
    return digest.hexdigest()


DEFAULT_LIMITS = DecodeLimits(
    max_bytes=DEFAULT_MAX_BYTES,
    max_duration_s=DEFAULT_MAX_DURATION_S,
    timeout_s=DEFAULT_DECODE_TIMEOUT_S,
    memory_limit_bytes=DEFAULT_DECODE_MEMORY_LIMIT_BYTES,
)
"""The caps used when a caller passes none (the deployment's come through Settings)."""


def checked_path(path: Path, limits: DecodeLimits) -> Path:
    """Absolute path of a regular file within the size cap, checked before anything opens it."""
    resolved = Path(path).resolve()
    try:
        stat = resolved.stat()
    except OSError as exc:
        raise AudioDecodeError(path, DecodeFailure.UNREADABLE, exc.strerror or str(exc)) from exc
    if not resolved.is_file():
        raise AudioDecodeError(path, DecodeFailure.UNREADABLE, "not a regular file")
    if stat.st_size > limits.max_bytes:
        raise AudioDecodeError(
            path,
            DecodeFailure.TOO_BIG,
            f"{stat.st_size} bytes, limit {limits.max_bytes} bytes",
        )
    if not os.access(resolved, os.R_OK):
        raise AudioDecodeError(path, DecodeFailure.UNREADABLE, "permission denied")
    return resolved


def sandbox_for(limits: DecodeLimits, module: str = CHILD_MODULE) -> SandboxDecoder:
    """This process's warm child for these limits (one per process, limit set and child
    module: `integrity.analysis` runs its own, which also imports the analysis code)."""
    key = (limits.memory_limit_bytes, limits.timeout_s, module)
    with _registry_lock:
        sandbox = _sandboxes.get(key)
        if sandbox is None:
            sandbox = SandboxDecoder(limits.memory_limit_bytes, limits.timeout_s, module)
            _sandboxes[key] = sandbox
        return sandbox


def shutdown_sandboxes() -> None:
    """Stop every decoder child this process started (also run at interpreter exit)."""
    with _registry_lock:
        sandboxes = list(_sandboxes.values())
        _sandboxes.clear()
    for sandbox in sandboxes:
        sandbox.close()


def probe_file(path: Path, *, limits: DecodeLimits | None = None) -> AudioProbe:
    """Container, codec, duration, channels and rate from the headers, read in the sandbox.

    Raises AudioDecodeError when the file is too big, unrecognised, or its headers already
    break the limits (too long, odd channel count or rate), so callers can refuse it cheaply.
    """
    limits = limits or DEFAULT_LIMITS
    resolved = checked_path(path, limits)
    found = sandbox_for(limits).probe(resolved, limits)
    found.check(Path(path), limits.max_duration_s)
    return found


def decode_file(
    path: Path,
    *,
    sample_rate: int | None = None,
    limits: DecodeLimits | None = None,
    sandbox: bool = True,
) -> DecodedAudio:
    """Decode one file to mono float32 at `sample_rate` (None: native, capped at 48 kHz).

    `sandbox=False` decodes in this process: only for trusted files (benchmarks, fixtures we
    generated ourselves). Raises AudioDecodeError for any bad file; ValueError for a bad
    `sample_rate` and RuntimeError when the sandbox itself cannot start are caller or
    deployment errors, never caused by the file.
    """
    if sample_rate is not None:
        check_output_rate(sample_rate)
    limits = limits or DEFAULT_LIMITS
    try:
        resolved = checked_path(path, limits)
        if sandbox:
            found, samples, rate, backend = sandbox_for(limits).decode(
                resolved, sample_rate, limits
            )
        else:
            from integrity.audio import _decoders  # heavy C-library imports only when used

            found = _decoders.probe(resolved)
            found.check(resolved, limits.max_duration_s)
            decoded = _decoders.decode(
                resolved,
                sample_rate=sample_rate,
                max_duration_s=limits.max_duration_s,
                checked=found,
            )
            found, samples, rate, backend = (
                decoded.probe,
                decoded.samples,
                decoded.sample_rate,
                decoded.backend,
            )
    except AudioDecodeError as exc:
        logger.debug(  # the caller reports the refusal; at INFO it would say it twice
            "audio refused",
            extra={"path": str(path), "reason": exc.reason.value, "detail": exc.detail},
        )
        # Name the file as the caller did, not as resolved inside the sandbox.
        raise AudioDecodeError(path, exc.reason, exc.detail) from None
    logger.debug(
        "decoded audio",
        extra={
            "path": str(path),
            "container": found.container,
            "codec": found.codec,
            "backend": backend,
            "sample_rate": rate,
            "duration_s": round(samples.shape[0] / rate, 3),
        },
    )
    return DecodedAudio(
        samples=samples,
        sample_rate=rate,
        source_sample_rate=found.sample_rate,
        source_channels=found.channels,
        codec=found.codec,
        container=found.container,
    )


def _reset_registry_after_fork() -> None:
    """A forked process starts with an unlocked, empty registry (see SandboxDecoder)."""
    global _registry_lock
    _registry_lock = threading.Lock()
    _sandboxes.clear()


atexit.register(shutdown_sandboxes)
os.register_at_fork(after_in_child=_reset_registry_after_fork)
