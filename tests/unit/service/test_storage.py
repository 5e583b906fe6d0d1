"""The delivery store: local passthrough, and S3 against moto's real HTTP server (uploads with a
manifest, byte-identical downloads into the cache, reuse, and errors that name the object)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from integrity.catalog import storage
from integrity.config import Settings
from integrity.db.models import Delivery
from tests import s3_support
from tests.s3_support import S3Server, s3_settings

s3_server = s3_support.s3_server  # the session's moto server, as a fixture of this module

FILES = {"message.xml": b"<?xml version='1.0'?><m/>", "a.wav": b"RIFF" + b"\x01" * 5000}


def _delivery_folder(root: Path, files: dict[str, bytes] | None = None) -> Path:
    folder = root / secrets.token_hex(16)
    folder.mkdir(parents=True)
    for name, data in (files or FILES).items():
        (folder / name).write_bytes(data)
    return folder


def _delivery(location: str) -> Delivery:
    return Delivery(
        storage_path=location,
        message_filename="message.xml",
        message_sha256=hashlib.sha256(FILES["message.xml"]).hexdigest(),
    )


@pytest.fixture()
def bucket(s3_server: S3Server) -> str:
    return s3_server.new_bucket()


@pytest.fixture()
def s3_store(settings: Settings, s3_server: S3Server, bucket: str) -> storage.S3Store:
    store = storage.store_for(
        s3_settings(settings, endpoint_url=s3_server.endpoint_url, bucket=bucket)
    )
    assert isinstance(store, storage.S3Store)
    return store


def test_the_local_backend_passes_the_folder_through(settings, tmp_path):
    store = storage.store_for(settings)
    folder = _delivery_folder(tmp_path)
    location = store.put_delivery(folder)
    assert location == str(folder)
    assert store.materialise(_delivery(location)) == folder
    store.evict(location)  # never touches the durable local copy
    assert (folder / "a.wav").read_bytes() == FILES["a.wav"]


def test_an_s3_backend_needs_a_bucket(tmp_path):
    with pytest.raises(ValidationError, match="INTEGRITY_S3_BUCKET"):
        Settings(data_dir=tmp_path, storage_backend="s3")
    with pytest.raises(ValidationError, match="or neither"):
        Settings(data_dir=tmp_path, storage_backend="s3", s3_bucket="b", s3_access_key_id="k")


def test_locations_and_prefixes_parse():
    assert storage.parse_s3_location("s3://b/deliveries/abc/") == ("b", "deliveries/abc/")
    assert storage.normalised_prefix("/deliveries") == "deliveries/"
    assert storage.normalised_prefix("") == ""
    with pytest.raises(storage.StorageError, match="expected"):
        storage.parse_s3_location("s3://bucket-only")


def test_upload_writes_every_file_and_a_manifest_then_downloads_byte_identically(
    s3_store, s3_server, bucket, tmp_path
):
    folder = _delivery_folder(tmp_path / "api")
    location = s3_store.put_delivery(folder)
    assert location == f"s3://{bucket}/deliveries/{folder.name}/"
    objects = s3_server.keys(bucket)
    prefix = f"deliveries/{folder.name}/"
    assert {k: v for k, v in objects.items() if k != prefix + storage.MANIFEST_NAME} == {
        prefix + name: data for name, data in FILES.items()
    }
    manifest = json.loads(objects[prefix + storage.MANIFEST_NAME])
    assert sorted(entry["name"] for entry in manifest["files"]) == sorted(FILES)

    local = s3_store.materialise(_delivery(location))
    assert local.parent == s3_store.cache_dir
    assert {p.name: p.read_bytes() for p in local.iterdir() if p.name in FILES} == FILES
    assert not [p for p in s3_store.cache_dir.iterdir() if p.name.startswith(".partial-")]


def test_a_complete_cached_copy_is_reused_and_a_damaged_one_fetched_again(
    s3_store, s3_server, bucket, tmp_path
):
    location = s3_store.put_delivery(_delivery_folder(tmp_path / "api"))
    first = s3_store.materialise(_delivery(location))
    (first / "a.wav").write_bytes(b"truncated")
    second = s3_store.materialise(_delivery(location))
    assert second == first
    assert (second / "a.wav").read_bytes() == FILES["a.wav"]
    # Reused without asking S3: the objects may go, the complete copy still serves.
    bucket_, _ = storage.parse_s3_location(location)
    for key in s3_server.keys(bucket_):
        s3_server.client().delete_object(Bucket=bucket_, Key=key)
    assert s3_store.materialise(_delivery(location)) == first
    s3_store.evict(location)
    assert not first.exists()


def test_stale_copies_and_abandoned_downloads_are_pruned(s3_store, tmp_path):
    location = s3_store.put_delivery(_delivery_folder(tmp_path / "api"))
    fresh = s3_store.materialise(_delivery(location))
    abandoned = s3_store.cache_dir / ".partial-killed"  # as a SIGKILLed worker leaves it
    abandoned.mkdir()
    day_ago = time.time() - 24 * 3600
    os.utime(abandoned, (day_ago, day_ago))
    assert s3_store.prune(older_than_s=3600) == [abandoned]
    assert fresh.exists()
    os.utime(fresh, (day_ago, day_ago))
    assert s3_store.materialise(_delivery(location)) == fresh  # reuse marks it in use again
    assert s3_store.prune(older_than_s=3600) == []


def test_a_corrupted_object_is_refused_naming_its_key(s3_store, s3_server, bucket, tmp_path):
    location = s3_store.put_delivery(_delivery_folder(tmp_path / "api"))
    _, prefix = storage.parse_s3_location(location)
    corrupted = b"RIFF" + b"\x02" * 5000  # same size, other bytes: only the hash can tell
    s3_server.client().put_object(Bucket=bucket, Key=prefix + "a.wav", Body=corrupted)
    with pytest.raises(storage.StorageError) as caught:
        s3_store.materialise(_delivery(location))
    assert f"s3://{bucket}/{prefix}a.wav" in str(caught.value)
    assert "SHA-256" in str(caught.value)
    assert not s3_store.cache_path(location).exists()
    assert [p for p in s3_store.cache_dir.iterdir()] == []


def test_a_missing_object_is_reported_naming_its_key(s3_store, s3_server, bucket, tmp_path):
    location = s3_store.put_delivery(_delivery_folder(tmp_path / "api"))
    _, prefix = storage.parse_s3_location(location)
    s3_server.client().delete_object(Bucket=bucket, Key=prefix + "a.wav")
    with pytest.raises(storage.StorageError, match=f"s3://{bucket}/{prefix}a.wav: could not read"):
        s3_store.materialise(_delivery(location))


def test_an_upload_without_its_manifest_is_incomplete(s3_store, s3_server, bucket, tmp_path):
    location = s3_store.put_delivery(_delivery_folder(tmp_path / "api"))
    _, prefix = storage.parse_s3_location(location)
    s3_server.client().delete_object(Bucket=bucket, Key=prefix + storage.MANIFEST_NAME)
    with pytest.raises(storage.StorageError, match="manifest"):
        s3_store.materialise(_delivery(location))


def test_a_manifest_naming_a_path_outside_the_folder_is_refused(
    s3_store, s3_server, bucket, tmp_path
):
    location = s3_store.put_delivery(_delivery_folder(tmp_path / "api"))
    _, prefix = storage.parse_s3_location(location)
    evil = {"version": 1, "files": [{"name": "../../escape", "size": 1, "sha256": "0" * 64}]}
    s3_server.client().put_object(
        Bucket=bucket, Key=prefix + storage.MANIFEST_NAME, Body=json.dumps(evil).encode()
    )
    with pytest.raises(storage.StorageError, match="not a plain file name"):
        s3_store.materialise(_delivery(location))
    assert not (s3_store.cache_dir.parent / "escape").exists()


def test_the_message_alone_is_fetched_when_no_complete_copy_is_cached(
    s3_store, s3_server, bucket, tmp_path
):
    """Ingest and rescans read only the message: the audio is not downloaded for them."""
    location = s3_store.put_delivery(_delivery_folder(tmp_path / "api"))
    with s3_store.message_file(_delivery(location)) as path:
        assert path.read_bytes() == FILES["message.xml"]
        assert not (path.parent / "a.wav").exists()
    assert list(s3_store.cache_dir.iterdir()) == []  # the temporary copy is gone
    folder = s3_store.materialise(_delivery(location))
    with s3_store.message_file(_delivery(location)) as path:
        assert path == folder / "message.xml"
    # The message is checked against the SHA-256 recorded at registration.
    s3_store.evict(location)
    _, prefix = storage.parse_s3_location(location)
    s3_server.client().put_object(Bucket=bucket, Key=prefix + "message.xml", Body=b"<other/>")
    with (
        pytest.raises(storage.StorageError, match=f"s3://{bucket}/{prefix}message.xml: SHA-256"),
        s3_store.message_file(_delivery(location)),
    ):
        pass


def test_a_missing_bucket_fails_the_upload_and_leaves_nothing(settings, s3_server, tmp_path):
    store = storage.store_for(
        s3_settings(settings, endpoint_url=s3_server.endpoint_url, bucket="no-such-bucket")
    )
    with pytest.raises(storage.StorageError, match="s3://no-such-bucket/deliveries/"):
        store.put_delivery(_delivery_folder(tmp_path / "api"))


def test_the_local_backend_still_reads_deliveries_stored_in_s3(
    settings, s3_store, s3_server, bucket, tmp_path
):
    """Switching the backend back to local must not strand what was accepted into S3."""
    location = s3_store.put_delivery(_delivery_folder(tmp_path / "api"))
    values = settings.model_dump()
    values.update(
        storage_backend="local",
        s3_endpoint_url=s3_server.endpoint_url,
        s3_region="us-east-1",
        s3_access_key_id="integrity-test",
        s3_secret_access_key="integrity-test-secret",
    )
    local_store = storage.store_for(Settings(**values))
    assert isinstance(local_store, storage.LocalStore)
    folder = local_store.materialise(_delivery(location))
    assert (folder / "a.wav").read_bytes() == FILES["a.wav"]


def test_without_boto3_the_error_names_the_extra(settings, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # makes `import boto3` raise ImportError
    values = settings.model_dump()
    values.update(storage_backend="s3", s3_bucket="b", s3_cache_dir=tmp_path / "other-cache")
    store = storage.store_for(Settings(**values))
    with pytest.raises(storage.StorageError, match=r"integrity\[s3\]"):
        store.put_delivery(_delivery_folder(tmp_path / "api"))
    with pytest.raises(storage.StorageError, match=r"integrity\[s3\]"):
        store.materialise(_delivery("s3://b/deliveries/x/"))


def test_local_store_readiness_creates_the_folder_of_a_fresh_deployment(tmp_path: Path) -> None:
    fresh = tmp_path / "data" / "deliveries"
    settings = Settings(data_dir=tmp_path / "data", storage_dir=fresh)
    assert storage.LocalStore(settings).readiness() == "ok"
    assert fresh.is_dir()
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    settings = Settings(data_dir=tmp_path / "data", storage_dir=blocked / "deliveries")
    assert storage.LocalStore(settings).readiness().startswith("storage folder cannot be created")
