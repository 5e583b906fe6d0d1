"""The operator's commands as real processes: `integrity serve --host --port` and `integrity
worker`, a signed delivery over real HTTP on 127.0.0.1, and the keys and sender made by
`integrity senders add` / `integrity keys create` (their printed JSON is the contract)."""

from __future__ import annotations

import json
import secrets
import subprocess

import httpx
import pytest

from tests.live_api import INTEGRITY_BIN, start_serve
from tests.service_support import (
    REPO_ROOT,
    TEST_SENDER_DPID,
    TrackSpec,
    WorkerProcess,
    free_port,
    make_ern,
    multipart_body,
    random_isrc,
    service_environment,
    signed_headers,
    unique_audio,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

COMMAND_TIMEOUT_S = 60
SERVER_START_TIMEOUT_S = 60.0
RUN_TIMEOUT_S = 180.0


def _integrity(env: dict[str, str], *args: str) -> dict:
    result = subprocess.run(
        [str(INTEGRITY_BIN), *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


class CliWorker(WorkerProcess):
    """The worker as an operator starts it: `integrity worker --concurrency 1`."""

    def command(self) -> list[str]:
        return [str(INTEGRITY_BIN), "worker", "--concurrency", "1"]


def test_serve_and_worker_commands_process_a_signed_delivery(
    pg_database_url, redis_server, tmp_path
):
    prefix = f"cli{secrets.token_hex(3)}."
    env = service_environment(
        database_url=pg_database_url,
        redis_url=redis_server.url,
        data_dir=tmp_path / "data",
        queue_prefix=prefix,
    )
    sender = f"cli-sender-{secrets.token_hex(3)}"
    made = _integrity(env, "senders", "add", sender, "--dpid", TEST_SENDER_DPID, "--json")
    assert made["sender"] == sender and made["secret"].startswith("whsec_")
    uploader = _integrity(env, "keys", "create", "--role", "uploader", "--sender", sender, "--json")
    moderator = _integrity(env, "keys", "create", "--role", "moderator", "--json")

    port = free_port()
    server = start_serve(env, port=port, log_path=tmp_path / "serve.log")
    worker = CliWorker(env=env, log_path=tmp_path / "worker.log")
    base = f"http://127.0.0.1:{port}"
    try:

        def ready():
            try:
                return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, timeout_s=SERVER_START_TIMEOUT_S, what="integrity serve to be ready")
        worker.start()
        isrc = random_isrc("C01")
        message = make_ern(
            f"MSG-{secrets.token_hex(6)}", [TrackSpec(isrc, "Evening Tide", "tide.wav")]
        )
        body, content_type = multipart_body(message, {"tide.wav": unique_audio()})
        headers = signed_headers(
            secret=made["secret"], body=body, content_type=content_type, key=uploader["key"]
        )
        response = httpx.post(f"{base}/v1/deliveries", content=body, headers=headers, timeout=30)
        assert response.status_code == 202, response.text
        delivery_id = response.json()["delivery_id"]
        auth = {"authorization": f"Bearer {moderator['key']}"}

        def finished():
            view = httpx.get(f"{base}/v1/deliveries/{delivery_id}", headers=auth, timeout=10)
            document = view.json()
            return document if document["status"] in ("completed", "failed") else None

        view = wait_for(finished, timeout_s=RUN_TIMEOUT_S, what="the delivery to finish")
        assert view["status"] == "completed"
        assert [(t["isrc"], t["state"]) for t in view["tracks"]] == [(isrc, "scored")]
        openapi = httpx.get(f"{base}/openapi.json", timeout=10).json()
        assert "/v1/filter" in openapi["paths"] and "/v1/deliveries" in openapi["paths"]
    finally:
        worker.stop()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
