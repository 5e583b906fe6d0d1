"""Fixtures shared by every test: where the shared material is, and a clean settings object."""

from __future__ import annotations

from pathlib import Path

import pytest

from integrity.config import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = (REPO_ROOT.parent / "shared").resolve()
DDEX_SAMPLES_DIR = SHARED_DIR / "ddex" / "samples"
DDEX_XSD_DIR = SHARED_DIR / "ddex" / "xsd"
SHARED_AUDIO_DIR = SHARED_DIR / "audio" / "librosa-data"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the project root (read in place, never copied)."""
    if not SHARED_DIR.is_dir():
        pytest.fail(f"shared material not found at {SHARED_DIR}")
    return SHARED_DIR


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    """Settings pointing every path at a fresh temporary folder (embedded SQLite)."""
    return Settings(data_dir=tmp_path / "data", environment="test")
