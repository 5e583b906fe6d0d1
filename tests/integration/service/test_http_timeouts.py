"""Slow and stalled requests against a real `integrity serve` (raw sockets on 127.0.0.1): no
client holds a connection open by sending its headers or its body slowly, or not at all."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tests.live_api import LiveApi, running_api

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

HEADER_TIMEOUT_S = 1.0
BODY_IDLE_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 3.0
SLACK_S = 4.0  # a loaded two-core machine answers late, but not this late
NEVER_S = 20.0  # what a client would wait without the limits: the test's own cap
TRICKLE_INTERVAL_S = 0.3  # well inside the idle timeout: only the deadlines can cut it


@pytest.fixture(scope="module")
def api(pg_database_url, redis_server, tmp_path_factory) -> Iterator[LiveApi]:
    with running_api(
        database_url=pg_database_url,
        redis_url=redis_server.url,
        tmp_path=tmp_path_factory.mktemp("timeouts"),
        overrides={
            "INTEGRITY_API_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
            "INTEGRITY_API_BODY_IDLE_TIMEOUT_S": str(BODY_IDLE_TIMEOUT_S),
            "INTEGRITY_API_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        },
    ) as live:
        yield live


def _connect(api: LiveApi) -> socket.socket:
    sock = socket.create_connection((api.host, api.port), timeout=NEVER_S)
    sock.settimeout(NEVER_S)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (or the test's cap passes)."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        pytest.fail(f"the server kept the connection open for {NEVER_S} s: {received!r}")
    except ConnectionResetError:
        pass
    return received


def _trickle(sock: socket.socket, data: bytes, *, until_s: float) -> None:
    """Send `data` a byte at a time, each well within the idle timeout, for `until_s`."""
    ends = time.monotonic() + until_s
    for byte in data:
        if time.monotonic() > ends:
            return
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return  # the server closed the connection: what the test waits for
        time.sleep(TRICKLE_INTERVAL_S)


def _filter_request_head(content_length: int) -> bytes:
    return (
        b"POST /v1/filter HTTP/1.1\r\nHost: localhost\r\ncontent-type: application/json\r\n"
        b"content-length: %d\r\n\r\n" % content_length
    )


def test_a_connection_that_sends_nothing_is_answered_408_and_closed(api):
    started = time.monotonic()
    with _connect(api) as sock:
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"field": "headers"' in answer
    assert time.monotonic() - started < HEADER_TIMEOUT_S + SLACK_S


def test_headers_sent_slowly_are_cut_at_the_header_deadline(api):
    started = time.monotonic()
    with _connect(api) as sock:
        request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 200
        _trickle(sock, request, until_s=HEADER_TIMEOUT_S + SLACK_S)
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < HEADER_TIMEOUT_S + 2 * SLACK_S


def test_a_kept_alive_connection_gets_the_same_deadline_for_its_next_request(api):
    with _connect(api) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        first = b""
        while not first.endswith(b'{"status":"ok"}'):
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: loc")  # then nothing more
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < HEADER_TIMEOUT_S + SLACK_S


def test_a_stalled_body_is_answered_408_naming_the_body(api):
    started = time.monotonic()
    with _connect(api) as sock:
        sock.sendall(_filter_request_head(200) + b'{"tracks": [')
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b'"field":"body"' in answer.replace(b" ", b"")
    assert time.monotonic() - started < BODY_IDLE_TIMEOUT_S + SLACK_S


def test_a_body_trickled_inside_the_idle_timeout_is_cut_at_the_body_deadline(api):
    started = time.monotonic()
    with _connect(api) as sock:
        sock.sendall(_filter_request_head(4000))
        _trickle(sock, b" " * 4000, until_s=BODY_TIMEOUT_S + SLACK_S)
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"not complete within" in answer
    assert time.monotonic() - started < BODY_TIMEOUT_S + 2 * SLACK_S
