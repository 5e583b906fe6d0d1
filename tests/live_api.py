"""`integrity serve` as a real process on 127.0.0.1, for tests that need real HTTP connections
(slow headers, stalled bodies) or a client outside the process (schemathesis).

The server is configured only through INTEGRITY_* variables, as an operator runs it; it is
started in its own process group and stopped by its pid.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.service_support import (
    REPO_ROOT,
    create_accounts,
    free_port,
    make_settings,
    service_environment,
    wait_for,
)

INTEGRITY_BIN = Path(sys.executable).parent / "integrity"
SERVER_START_TIMEOUT_S = 60.0
SERVER_STOP_TIMEOUT_S = 20.0
PROBE_TIMEOUT_S = 2.0


@dataclass
class LiveApi:
    """A running `integrity serve`, with a sender and one key per role in its database."""

    base_url: str
    host: str
    port: int
    keys: dict[str, str]  # role → key; "secret": the sender's webhook secret
    sender: str
    log_path: Path


def start_serve(env: dict[str, str], *, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """`integrity serve` on 127.0.0.1:`port` in its own process group, output to `log_path`."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [str(INTEGRITY_BIN), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@contextmanager
def running_api(
    *,
    database_url: str,
    redis_url: str,
    tmp_path: Path,
    overrides: dict[str, str] | None = None,
) -> Iterator[LiveApi]:
    """Start `integrity serve` on a free port with these settings; stop it afterwards."""
    settings = make_settings(tmp_path, database_url, redis_url)
    sender = f"live-{secrets.token_hex(4)}"
    keys = create_accounts(settings, sender)
    env = service_environment(
        database_url=database_url,
        redis_url=redis_url,
        data_dir=settings.data_dir,
        queue_prefix=settings.queue_prefix,
        overrides=overrides,
    )
    port = free_port()
    log_path = tmp_path / "serve.log"
    process = start_serve(env, port=port, log_path=log_path)
    base_url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"integrity serve exited:\n{log_path.read_text()[-4000:]}")
        try:
            return httpx.get(f"{base_url}/healthz", timeout=PROBE_TIMEOUT_S).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, timeout_s=SERVER_START_TIMEOUT_S, what="integrity serve to answer")
        yield LiveApi(
            base_url=base_url,
            host="127.0.0.1",
            port=port,
            keys=keys,
            sender=sender,
            log_path=log_path,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=SERVER_STOP_TIMEOUT_S)
