"""schemathesis against the live OpenAPI of `integrity serve` on PostgreSQL and Redis: every
operation, generated valid and invalid requests, no server error and no status code the
document does not list (the bounded run takes a minute or two on two cores)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live_api import running_api
from tests.service_support import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

ST_BIN = Path(sys.executable).parent / "st"
MAX_EXAMPLES = int(os.environ.get("INTEGRITY_FUZZ_MAX_EXAMPLES", "15"))  # per operation
SEED = int(os.environ.get("INTEGRITY_FUZZ_SEED", "20261202"))  # reproducible runs
FUZZ_TIMEOUT_S = 900
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)
# Generous limits for the fuzzing key: the run should exercise the routes, not the limiter
# (429 is still documented everywhere and tested in test_rate_limits).
FUZZ_SETTINGS = {
    "INTEGRITY_API_RATE_LIMIT_PER_MINUTE": "1000000",
    "INTEGRITY_API_RATE_BURST": "1000000",
    "INTEGRITY_API_UNKNOWN_KEY_RATE_PER_MINUTE": "1000000",
    "INTEGRITY_API_UNKNOWN_KEY_BURST": "1000000",
}


UPLOADER_OPERATIONS = r"^/v1/(deliveries|tracks/\{track_id\}(/appeals)?$)"


def _fuzz(base_url: str, key: str, *selection: str, workdir: Path) -> subprocess.CompletedProcess:
    command = [
        str(ST_BIN),
        "run",
        f"{base_url}/openapi.json",
        *selection,
        "--checks",
        CHECKS,
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "2",
        "--header",
        f"Authorization: Bearer {key}",
        "--request-timeout",
        "30",
        "--no-color",
        "--suppress-health-check",
        "all",
    ]
    return subprocess.run(
        command,
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=FUZZ_TIMEOUT_S,
        check=False,
    )


def _summary(output: str) -> str:
    """The run's SUMMARY section (operations, phases, test cases, failures)."""
    return output[output.rfind("SUMMARY") :] if "SUMMARY" in output else output[-6000:]


def test_schemathesis_finds_no_server_error_and_no_undocumented_status(
    pg_database_url, redis_server, tmp_path
):
    with running_api(
        database_url=pg_database_url,
        redis_url=redis_server.url,
        tmp_path=tmp_path,
        overrides=FUZZ_SETTINGS,
    ) as api:
        # Every operation as an admin; then the uploader's own routes with an uploader key.
        runs = {
            "admin": _fuzz(api.base_url, api.keys["admin"], workdir=tmp_path),
            "uploader": _fuzz(
                api.base_url,
                api.keys["uploader"],
                "--include-path-regex",
                UPLOADER_OPERATIONS,
                workdir=tmp_path,
            ),
        }
        server_log = api.log_path.read_text(errors="replace")
    for role, result in runs.items():
        summary = _summary(result.stdout)
        print(f"schemathesis ({role} key):\n{summary}")  # kept for the record with -s / -rA
        # A failed check (server error, undocumented status, schema mismatch) always fails the
        # test. schemathesis's own generator crashing on CPython 3.11 ("Runtime Error", e.g.
        # "AST constructor recursion depth mismatch" in its coverage phase) is not a finding
        # about the API: it is printed with the summary, and every other test case still ran.
        assert "Failures:" not in summary, f"{result.stdout[-8000:]}\n{result.stderr[-2000:]}"
        internal_only = "Runtime Error" in summary and "Server error" not in summary
        assert result.returncode == 0 or internal_only, result.stdout[-8000:]
        assert re.search(r"Test cases:\s+\d+ generated, \d+ passed", summary), summary
    assert "Traceback" not in server_log, server_log[-4000:]
