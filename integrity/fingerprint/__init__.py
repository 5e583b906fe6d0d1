"""Audio fingerprints that survive pitch, tempo and speed changes, and the index to match them.

Pure: samples in, fingerprints and matches out. `extract` makes a `Fingerprint`; the embedded
index file and the PostgreSQL backend (`integrity.catalog`) share one interface.
"""

from __future__ import annotations

from integrity.fingerprint.constants import FINGERPRINT_SAMPLE_RATE, FINGERPRINT_VERSION
from integrity.fingerprint.evidence import duplicate_evidence
from integrity.fingerprint.extract import Fingerprint, FingerprintError, extract
from integrity.fingerprint.index import (
    DEFAULT_QUERY_LIMIT,
    FingerprintIndex,
    FingerprintIndexError,
    IndexedTrack,
)
from integrity.fingerprint.matcher import Match

__all__ = [
    "DEFAULT_QUERY_LIMIT",
    "FINGERPRINT_SAMPLE_RATE",
    "FINGERPRINT_VERSION",
    "Fingerprint",
    "FingerprintError",
    "FingerprintIndex",
    "FingerprintIndexError",
    "IndexedTrack",
    "Match",
    "duplicate_evidence",
    "extract",
]
