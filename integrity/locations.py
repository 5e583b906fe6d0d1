"""Where the embedded default keeps its files, named once (read by the settings and by help).

Why a module of its own: `integrity --help` says where the database and the index live, and it
must say so without importing pydantic-settings (help prints in a fraction of a second).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODELS_DIR = PROJECT_ROOT / "models"
DATABASE_FILE = "integrity.db"
"""The embedded SQLite database inside the data folder."""
INDEX_FILE = "fingerprints"
"""The embedded fingerprint index file inside the data folder."""
DELIVERIES_DIR = "deliveries"
S3_CACHE_DIR = "s3-cache"


def default_data_dir() -> Path:
    """XDG data home, so the embedded default never writes into the working tree."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "integrity"


def current_locations() -> dict[str, str]:
    """The database, index and models locations the environment selects now (for help text;
    the settings object remains the authority when a command runs)."""
    data_dir = Path(os.environ.get("INTEGRITY_DATA_DIR") or default_data_dir())
    database = os.environ.get("INTEGRITY_DATABASE_URL") or f"sqlite:///{data_dir / DATABASE_FILE}"
    index = os.environ.get("INTEGRITY_INDEX_PATH") or str(data_dir / INDEX_FILE)
    if not database.startswith("sqlite"):
        index = "the database (PostgreSQL service mode)"
    return {
        "database": database,
        "index": index,
        "models": os.environ.get("INTEGRITY_MODELS_DIR") or str(SHIPPED_MODELS_DIR),
    }
