"""Decoding untrusted audio safely and fast, and measuring it (pure: paths in, records out).

Decode once per file, at the highest rate any consumer needs, and hand the same
`DecodedAudio` to everyone: `audio.resampled(11025)` for fingerprints, `audio.resampled(22050)`
for features, `audio.samples` for full band. Samples are mono (the mean of the source
channels), float32, C-contiguous and read-only.

    limits = DecodeLimits(max_bytes=..., max_duration_s=..., timeout_s=..., memory_limit_bytes=...)
    sha = sha256_file(path)                    # streamed, before anything parses the file
    audio = decode_file(path, limits=limits)   # native rate, capped at 48 kHz; sandboxed
    stats = measure(audio)                     # LUFS, peak, silence, clipping

Every bad file raises AudioDecodeError (`.path`, `.reason`: a DecodeFailure such as
"corrupt", "too_long", "timeout"); nothing else escapes for a file's sake.

Safety model (see `_sandbox`): size checked before opening; container recognised from magic
bytes and only that FFmpeg demuxer allowed, with the `file` protocol only; headers probed and
odd or over-long files refused before decoding; decoding stops at the duration cap; all
parsing happens in a warm child process under RLIMIT_AS/CPU/FSIZE=0/NOFILE/CORE=0 that is
killed on a wall-clock timeout and replaced after any failure, and, where the host allows
unprivileged user namespaces, in its own empty network namespace. Not covered: the child can
still read what the service user can read (no seccomp or mount namespace); run the service
with least privilege.

`measure` is loaded on first use so the sandbox child, which imports this package, never pays
for scipy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from integrity.audio.decode import decode_file, probe_file, sha256_file, shutdown_sandboxes
from integrity.audio.errors import AudioDecodeError, DecodeFailure
from integrity.audio.records import AudioProbe, DecodedAudio, DecodeLimits

if TYPE_CHECKING:
    from integrity.audio.measurements import (
        AudioMeasurements,
        integrated_loudness,
        k_weighting_sos,
        measure,
    )

__all__ = [
    "AudioDecodeError",
    "AudioMeasurements",
    "AudioProbe",
    "DecodeFailure",
    "DecodeLimits",
    "DecodedAudio",
    "decode_file",
    "integrated_loudness",
    "k_weighting_sos",
    "measure",
    "probe_file",
    "sha256_file",
    "shutdown_sandboxes",
]

_LAZY = frozenset({"AudioMeasurements", "integrated_loudness", "k_weighting_sos", "measure"})


def __getattr__(name: str) -> Any:
    """Import the measurement module (scipy) only when one of its names is used."""
    if name in _LAZY:
        from integrity.audio import measurements

        return getattr(measurements, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
