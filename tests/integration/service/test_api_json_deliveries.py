"""JSON deliveries naming audio by URL: fetched only from allow-listed hosts, without
redirects, under the size cap, before the 202."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from integrity.db.models import Delivery
from integrity.db.session import create_db_engine, session_factory
from tests.service_support import (
    TrackSpec,
    make_ern,
    random_isrc,
    signed_headers,
    unique_audio,
)

pytestmark = pytest.mark.postgres

SMALL_AUDIO_CAP_BYTES = 1024 * 1024


class FileServer:
    """A tiny HTTP server on 127.0.0.1 serving fixed bodies, and one redirect."""

    def __init__(self, files: dict[str, bytes]) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", f"{outer.base}/a.wav")
                    self.end_headers()
                    return
                body = files.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def files_server(service) -> Iterator[FileServer]:
    files = {"/a.wav": unique_audio(), "/big.wav": b"\0" * (SMALL_AUDIO_CAP_BYTES + 1)}
    with FileServer(files) as server:
        service.settings.fetch_allowed_hosts = [f"127.0.0.1:{server.port}"]
        service.settings.fetch_allow_http = True
        service.settings.audio_max_bytes = SMALL_AUDIO_CAP_BYTES
        server.files = files
        yield server


def _post(service, document: dict):
    body = json.dumps(document).encode()
    headers = signed_headers(
        secret=service.secret,
        body=body,
        content_type="application/json",
        key=service.uploader_key,
    )
    return service.client.post("/v1/deliveries", content=body, headers=headers)


def _document(url: str, name: str = "a.wav") -> dict:
    isrc = random_isrc("J01")
    message = make_ern(f"MSG-{secrets.token_hex(6)}", [TrackSpec(isrc, "Open Water", name)])
    return {"message": message.decode(), "files": [{"name": name, "url": url}]}


def test_allow_listed_urls_are_fetched_and_stored_before_the_202(service, files_server):
    response = _post(service, _document(f"{files_server.base}/a.wav"))
    assert response.status_code == 202, response.text
    engine = create_db_engine(service.settings.database_url)
    with session_factory(engine)() as session:
        delivery = session.get(Delivery, response.json()["delivery_id"])
    engine.dispose()
    stored = Path(delivery.storage_path)
    assert (stored / "a.wav").read_bytes() == files_server.files["/a.wav"]
    assert (stored / "message.xml").read_bytes().startswith(b"<?xml")


@pytest.mark.parametrize(
    ("url", "status", "fragment"),
    [
        ("http://example.org/a.wav", 422, "allow-list"),
        ("ftp://127.0.0.1/a.wav", 422, "scheme"),
        ("{base}/redirect", 422, "HTTP 302"),
        ("{base}/missing.wav", 422, "HTTP 404"),
        ("{base}/big.wav", 413, "limit"),
        ("http://user:pw@127.0.0.1/a.wav", 422, "credentials"),
    ],
)
def test_urls_off_the_allow_list_redirects_and_oversized_files_are_refused(
    service, files_server, url, status, fragment
):
    response = _post(service, _document(url.format(base=files_server.base)))
    assert response.status_code == status, response.text
    assert response.json()["field"] == "files[0].url"
    assert fragment in response.json()["detail"]
    leftovers = [p for p in service.settings.storage_dir.iterdir() if not p.name.startswith(".")]
    assert leftovers == []


def test_malformed_json_deliveries_name_the_field(service, files_server):
    assert _post(service, {"files": []}).json()["field"] == "message"
    bad_name = _document(f"{files_server.base}/a.wav", name="../a.wav")
    assert _post(service, bad_name).json()["field"] == "files[0].name"
    body = b"{not json"
    headers = signed_headers(
        secret=service.secret,
        body=body,
        content_type="application/json",
        key=service.uploader_key,
    )
    response = service.client.post("/v1/deliveries", content=body, headers=headers)
    assert response.status_code == 400 and response.json()["field"] == "body"
