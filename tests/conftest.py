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


# The longest files (measured: `scripts/test --durations=40`), started first so that a parallel
# run (pytest-xdist, a file to a process) never ends with one process waiting on one of them.
LONGEST_FIRST = (
    "tests/unit/detection/test_train_end_to_end.py",
    "tests/e2e/console/test_console_browser.py",
    "tests/e2e/service/test_recovery.py",
    "tests/e2e/service/test_cli_processes.py",
    "tests/e2e/cli/test_cli_newcomer.py",
    "tests/e2e/service/test_service_e2e.py",
    "tests/integration/service/test_openapi_fuzz.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the longest files first, then the rest in their usual order (a stable sort)."""
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}

    def key(item: pytest.Item) -> int:
        path = Path(str(item.path)).resolve().relative_to(REPO_ROOT).as_posix()
        return rank.get(path, len(LONGEST_FIRST))

    items.sort(key=key)
