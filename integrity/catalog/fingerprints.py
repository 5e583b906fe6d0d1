"""Where the catalog's fingerprints live: the embedded index file, or PostgreSQL in service mode.

The fingerprint engine knows only the index interface and its embedded file; the PostgreSQL
backend needs SQLAlchemy, so it lives here, and this is the one place that picks a backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from integrity.fingerprint.embedded import EmbeddedIndex
from integrity.fingerprint.index import FingerprintIndex

POSTGRES_SCHEMES = ("postgresql:", "postgresql+", "postgres:")


def open_index(location: str | Path, **kwargs: Any) -> FingerprintIndex:
    """A path opens (or creates) the embedded file; a postgresql:// URL the PostgreSQL backend.

    Extra keyword arguments go to the backend (e.g. `schema=` for PostgreSQL, `create=False`
    for the embedded file).
    """
    text = str(location)
    if text.startswith(POSTGRES_SCHEMES):
        from integrity.catalog.postgres_index import PostgresIndex

        return PostgresIndex(text, **kwargs)
    return EmbeddedIndex(Path(text), **kwargs)
