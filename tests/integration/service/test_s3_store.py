"""The S3 delivery store end to end: the webhook writes objects to a real S3-compatible server
(moto's, over HTTP) before it answers 202, a Celery worker in its own process downloads and
processes them, and a store that is missing or unreachable answers 503 with nothing recorded."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from integrity.api import create_app
from integrity.catalog import storage
from integrity.config import Settings
from integrity.db.models import Delivery
from integrity.db.service_models import DeadLetter, WebhookReceipt
from integrity.db.session import create_db_engine, session_factory
from tests import s3_support
from tests.s3_support import S3Server, s3_settings
from tests.service_support import (
    Service,
    TrackSpec,
    free_port,
    fresh_pg_database,
    make_ern,
    multipart_body,
    random_isrc,
    signed_headers,
    unique_audio,
    wait_for,
    worker_for,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

s3_server = s3_support.s3_server  # the session's moto server, as a fixture of this module

PROCESSING_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def pg_database_url() -> Iterator[str]:
    """A database of this module's own: its deliveries live in buckets only these tests reach,
    so another module's rescan of "all" must never meet them."""
    with fresh_pg_database() as url:
        yield url


def _rows(service: Service, query):
    engine = create_db_engine(service.settings.database_url)
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(query))
    finally:
        engine.dispose()


@contextmanager
def _api(service: Service, settings: Settings) -> Iterator[Service]:
    """The same database, Redis, sender and keys, served by an app with other storage settings."""
    with TestClient(create_app(settings)) as client:
        yield dataclasses.replace(service, client=client, settings=settings)


@dataclasses.dataclass(frozen=True)
class Upload:
    """A signed one-track delivery as the distributor sends it."""

    body: bytes
    headers: dict[str, str]
    message: bytes
    isrc: str


def _signed_upload(service: Service, audio: bytes) -> Upload:
    isrc = random_isrc("S3T")
    message = make_ern(f"MSG-{secrets.token_hex(6)}", [TrackSpec(isrc, "Robin", "robin.wav")])
    body, content_type = multipart_body(message, {"robin.wav": audio})
    headers = signed_headers(
        secret=service.secret, body=body, content_type=content_type, key=service.uploader_key
    )
    return Upload(body=body, headers=headers, message=message, isrc=isrc)


def _delivery_folders(storage_dir: Path | None) -> list[str]:
    """Delivery folders under a storage_dir (the spool folder aside)."""
    if storage_dir is None or not storage_dir.exists():
        return []
    return [p.name for p in storage_dir.iterdir() if not p.name.startswith(".")]


@pytest.fixture()
def bucket(s3_server: S3Server) -> str:
    return s3_server.new_bucket()


@pytest.fixture()
def s3_service(service: Service, s3_server: S3Server, bucket: str) -> Iterator[Service]:
    settings = s3_settings(service.settings, endpoint_url=s3_server.endpoint_url, bucket=bucket)
    with _api(service, settings) as api:
        yield api


def _worker_env(s3_server: S3Server, bucket: str, tmp_path) -> dict[str, str]:
    """A worker that shares no folder with the API: everything it reads comes from S3."""
    return {
        **s3_server.environment(bucket),
        "INTEGRITY_STORAGE_DIR": str(tmp_path / "worker-storage"),
        "INTEGRITY_S3_CACHE_DIR": str(tmp_path / "worker-cache"),
    }


def test_a_signed_delivery_is_in_the_bucket_before_the_202(s3_service, s3_server, bucket):
    audio = unique_audio()
    upload = _signed_upload(s3_service, audio)
    response = s3_service.client.post("/v1/deliveries", content=upload.body, headers=upload.headers)
    assert response.status_code == 202, response.text
    delivery_id = response.json()["delivery_id"]
    delivery = next(d for d in _rows(s3_service, select(Delivery)) if d.id == delivery_id)
    bucket_, prefix = storage.parse_s3_location(delivery.storage_path)
    assert bucket_ == bucket and prefix.startswith("deliveries/")
    objects = s3_server.keys(bucket)
    assert objects[prefix + "robin.wav"] == audio
    assert objects[prefix + "message.xml"].startswith(b"<?xml")
    assert prefix + storage.MANIFEST_NAME in objects
    # The S3 objects are the durable copy: the API kept neither the folder nor the spool.
    assert _delivery_folders(s3_service.settings.storage_dir) == []
    assert list((s3_service.settings.storage_dir / ".incoming").iterdir()) == []
    # A replay of the webhook id answers the same delivery without a second upload.
    again = s3_service.client.post("/v1/deliveries", content=upload.body, headers=upload.headers)
    assert again.json() == {"delivery_id": delivery_id, "duplicate": True}
    assert len(s3_server.keys(bucket)) == len(objects)


def test_a_worker_downloads_and_processes_a_delivery_stored_in_s3(
    s3_service, s3_server, bucket, tmp_path
):
    audio = unique_audio()
    upload = _signed_upload(s3_service, audio)
    response = s3_service.client.post("/v1/deliveries", content=upload.body, headers=upload.headers)
    assert response.status_code == 202, response.text
    delivery_id = response.json()["delivery_id"]
    location = next(
        d.storage_path for d in _rows(s3_service, select(Delivery)) if d.id == delivery_id
    )
    # What a worker host materialises is byte for byte what was uploaded.
    reader = storage.store_for(
        s3_settings(
            Settings(data_dir=tmp_path / "reader", environment="test"),
            endpoint_url=s3_server.endpoint_url,
            bucket=bucket,
        )
    )
    folder = reader.materialise(Delivery(storage_path=location, message_filename="message.xml"))
    assert (folder / "robin.wav").read_bytes() == audio
    assert (folder / "message.xml").read_bytes() == upload.message

    worker = worker_for(
        s3_service.settings,
        tmp_path / "worker.log",
        overrides=_worker_env(s3_server, bucket, tmp_path),
    )
    worker.start()
    try:
        moderator = s3_service.auth(s3_service.moderator_key)

        def finished():
            view = s3_service.client.get(f"/v1/deliveries/{delivery_id}", headers=moderator)
            return view.json() if view.json()["status"] in ("completed", "failed") else None

        view = wait_for(finished, timeout_s=PROCESSING_TIMEOUT_S, what="the S3 delivery")
        assert view["status"] == "completed", view
        assert [(t["isrc"], t["state"]) for t in view["tracks"]] == [(upload.isrc, "scored")]
        # The worker's downloaded copy is dropped once the delivery is closed.
        cache = tmp_path / "worker-cache"
        wait_for(
            lambda: not cache.exists() or not [p for p in cache.iterdir()],
            timeout_s=PROCESSING_TIMEOUT_S,
            what="the worker's copy to be evicted",
        )
    finally:
        worker.stop()
    assert _delivery_folders(tmp_path / "worker-storage") == []


def test_a_missing_bucket_answers_503_and_records_nothing(service, s3_server, caplog):
    missing = f"missing-{secrets.token_hex(6)}"
    settings = s3_settings(service.settings, endpoint_url=s3_server.endpoint_url, bucket=missing)
    with _api(service, settings) as api:
        not_ready = api.client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["checks"]["storage"] == "bucket unavailable: ClientError"
        upload = _signed_upload(api, unique_audio())
        response = api.client.post("/v1/deliveries", content=upload.body, headers=upload.headers)
        assert response.status_code == 503, response.text
        assert response.json()["field"] == "storage"
        assert missing not in response.json()["detail"]  # no infrastructure names to clients
        logged = [getattr(r, "error", "") for r in caplog.records]
        assert any(f"s3://{missing}/deliveries/" in e for e in logged)  # the operator's key
        webhook_id = upload.headers["webhook-id"]
        assert [d for d in _rows(api, select(Delivery)) if d.webhook_id == webhook_id] == []
        assert [r for r in _rows(api, select(WebhookReceipt)) if r.webhook_id == webhook_id] == []
        assert _delivery_folders(settings.storage_dir) == []
        # Nothing was half-recorded: once the bucket exists the same webhook is accepted.
        s3_server.client().create_bucket(Bucket=missing)
        assert api.client.get("/readyz").json()["checks"]["storage"] == "ok"
        retried = api.client.post("/v1/deliveries", content=upload.body, headers=upload.headers)
        assert retried.status_code == 202, retried.text
        assert retried.json()["duplicate"] is False


def test_an_unreachable_store_answers_503(service):
    closed_port = free_port()  # nothing listens there once the probe socket is closed
    settings = s3_settings(
        service.settings, endpoint_url=f"http://127.0.0.1:{closed_port}", bucket="deliveries"
    )
    with _api(service, settings) as api:
        upload = _signed_upload(api, unique_audio())
        response = api.client.post("/v1/deliveries", content=upload.body, headers=upload.headers)
        assert response.status_code == 503, response.text
        assert "store is unavailable" in response.json()["detail"]
        webhook_id = upload.headers["webhook-id"]
        assert [d for d in _rows(api, select(Delivery)) if d.webhook_id == webhook_id] == []


@pytest.mark.parametrize(
    ("missing", "task", "track_failed"),
    [
        ("message.xml", "workers.tasks.ingest_delivery", False),
        ("robin.wav", "workers.tasks.analyze_track", True),
    ],
)
def test_an_object_missing_at_worker_time_dead_letters_naming_its_key(
    s3_service, s3_server, bucket, tmp_path, missing, task, track_failed
):
    upload = _signed_upload(s3_service, unique_audio())
    response = s3_service.client.post("/v1/deliveries", content=upload.body, headers=upload.headers)
    assert response.status_code == 202, response.text
    delivery_id = response.json()["delivery_id"]
    location = next(
        d.storage_path for d in _rows(s3_service, select(Delivery)) if d.id == delivery_id
    )
    _, prefix = storage.parse_s3_location(location)
    s3_server.client().delete_object(Bucket=bucket, Key=prefix + missing)
    key = f"s3://{bucket}/{prefix}{missing}"

    worker = worker_for(
        s3_service.settings,
        tmp_path / "worker.log",
        overrides=_worker_env(s3_server, bucket, tmp_path),
    )
    worker.start()  # the ingest task is already queued
    try:
        letters = wait_for(
            lambda: [
                d
                for d in _rows(s3_service, select(DeadLetter))
                if d.args and d.args[0] == delivery_id
            ],
            timeout_s=PROCESSING_TIMEOUT_S,
            what="the dead letter",
        )
        moderator = s3_service.auth(s3_service.moderator_key)

        def closed():
            view = s3_service.client.get(f"/v1/deliveries/{delivery_id}", headers=moderator)
            return view.json() if view.json()["status"] in ("completed", "failed") else None

        view = wait_for(closed, timeout_s=PROCESSING_TIMEOUT_S, what="the delivery to close")
    finally:
        worker.stop()
    assert letters[0].task_name == task
    assert key in (letters[0].error or "")
    # Retried (an object store may be briefly unavailable) before giving up.
    assert "retry: Retry in" in (tmp_path / "worker.log").read_text()
    if track_failed:  # the message was there: the track that needed the audio failed
        assert [t["state"] for t in view["tracks"]] == ["pending"]
        events = s3_service.client.get(
            f"/v1/audit?delivery_id={delivery_id}", headers=moderator
        ).json()["events"]
        failed = [e for e in events if e["action"] == "track.failed"]
        assert failed and key in failed[0]["reason"]
    else:
        assert view["status"] == "failed" and view["tracks"] == []
        delivery = next(d for d in _rows(s3_service, select(Delivery)) if d.id == delivery_id)
        assert key in (delivery.error or "")
