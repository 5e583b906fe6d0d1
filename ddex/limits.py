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

LIBXML2_MAX_DEPTH = 256
"""libxml2 refuses deeper nesting during the parse itself unless huge_tree is set (it never
is here), in elements."""

DEFAULT_MAX_DEPTH = LIBXML2_MAX_DEPTH
"""Deepest element nesting accepted, in elements (real ERN nests about 12 deep). At the
libxml2 limit the cap costs nothing; a tighter cap adds a post-parse check (about a quarter
of the parse time)."""

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
        if self.max_depth > LIBXML2_MAX_DEPTH:
            raise ValueError(f"max_depth cannot exceed libxml2's {LIBXML2_MAX_DEPTH}")


DEFAULT_LIMITS = ReadLimits()
