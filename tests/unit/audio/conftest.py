"""Audio fixtures generated at test time in a session temp folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from integrity.audio import DecodeLimits, shutdown_sandboxes

from .signals import (
    ALL_FORMATS,
    FIXTURE_RATE_HZ,
    FIXTURE_SECONDS,
    GIBIBYTE,
    MEBIBYTE,
    tone,
    write_format,
)


@pytest.fixture(scope="session")
def fixture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audio")


@pytest.fixture(scope="session")
def encoded(fixture_dir: Path) -> dict[str, Path]:
    """FIXTURE_SECONDS of stereo 44.1 kHz tone in every supported format."""
    samples = tone(FIXTURE_SECONDS)
    return {
        name: write_format(name, samples, FIXTURE_RATE_HZ, fixture_dir, f"tone_{name}")
        for name in ALL_FORMATS
    }


@pytest.fixture(scope="session")
def limits() -> DecodeLimits:
    """Generous limits shared by most tests (one warm sandbox child serves them all)."""
    return DecodeLimits(
        max_bytes=256 * MEBIBYTE,
        max_duration_s=3600.0,
        timeout_s=30.0,
        memory_limit_bytes=4 * GIBIBYTE,
    )


@pytest.fixture(scope="session", autouse=True)
def _stop_sandboxes() -> Iterator[None]:
    yield
    shutdown_sandboxes()
