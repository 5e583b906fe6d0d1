"""Where accepted deliveries live: a local directory (the default) or an S3-compatible bucket.

Why an interface at all: the webhook may answer 202 only once a delivery is durable, and the
workers, possibly on other hosts than the API, must then read exactly those bytes. The API always
writes a delivery to a local folder first (the signature is checked on the local spool before
anything is parsed); `put_delivery` then makes that folder durable where the deployment keeps
deliveries and returns the location recorded in `Delivery.storage_path`:

- local: the folder itself (already fsynced), so `put_delivery` and `materialise` pass through;
- s3: every file is uploaded under ``<s3_prefix><uuid>/``, then a manifest (name, size, SHA-256
  of each file) is written last, so an object set without its manifest is an upload that never
  finished. The location is ``s3://<bucket>/<s3_prefix><uuid>/``: the column stays a string and
  no migration is needed.

The pipeline keeps reading a local `Path`: `materialise` downloads an S3 delivery into the worker's
cache (into a temporary folder first, each file checked against the manifest, then renamed into
place, so a half-downloaded folder is never seen) and reuses a complete copy when one exists.
Which reader to use follows the recorded location, not the current backend setting: deliveries
accepted before a switch of backend remain readable.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

from integrity.config import Settings

if TYPE_CHECKING:
    from integrity.db.models import Delivery

logger = logging.getLogger(__name__)

S3_SCHEME = "s3://"
S3_EXTRA_HINT = "pip install 'integrity[s3]'"
MANIFEST_NAME = ".manifest.json"  # never a delivery file: uploaded names cannot start with "."
MANIFEST_VERSION = 1
PARTIAL_PREFIX = ".partial-"  # a download in progress inside the cache folder
COPY_CHUNK_BYTES = 1024 * 1024
CACHE_NAME_HASH_CHARS = 16  # hex digits of the location's SHA-256 in a cache folder's name
DELETE_BATCH_KEYS = 1000  # S3 DeleteObjects takes at most this many keys per request
CACHE_PRUNE_INTERVAL_S = 3600.0  # how often a process looks for stale copies in the cache


class StorageError(RuntimeError):
    """A delivery could not be written to or read from its store; the message names the object.

    Deliberately not a ServiceError: at accept time the webhook turns it into a 503, and at
    worker time it is an ordinary failure, so the task is retried and finally dead-lettered."""


class DeliveryStore(Protocol):
    """Keeps accepted deliveries durable and hands workers a local folder to read."""

    def put_delivery(self, directory: Path) -> str:
        """Make a stored delivery folder durable; returns the location to record."""
        ...

    def discard(self, location: str) -> None:
        """Remove what `put_delivery` wrote (a delivery that was not recorded after all)."""
        ...

    def materialise(self, delivery: Delivery) -> Path:
        """A local folder holding the delivery's files, exactly as they were accepted."""
        ...

    def message_file(self, delivery: Delivery) -> AbstractContextManager[Path]:
        """The delivery's ERN message as a local file, for as long as the block runs: ingest and
        rescans need only the message, not every audio file of the delivery."""
        ...

    def evict(self, location: str) -> None:
        """Drop a local working copy that is no longer needed (never the durable copy)."""
        ...

    def readiness(self) -> str:
        """ "ok" when a delivery could be stored now, else what is wrong (for /readyz)."""
        ...


def redact_locations(text: str, *locations: str | Path | None) -> str:
    """`text` without the folders given: what a client reads names files as the sender named
    them, never where the service keeps them (a path inside is cut to the file's name)."""
    folders = {str(location).rstrip("/") for location in locations if location}
    for folder in sorted(folders, key=len, reverse=True):
        text = text.replace(folder + "/", "").replace(folder, "the delivery")
    return text


def is_s3_location(location: str) -> bool:
    return location.startswith(S3_SCHEME)


def parse_s3_location(location: str) -> tuple[str, str]:
    """(bucket, key prefix ending in '/') of an ``s3://bucket/prefix/`` location."""
    if not is_s3_location(location):
        raise StorageError(f"{location}: not an {S3_SCHEME} location")
    bucket, _, prefix = location[len(S3_SCHEME) :].partition("/")
    if not bucket or not prefix:
        raise StorageError(f"{location}: expected {S3_SCHEME}<bucket>/<prefix>/")
    return bucket, prefix if prefix.endswith("/") else prefix + "/"


def normalised_prefix(prefix: str) -> str:
    """The configured key prefix without a leading '/' and with one trailing '/' (or empty)."""
    cleaned = prefix.strip().strip("/")
    return f"{cleaned}/" if cleaned else ""


def _plain_name(name: object, *, where: str) -> str:
    """A manifest entry names one file inside the delivery folder, never a path out of it."""
    if (
        not isinstance(name, str)
        or not name
        or name.startswith(".")
        or len(PurePosixPath(name).parts) != 1
        or "\\" in name
        or not name.isprintable()
    ):
        raise StorageError(f"{where}: manifest names {name!r}, not a plain file name")
    return name


def fsync_dir(directory: Path) -> None:
    """Make a folder's entries (new files, a rename) durable, not only the files' bytes."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(COPY_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


class LocalStore:
    """The default: the folder under storage_dir is the durable copy (written and fsynced by
    the webhook), shared with the workers through the volume."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def put_delivery(self, directory: Path) -> str:
        return str(directory)

    def discard(self, location: str) -> None:
        if is_s3_location(location):
            _s3_store(self._settings).discard(location)
        else:
            shutil.rmtree(location, ignore_errors=True)

    def readiness(self) -> str:
        # The folder is made on first use, so a fresh deployment creates it here rather than
        # reporting itself not ready until an upload that could never arrive.
        storage_dir = self._settings.storage_dir
        if storage_dir is None:
            return "no storage folder configured"
        try:
            storage_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"storage folder cannot be created: {exc.strerror or exc}"
        return "ok" if os.access(storage_dir, os.W_OK | os.X_OK) else "storage folder not writable"

    def materialise(self, delivery: Delivery) -> Path:
        if is_s3_location(delivery.storage_path):  # accepted while the backend was s3
            return _s3_store(self._settings).materialise(delivery)
        return Path(delivery.storage_path)

    @contextmanager
    def message_file(self, delivery: Delivery) -> Iterator[Path]:
        if is_s3_location(delivery.storage_path):
            with _s3_store(self._settings).message_file(delivery) as path:
                yield path
            return
        yield Path(delivery.storage_path) / delivery.message_filename

    def evict(self, location: str) -> None:
        if is_s3_location(location):
            _s3_store(self._settings).evict(location)


class S3Store:
    """Deliveries as objects in an S3-compatible bucket, materialised into a local cache."""

    def __init__(self, settings: Settings) -> None:
        assert settings.s3_cache_dir is not None
        self._settings = settings
        self.bucket = settings.s3_bucket
        self.prefix = normalised_prefix(settings.s3_prefix)
        self.cache_dir = settings.s3_cache_dir
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._next_prune = 0.0  # monotonic time of this process's next look for stale copies

    # -- the client --------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The boto3 S3 client, created on first use (boto3 clients are thread-safe)."""
        with self._client_lock:
            if self._client is None:
                self._client = _make_client(self._settings)
            return self._client

    def _errors(self) -> tuple[type[BaseException], ...]:
        """What boto3 raises for an unreachable endpoint, a missing bucket or object, a refusal
        (nothing when boto3 is absent: the client property has already said so)."""
        try:
            import boto3.exceptions
            import botocore.exceptions
        except ImportError:
            return ()
        return (
            botocore.exceptions.BotoCoreError,
            botocore.exceptions.ClientError,
            boto3.exceptions.Boto3Error,
        )

    def readiness(self) -> str:
        """One HEAD of the bucket: reachable, existing and ours to use."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except StorageError as exc:
            return f"unavailable: {exc}"
        except self._errors() as exc:
            return f"bucket unavailable: {type(exc).__name__}"
        return "ok"

    # -- writing (the API) -------------------------------------------------------------------

    def put_delivery(self, directory: Path) -> str:
        """Upload every file of the folder, then the manifest; durable once this returns.

        On any failure the objects written so far are removed (best effort) and a StorageError
        names the key that failed, so the webhook can answer 503 with nothing half-recorded."""
        if not self.bucket:
            raise StorageError("INTEGRITY_S3_BUCKET is not set")
        key_prefix = f"{self.prefix}{directory.name}/"
        location = f"{S3_SCHEME}{self.bucket}/{key_prefix}"
        client = self.client
        entries: list[dict[str, Any]] = []
        key = key_prefix
        try:
            for path in sorted(directory.iterdir()):
                if not path.is_file() or path.is_symlink():
                    raise StorageError(f"{path}: not a regular file; a delivery folder is flat")
                key = key_prefix + path.name
                sha256 = _file_digest(path)
                client.upload_file(
                    str(path), self.bucket, key, ExtraArgs={"Metadata": {"sha256": sha256}}
                )
                entries.append({"name": path.name, "size": path.stat().st_size, "sha256": sha256})
            key = key_prefix + MANIFEST_NAME
            manifest = {"version": MANIFEST_VERSION, "files": entries}
            client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=json.dumps(manifest, sort_keys=True).encode(),
                ContentType="application/json",
            )
        except StorageError:
            self.discard(location)
            raise
        except self._errors() as exc:
            self.discard(location)
            raise StorageError(f"{S3_SCHEME}{self.bucket}/{key}: could not write: {exc}") from exc
        return location

    def discard(self, location: str) -> None:
        """Delete every object under the delivery's prefix; logs instead of raising, since it
        only runs while another error is already being reported."""
        handled: tuple[type[BaseException], ...] = (StorageError, *self._errors())
        try:
            bucket, key_prefix = parse_s3_location(location)
            paginator = self.client.get_paginator("list_objects_v2")
            keys = [
                item["Key"]
                for page in paginator.paginate(Bucket=bucket, Prefix=key_prefix)
                for item in page.get("Contents", [])
            ]
            for start in range(0, len(keys), DELETE_BATCH_KEYS):
                batch = keys[start : start + DELETE_BATCH_KEYS]
                self.client.delete_objects(
                    Bucket=bucket,
                    Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
                )
        except handled as exc:
            logger.warning(
                "stored objects not removed", extra={"location": location, "error": str(exc)}
            )

    # -- reading (the workers) ---------------------------------------------------------------

    def cache_path(self, location: str) -> Path:
        """The cache folder of a location: its last key segment (the delivery's uuid) plus a
        hash of the whole location, so equal names in other buckets or prefixes never meet."""
        _, key_prefix = parse_s3_location(location)
        tail = key_prefix.rstrip("/").rsplit("/", 1)[-1]
        digest = hashlib.sha256(location.encode()).hexdigest()[:CACHE_NAME_HASH_CHARS]
        return self.cache_dir / f"{tail}-{digest}"

    def materialise(self, delivery: Delivery) -> Path:
        location = delivery.storage_path
        if not is_s3_location(location):  # accepted while the backend was local
            return Path(location)
        self._prune_when_due()
        target = self.cache_path(location)
        if _complete(target) and _touch(target):
            return target
        bucket, key_prefix = parse_s3_location(location)
        partial = self._partial_dir()
        try:
            manifest = self._read_manifest(bucket, key_prefix)
            for entry in manifest["files"]:
                self._download(bucket, key_prefix, entry, partial)
            (partial / MANIFEST_NAME).write_text(json.dumps(manifest, sort_keys=True))
            fsync_dir(partial)
            if target.exists() and not _complete(target):
                shutil.rmtree(target, ignore_errors=True)  # a copy damaged since it was made
            try:
                partial.rename(target)
            except OSError:
                # Another process of this host finished the same download first: use its copy.
                if not _complete(target):
                    raise
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return target

    @contextmanager
    def message_file(self, delivery: Delivery) -> Iterator[Path]:
        """The message from the complete cached copy when there is one; else only the message
        object, checked against the SHA-256 recorded when the delivery was registered, into a
        temporary folder removed when the block ends."""
        location = delivery.storage_path
        if not is_s3_location(location):
            yield Path(location) / delivery.message_filename
            return
        target = self.cache_path(location)
        if _complete(target) and _touch(target):
            yield target / delivery.message_filename
            return
        bucket, key_prefix = parse_s3_location(location)
        name = _plain_name(delivery.message_filename, where=location)
        partial = self._partial_dir()
        try:
            entry = {"name": name, "size": None, "sha256": delivery.message_sha256}
            self._download(bucket, key_prefix, entry, partial)
            yield partial / name
        finally:
            shutil.rmtree(partial, ignore_errors=True)

    def evict(self, location: str) -> None:
        if is_s3_location(location):
            shutil.rmtree(self.cache_path(location), ignore_errors=True)

    def prune(self, *, older_than_s: float) -> list[Path]:
        """Remove cache folders (copies and half-finished downloads) untouched this long: copies
        on hosts that did not close their delivery, and downloads cut off by a killed worker."""
        cutoff = time.time() - older_than_s
        removed: list[Path] = []
        try:
            entries = list(self.cache_dir.iterdir())
        except FileNotFoundError:
            return removed
        for entry in entries:
            try:
                stale = entry.stat().st_mtime < cutoff
            except FileNotFoundError:  # removed by another process meanwhile
                continue
            if stale:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
        return removed

    def _prune_when_due(self) -> None:
        if time.monotonic() < self._next_prune:
            return
        self._next_prune = time.monotonic() + CACHE_PRUNE_INTERVAL_S
        removed = self.prune(older_than_s=self._settings.s3_cache_max_age_s)
        if removed:
            logger.info("stale delivery copies removed", extra={"count": len(removed)})

    def _partial_dir(self) -> Path:
        """A fresh folder for one download inside the cache (the final rename stays on one
        file system). A local disk problem is a StorageError too: retried, never mistaken for
        an unreadable delivery."""
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            return Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=self.cache_dir))
        except OSError as exc:
            raise StorageError(f"{self.cache_dir}: cannot hold a download: {exc}") from exc

    def _read_manifest(self, bucket: str, key_prefix: str) -> dict[str, Any]:
        key = key_prefix + MANIFEST_NAME
        where = f"{S3_SCHEME}{bucket}/{key}"
        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except self._errors() as exc:
            raise StorageError(f"{where}: could not read the delivery manifest: {exc}") from exc
        try:
            manifest = json.loads(body)
            files = manifest["files"]
            for entry in files:
                _plain_name(entry["name"], where=where)
                int(entry["size"])
                str(entry["sha256"])
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(f"{where}: not a valid delivery manifest: {exc}") from exc
        return {"version": manifest.get("version", MANIFEST_VERSION), "files": files}

    def _download(self, bucket: str, key_prefix: str, entry: dict[str, Any], folder: Path) -> None:
        """One object into the folder, hashed in the same pass and checked against the manifest
        (the size only where it is known)."""
        key = key_prefix + entry["name"]
        where = f"{S3_SCHEME}{bucket}/{key}"
        target = folder / entry["name"]
        digest = hashlib.sha256()
        size = 0
        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
            with target.open("wb") as handle:
                for chunk in body.iter_chunks(COPY_CHUNK_BYTES):
                    digest.update(chunk)
                    size += len(chunk)
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
        except self._errors() as exc:
            raise StorageError(f"{where}: could not read: {exc}") from exc
        except OSError as exc:
            raise StorageError(f"{where}: could not write {target}: {exc}") from exc
        if entry["size"] is not None and size != int(entry["size"]):
            raise StorageError(f"{where}: {size} bytes, the manifest says {entry['size']}")
        if digest.hexdigest() != entry["sha256"]:
            raise StorageError(
                f"{where}: SHA-256 {digest.hexdigest()} does not match the recorded "
                f"{entry['sha256']} (the object was changed or corrupted)"
            )


def _complete(folder: Path) -> bool:
    """True when a cache folder holds every manifest file at its recorded size."""
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text())
        return all(
            (folder / entry["name"]).stat().st_size == int(entry["size"])
            for entry in manifest["files"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _touch(folder: Path) -> bool:
    """Mark a cached copy as in use, so no process prunes it as stale; False when it is gone."""
    try:
        os.utime(folder)
    except FileNotFoundError:
        return False
    return True


def _make_client(settings: Settings) -> Any:
    """A boto3 S3 client with bounded timeouts and retries (its own boto3 session: the default
    session is not thread-safe). Fails with the extra to install when boto3 is missing."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:
        raise StorageError(
            f"INTEGRITY_STORAGE_BACKEND=s3 needs boto3, which is not installed: {S3_EXTRA_HINT}"
        ) from exc
    config = Config(
        connect_timeout=settings.s3_connect_timeout_s,
        read_timeout=settings.s3_read_timeout_s,
        retries={"max_attempts": settings.s3_max_attempts, "mode": "standard"},
        # S3-compatible servers (MinIO, Ceph, moto) are addressed by path, not by DNS name.
        s3={"addressing_style": "path" if settings.s3_endpoint_url else "auto"},
    )
    credentials: dict[str, str] = {}
    if settings.s3_access_key_id and settings.s3_secret_access_key is not None:
        credentials = {
            "aws_access_key_id": settings.s3_access_key_id,
            "aws_secret_access_key": settings.s3_secret_access_key.get_secret_value(),
        }
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        config=config,
        **credentials,
    )


_stores: dict[tuple[object, ...], DeliveryStore] = {}
_stores_lock = threading.Lock()


def _store_key(settings: Settings) -> tuple[object, ...]:
    """Everything a store depends on, and the process: clients are not shared across a fork."""
    secret = settings.s3_secret_access_key
    return (
        os.getpid(),
        settings.storage_backend,
        settings.s3_bucket,
        settings.s3_prefix,
        settings.s3_endpoint_url,
        settings.s3_region,
        settings.s3_access_key_id,
        secret.get_secret_value() if secret is not None else None,
        settings.s3_connect_timeout_s,
        settings.s3_read_timeout_s,
        settings.s3_max_attempts,
        str(settings.s3_cache_dir),
        settings.s3_cache_max_age_s,
    )


def store_for(settings: Settings) -> DeliveryStore:
    """The store the settings name, one per process and configuration (a client is costly)."""
    key = _store_key(settings)
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = S3Store(settings) if settings.storage_backend == "s3" else LocalStore(settings)
            _stores[key] = store
        return store


def _s3_store(settings: Settings) -> S3Store:
    """An S3 reader for locations recorded as s3:// whatever the current backend is."""
    store = store_for(settings)
    if isinstance(store, S3Store):
        return store
    key = ("s3-reader", *_store_key(settings))
    with _stores_lock:
        reader = _stores.get(key)
        if not isinstance(reader, S3Store):
            reader = S3Store(settings)
            _stores[key] = reader
        return reader
