"""Resource caps for reading untrusted ERN messages.

ERN messages are small documents (the largest real sample, a boxed set, is under 1 MB and
nests about 12 elements deep), so caps far below what an attacker would need keep the parser
cheap without ever refusing honest deliveries.
"""

from __future__ import annotations

from dataclasses import dataclass

BYTES_PER_MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 32 * BYTES_PER_MIB
"""Largest message accepted, in bytes (32 MiB: 40x the biggest real boxed-set message)."""

DEFAULT_MAX_DEPTH = 64
"""Deepest element nesting accepted, in elements (real ERN nests about 12 deep)."""

PROLOG_SCAN_BYTES = 64 * 1024
"""How many leading bytes are scanned for a DOCTYPE before parsing, in bytes."""


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """Caps applied before and during parsing; raise them only for trusted input."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH

    def __post_init__(self) -> None:
        if self.max_bytes <= 0 or self.max_depth <= 0:
            raise ValueError("ReadLimits values must be positive")


DEFAULT_LIMITS = ReadLimits()
