"""The whole analysis of one untrusted audio file, under one memory and time cap.

Why one cap: decoding ran in the sandbox child, but measuring (~7x the decoded samples) and
fingerprinting (~17x) ran in the worker with no limit, so one long file could take a worker
down (a 4-hour 8-kHz FLAC peaked at 8.1 GB). Now decode, measure, fingerprint and features all
run in the sandbox child (RLIMIT_AS = the memory limit, the wall-clock timeout, the CPU
budget), streamed so that peak memory is linear in duration with a small constant (see
`passes`); the worker receives only the results: measurements, a fingerprint (~100 KB per
minute of audio) and a feature vector.

    result = analyse_file(path, limits=limits)   # AssetAnalysis; AudioDecodeError for a bad file
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from integrity.analysis.passes import (
    DEFAULT_RETAIN_BYTES,
    PER_SECOND_BYTES,
    StreamAnalysis,
    analyse_stream,
)
from integrity.audio import AudioDecodeError, AudioProbe, DecodeFailure, DecodeLimits
from integrity.audio.decode import DEFAULT_LIMITS, checked_path, sandbox_for
from integrity.audio.measurements import AudioMeasurements
from integrity.features import FEATURE_NAMES, FeatureVector
from integrity.fingerprint.extract import HASH_DTYPE, Fingerprint

__all__ = [
    "CHILD_MODULE",
    "DEFAULT_RETAIN_BYTES",
    "PER_SECOND_BYTES",
    "AssetAnalysis",
    "analyse_file",
]

CHILD_MODULE = "integrity.analysis._child"
"""The sandbox child module that serves `analyse` requests."""
MAX_HASHES_PER_SECOND = 2_000
"""Bound on fingerprint hashes per second of audio a child may send (count/s): ~10 peaks/s
make at most 10 x 10 query triplets, so this is 20x the real rate; more is a protocol breach."""
FINGERPRINT_HEADER_BYTES = 64
"""Room for the fingerprint's own header in the payload bound (bytes)."""


@dataclass(frozen=True)
class AssetAnalysis(StreamAnalysis):
    """Everything the catalog stores about one analysed file, and what it cost the child."""

    peak_rss_bytes: int | None = None  # the sandbox child's peak resident set (None in-process)


def analyse_file(
    path: Path,
    *,
    limits: DecodeLimits | None = None,
    retain_bytes: int = DEFAULT_RETAIN_BYTES,
    sandbox: bool = True,
) -> AssetAnalysis:
    """Decode, measure, fingerprint and describe one file; AudioDecodeError for a bad file.

    `sandbox=False` runs in this process: only for trusted files (benchmarks, tests).
    """
    limits = limits or DEFAULT_LIMITS
    try:
        resolved = checked_path(path, limits)
        if not sandbox:
            return _in_process(resolved, limits, retain_bytes)
        max_payload = FINGERPRINT_HEADER_BYTES + HASH_DTYPE.itemsize * math.ceil(
            MAX_HASHES_PER_SECOND * (limits.max_duration_s + 1.0)
        )
        header, payload = sandbox_for(limits, CHILD_MODULE).call(
            "analyse", resolved, limits, {"retain_bytes": retain_bytes}, max_payload
        )
    except AudioDecodeError as exc:
        raise AudioDecodeError(path, exc.reason, exc.detail) from None
    features = header["features"]
    values = np.array([np.nan if v is None else v for v in features["values"]], dtype=np.float32)
    if values.shape[0] != len(FEATURE_NAMES):
        raise AudioDecodeError(path, DecodeFailure.CRASHED, "protocol violation: feature count")
    return AssetAnalysis(
        probe=AudioProbe(**header["probe"]),
        sample_rate=int(header["sample_rate"]),
        backend=str(header["backend"]),
        measurements=AudioMeasurements(**header["measurements"]),
        fingerprint=Fingerprint.from_bytes(payload),
        features=FeatureVector(FEATURE_NAMES, values, features["schema_version"]),
        decodes=int(header["decodes"]),
        peak_rss_bytes=int(header["peak_rss_bytes"]),
    )


def _in_process(path: Path, limits: DecodeLimits, retain_bytes: int) -> AssetAnalysis:
    from integrity.audio import _decoders

    found = _decoders.probe(path)
    found.check(path, limits.max_duration_s)
    result = analyse_stream(
        lambda stream_to: _decoders.decode(
            path,
            sample_rate=None,
            max_duration_s=limits.max_duration_s,
            checked=found,
            stream_to=stream_to,
        ),
        retain_bytes=retain_bytes,
    )
    return AssetAnalysis(**{f.name: getattr(result, f.name) for f in fields(result)})
