"""Plain records passed across the audio package boundary: limits in, probes and samples out."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import soxr

from integrity.audio.constants import (
    MAX_NATIVE_OUTPUT_RATE_HZ,
    MAX_OUTPUT_RATE_HZ,
    MAX_SOURCE_CHANNELS,
    MAX_SOURCE_RATE_HZ,
    MIN_OUTPUT_RATE_HZ,
    MIN_SOURCE_RATE_HZ,
    SOXR_QUALITY,
)
from integrity.audio.errors import AudioDecodeError, DecodeFailure

if TYPE_CHECKING:
    from pathlib import Path


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Caps applied to one untrusted file: size before opening, duration before and during
    decoding, and the sandbox's wall-clock and address-space limits."""

    max_bytes: int
    max_duration_s: float
    timeout_s: float
    memory_limit_bytes: int

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_duration_s", "timeout_s", "memory_limit_bytes"):
            if not getattr(self, name) > 0:
                raise ValueError(f"DecodeLimits.{name} must be positive")



@dataclass(frozen=True)
class Stream:
    """Where a streamed decode goes: `emit` gets each block of mono float32 samples at the
    output rate (a view, valid only during the call), `channels` is the source's count."""

    emit: Callable[[np.ndarray], None]
    channels: int


def output_rate(probe: AudioProbe, sample_rate: int | None) -> int:
    """The rate a decode delivers: the request, or the native rate capped at 48 kHz."""
    if sample_rate is not None:
        return sample_rate
    return min(probe.sample_rate, MAX_NATIVE_OUTPUT_RATE_HZ)



@dataclass(frozen=True, slots=True)
class AudioProbe:
    """What a file's headers claim, read without decoding any audio.

    `duration_s` is None when the container does not say (then the decode itself is capped).
    """

    container: str
    codec: str
    duration_s: float | None
    channels: int
    sample_rate: int
    size_bytes: int

    def check(self, path: Path, max_duration_s: float) -> None:
        """Refuse over-long or odd files before any full decode; raises AudioDecodeError."""
        if self.duration_s is not None and self.duration_s > max_duration_s:
            raise AudioDecodeError(
                path,
                DecodeFailure.TOO_LONG,
                f"header says {self.duration_s:.1f} s, limit {max_duration_s:.1f} s",
            )
        if not 1 <= self.channels <= MAX_SOURCE_CHANNELS:
            raise AudioDecodeError(path, DecodeFailure.UNSUPPORTED, f"{self.channels} channels")
        if not MIN_SOURCE_RATE_HZ <= self.sample_rate <= MAX_SOURCE_RATE_HZ:
            raise AudioDecodeError(
                path, DecodeFailure.UNSUPPORTED, f"sample rate {self.sample_rate} Hz"
            )


def check_output_rate(sample_rate: int) -> None:
    """A caller asking for an absurd rate is a programming error, not a bad file."""
    if not MIN_OUTPUT_RATE_HZ <= sample_rate <= MAX_OUTPUT_RATE_HZ:
        raise ValueError(
            f"sample_rate must be within {MIN_OUTPUT_RATE_HZ}..{MAX_OUTPUT_RATE_HZ} Hz, "
            f"got {sample_rate}"
        )


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Mono float32 resampling with libsoxr (the one resampler used everywhere here)."""
    if from_rate == to_rate:
        return samples
    out = soxr.resample(samples, from_rate, to_rate, quality=SOXR_QUALITY)
    return np.ascontiguousarray(out, dtype=np.float32)


@dataclass(eq=False)
class DecodedAudio:
    """Mono float32 samples of one file, decoded once and shared by every consumer.

    The arrays are read-only: fingerprinting, features and measurements all see the same
    buffer, so none of them may change it in place (copy first if you must).
    """

    samples: np.ndarray
    sample_rate: int
    source_sample_rate: int
    source_channels: int
    codec: str
    container: str
    _cache: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        # A read-only view: the caller's own array (if no copy was needed) stays writable.
        samples = np.ascontiguousarray(self.samples, dtype=np.float32).view()
        if samples.ndim != 1:
            raise ValueError(f"samples must be mono (1-D), got shape {samples.shape}")
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        samples.flags.writeable = False
        self.samples = samples

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (to hand to another process) without the lock; the cache goes along."""
        state = {name: getattr(self, name) for name in self.__dataclass_fields__}
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        for array in (self.samples, *self._cache.values()):
            array.flags.writeable = False

    @property
    def duration_s(self) -> float:
        """Length of the decoded audio (s)."""
        return len(self.samples) / self.sample_rate

    def resampled(self, rate: int) -> np.ndarray:
        """These samples at `rate` Hz (read-only, computed once per rate and cached)."""
        check_output_rate(rate)
        if rate == self.sample_rate:
            return self.samples
        with self._lock:
            cached = self._cache.get(rate)
            if cached is None:
                cached = resample(self.samples, self.sample_rate, rate)
                cached.flags.writeable = False
                self._cache[rate] = cached
        return cached
