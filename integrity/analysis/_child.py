"""The sandbox child that runs a whole asset's analysis (`integrity.audio._sandbox` plus one op).

Run as `python -m integrity.analysis._child MEMORY_LIMIT_BYTES CPU_LIMIT_S`. It imports the
fingerprint and feature code (scipy, librosa) before the limits apply, then serves the plain
probe/decode requests and `analyse`: decode, measure, fingerprint and features of one file,
all under the child's RLIMIT_AS, CPU limit and the parent's wall-clock timeout.

Reply: the header carries probe, rate, backend, measurements, the feature values, the number
of decodes and the child's peak RSS; the payload is the fingerprint (`Fingerprint.to_bytes`).
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from integrity.audio import AudioDecodeError, DecodeFailure, _decoders, _sandbox
from integrity.audio.records import AudioProbe, Stream

KIB = 1024
"""ru_maxrss is in KiB on Linux (bytes per unit)."""
WARM_UP_SECONDS = 8
"""Length of the synthetic signal analysed once at start-up (s): more than one segment."""
WARM_UP_RATE_HZ = 44_100
"""Its rate (Hz): a common delivery rate, so both resamplers are exercised."""


def analyse(path: Path, request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The `analyse` op: the whole analysis of the file at `path`."""
    from integrity.analysis.passes import analyse_stream

    size = path.stat().st_size  # again: the file may have grown since the parent looked
    if size > int(request["max_bytes"]):
        raise AudioDecodeError(path, DecodeFailure.TOO_BIG, f"{size} bytes")
    max_duration_s = float(request["max_duration_s"])
    found = _decoders.probe(path)
    found.check(path, max_duration_s)

    def decoding(stream_to: Callable[[AudioProbe], Stream]) -> _decoders.Decoded:
        return _decoders.decode(
            path,
            sample_rate=None,
            max_duration_s=max_duration_s,
            checked=found,
            stream_to=stream_to,
        )

    result = analyse_stream(decoding, retain_bytes=int(request["retain_bytes"]))
    fields = {
        "probe": asdict(result.probe),
        "sample_rate": result.sample_rate,
        "backend": result.backend,
        "measurements": asdict(result.measurements),
        "features": {
            "schema_version": result.features.schema_version,
            "values": [float(v) for v in result.features.values],
        },
        "decodes": result.decodes,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * KIB,
    }
    return fields, result.fingerprint.to_bytes()


def _warm_up() -> None:
    """One small analysis before the limits: imports, filter banks and any JIT compilation
    happen now, so a request never pays for them or hits the memory cap with them."""
    import numpy as np

    from integrity.analysis.passes import analyse_stream
    from integrity.audio.records import AudioProbe as Probe

    rng = np.random.default_rng(0)
    samples = (0.1 * rng.standard_normal(WARM_UP_SECONDS * WARM_UP_RATE_HZ)).astype(np.float32)
    probe = Probe("wav", "pcm_f32le", float(WARM_UP_SECONDS), 1, WARM_UP_RATE_HZ, samples.nbytes)

    def decoding(stream_to: Callable[[AudioProbe], Stream]) -> _decoders.Decoded:
        stream_to(probe).emit(samples)
        return _decoders.Decoded(np.zeros(0, np.float32), WARM_UP_RATE_HZ, probe, "warm-up")

    analyse_stream(decoding)


def main() -> None:
    """Import and warm the analysis (so the limits never hit an import), then serve."""
    _warm_up()
    _sandbox.serve(int(sys.argv[1]), int(sys.argv[2]), ops={"analyse": analyse})


if __name__ == "__main__":
    main()
