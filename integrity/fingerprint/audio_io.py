"""Decoding files for fingerprinting through the audio package, at the analysis rate."""

from __future__ import annotations

from pathlib import Path

from integrity.audio import decode_file
from integrity.fingerprint.constants import FINGERPRINT_SAMPLE_RATE
from integrity.fingerprint.extract import Fingerprint, extract


def fingerprint_file(path: Path, *, sandbox: bool = True) -> Fingerprint:
    """Decode straight to FINGERPRINT_SAMPLE_RATE and fingerprint (AudioDecodeError if bad).

    `sandbox=False` only for trusted files (benchmarks, generated fixtures).
    """
    audio = decode_file(Path(path), sample_rate=FINGERPRINT_SAMPLE_RATE, sandbox=sandbox)
    return extract(audio.samples, audio.sample_rate)
