"""The layer rules import-linter cannot see: one commit point, settings read only at the edges.

import-linter (contracts in pyproject.toml, run by scripts/test) checks who imports whom; these
walk the syntax trees for the two call rules and the contracts themselves, so a broken rule
fails the suite with the file and line.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGES = ("integrity", "workers")
COMMIT_POINT = Path("integrity/db/session.py")
SETTINGS_MODULE = Path("integrity/config.py")
EDGES = (Path("integrity/cli"), Path("integrity/api"), Path("workers"))


def _sources() -> list[Path]:
    return sorted(
        path.relative_to(REPO_ROOT)
        for package in PACKAGES
        for path in (REPO_ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def _calls(path: Path, attribute: str) -> list[int]:
    """Lines that call `something.attribute(...)` or `attribute(...)`."""
    tree = ast.parse((REPO_ROOT / path).read_text(), filename=str(path))
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == attribute:
                lines.append(node.lineno)
    return lines


def test_only_session_scope_commits() -> None:
    offenders = [
        f"{path}:{line}"
        for path in _sources()
        if path != COMMIT_POINT
        for line in _calls(path, "commit")
    ]
    assert offenders == [], "commit() outside db.session.session_scope"


def test_settings_are_read_only_at_the_edges() -> None:
    offenders = [
        f"{path}:{line}"
        for path in _sources()
        if path != SETTINGS_MODULE and not any(path.is_relative_to(edge) for edge in EDGES)
        for line in _calls(path, "get_settings")
    ]
    assert offenders == [], "get_settings() outside integrity/cli, integrity/api and workers"


def test_import_contracts_hold() -> None:
    linter = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(linter)], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "0 broken" in result.stdout
