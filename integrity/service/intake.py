"""Accepting deliveries from the upload webhook: verify, cap, store durably, register.

The order is what makes "never lose a delivery, never let an unsigned request in" hold:
1. the body is streamed to a spool file under a byte cap while the HMAC of every live sender
   secret is computed on the fly (nothing is parsed before the signature is checked);
2. the multipart parts are written under ``storage_dir/<uuid>/`` and fsynced;
3. the ERN header is read with the hardened ddex parser (malformed XML is refused, 422), and
   its MessageSender DPID must be one the operator registered for the signing sender (422
   naming the field): identity comes from the credential, never from the payload;
4. ``pipeline.register_delivery`` records the delivery as the sender's own and a webhook
   receipt de-duplicates the sender's webhook id and MessageId (per sender: another sender's
   id or identical bytes are another delivery);
5. the configured store makes the folder durable (``storage.py``: the local folder itself, or
   objects in an S3-compatible bucket, after which the local copy is removed); a store that
   fails answers 503 and the transaction is rolled back, so no row points at missing objects.
   The caller commits, and only then sends the task.
A replayed webhook id (or MessageId) answers with the delivery id it was first given. A disabled
sender is refused (403) even while an API process still caches its key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

from python_multipart.multipart import MultipartParser, MultipartState, parse_options_header
from sqlalchemy import select
from sqlalchemy.orm import Session

import ddex
from integrity.catalog import pipeline, storage
from integrity.config import Settings
from integrity.db.models import SHORT_TEXT, Delivery
from integrity.db.service_models import (
    Sender,
    SenderSecret,
    WebhookReceipt,
)
from integrity.service import accounts, fetching, security
from integrity.service.audit import record_event
from integrity.service.errors import ServiceError

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks  # a TypedDict for type checkers only

logger = logging.getLogger(__name__)

SPOOL_DIR_NAME = ".incoming"
READ_CHUNK_BYTES = 1024 * 1024
MAX_PARTS = 1000  # one message plus this many audio files at most
MAX_PART_HEADER_BYTES = 8 * 1024
MESSAGE_FIELD = "message"
FILES_FIELD = "files"
MULTIPART_TYPE = b"multipart/form-data"
JSON_TYPE = b"application/json"
WEBHOOK_SOURCE_PREFIX = "webhook:"
MESSAGE_SENDER_FIELD = "MessageHeader/MessageSender/PartyId"


class DeliveryRejectedError(ServiceError):
    """The webhook request is refused (bad signature, too large, malformed, replayed id...)."""


@dataclass(frozen=True, slots=True)
class AcceptedDelivery:
    """What the webhook answers: the delivery id, and whether this call created it."""

    delivery_id: int
    created: bool
    directory: Path | None = None  # the local copy when this call created the delivery
    location: str | None = None  # where the store keeps it (to discard if the commit fails)


def live_secrets(session: Session, *, sender_id: int) -> list[str]:
    """The sender's webhook secrets that are not revoked (several during a rotation)."""
    return list(
        session.scalars(
            select(SenderSecret.secret).where(
                SenderSecret.sender_id == sender_id, SenderSecret.revoked_at.is_(None)
            )
        )
    )


@dataclass
class BodySpool:
    """Streams a request body to disk under a cap, computing the HMAC of every secret."""

    path: Path
    max_bytes: int
    macs: list[hmac.HMAC]
    size: int = 0
    _handle: BinaryIO | None = field(default=None, repr=False)

    @classmethod
    def open(
        cls, *, settings: Settings, secrets_: list[str], webhook_id: str, timestamp: int
    ) -> BodySpool:
        """A fresh spool file in the storage volume, so the final move is a rename."""
        assert settings.storage_dir is not None
        spool_dir = settings.storage_dir / SPOOL_DIR_NAME
        spool_dir.mkdir(parents=True, exist_ok=True)
        prefix = f"{webhook_id}.{timestamp}.".encode()
        macs = [
            hmac.new(security.secret_key_bytes(secret), prefix, hashlib.sha256)
            for secret in secrets_
        ]
        path = spool_dir / f"{uuid.uuid4().hex}.body"
        spool = cls(path=path, max_bytes=settings.webhook_max_body_bytes, macs=macs)
        spool._handle = path.open("wb")
        return spool

    def feed(self, chunk: bytes) -> None:
        """Append one chunk; refuses the body as soon as it passes the cap."""
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise DeliveryRejectedError(413, "body", f"larger than the {self.max_bytes}-byte limit")
        for mac in self.macs:
            mac.update(chunk)
        if self._handle is None:
            raise RuntimeError("the spool file is closed")
        self._handle.write(chunk)

    def close(self) -> None:
        """Flush the spool to disk."""
        handle = self._handle
        if handle is not None and not handle.closed:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()

    def discard(self) -> None:
        """Remove the spool file (after a refusal, or once its parts are stored)."""
        handle = self._handle
        if handle is not None and not handle.closed:
            handle.close()
        self.path.unlink(missing_ok=True)

    def signature_matches(self, header: str) -> bool:
        """True when one of the header's v1 signatures equals one secret's HMAC of the body."""
        candidates = security.parse_signature_header(header)
        matched = False
        for mac in self.macs:
            expected = mac.digest()
            for candidate in candidates:
                matched |= hmac.compare_digest(expected, candidate)
        return matched


def check_content_length(value: str | None, *, max_bytes: int) -> None:
    """Refuse a declared body over the cap before reading a byte of it."""
    if value is None:
        return
    try:
        declared = int(value)
    except ValueError as exc:
        raise DeliveryRejectedError(400, "content-length", "not an integer") from exc
    if declared > max_bytes:
        raise DeliveryRejectedError(
            413, "body", f"{declared} bytes, over the {max_bytes}-byte limit"
        )


def multipart_boundary(content_type: str | None) -> bytes:
    """The boundary of a multipart/form-data body, or a 415/400 naming the header."""
    if not content_type:
        raise DeliveryRejectedError(415, "content-type", "missing; expected multipart/form-data")
    kind, options = parse_options_header(content_type)
    if kind != MULTIPART_TYPE:
        raise DeliveryRejectedError(
            415, "content-type", "expected multipart/form-data or application/json"
        )
    boundary = options.get(b"boundary")
    if not boundary:
        raise DeliveryRejectedError(400, "content-type", "multipart boundary is missing")
    return boundary


def safe_filename(raw: str, *, field_name: str) -> str:
    """A plain file name: no directories, no '..', no absolute paths, no control characters."""
    name = raw.strip()
    pure = PurePosixPath(name.replace("\\", "/"))
    if (
        not name
        or pure.is_absolute()
        or len(pure.parts) != 1
        or name in {".", ".."}
        or name.startswith(".")
        or not name.isprintable()
    ):
        raise DeliveryRejectedError(422, field_name, f"file name {raw!r} is not a plain file name")
    return name


@dataclass
class StoredUpload:
    """The files of one delivery as written under its storage folder."""

    directory: Path
    message_filename: str | None = None
    files: list[str] = field(default_factory=list)


class _PartWriter:
    """MultipartParser callbacks that write each part straight to its file."""

    def __init__(self, directory: Path) -> None:
        self.stored = StoredUpload(directory=directory)
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._handle: BinaryIO | None = None
        self._parts = 0

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._header_field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise DeliveryRejectedError(413, "files", f"more than {MAX_PARTS} parts")
        self._headers = {}

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        disposition = self._headers.get(b"content-disposition", b"")
        _, options = parse_options_header(disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = options.get(b"filename")
        if name not in {MESSAGE_FIELD, FILES_FIELD}:
            expected = f"unexpected field; send '{MESSAGE_FIELD}' and '{FILES_FIELD}'"
            raise DeliveryRejectedError(422, name or "multipart", expected)
        if name == MESSAGE_FIELD:
            if self.stored.message_filename is not None:
                raise DeliveryRejectedError(422, MESSAGE_FIELD, "sent more than once")
            filename = safe_filename(
                raw_filename.decode("utf-8", "replace") if raw_filename else "message.xml",
                field_name=MESSAGE_FIELD,
            )
            self.stored.message_filename = filename
        else:
            if not raw_filename:
                raise DeliveryRejectedError(422, FILES_FIELD, "each part needs a filename")
            filename = safe_filename(
                raw_filename.decode("utf-8", "replace"), field_name=FILES_FIELD
            )
            self.stored.files.append(filename)
        target = self.stored.directory / filename
        if target.exists():
            raise DeliveryRejectedError(422, name, f"file name {filename!r} is sent twice")
        self._handle = target.open("wb")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._handle is not None:
            self._handle.write(data[start:end])

    def _part_end(self) -> None:
        handle = self._handle
        if handle is not None:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        self._handle = None

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def store_multipart(*, spool_path: Path, boundary: bytes, directory: Path) -> StoredUpload:
    """Split a spooled multipart body into files under `directory` (created, fsynced)."""
    directory.mkdir(parents=True, exist_ok=False)
    writer = _PartWriter(directory)
    parser = MultipartParser(
        boundary,
        writer.callbacks(),
        max_header_size=MAX_PART_HEADER_BYTES,
    )
    try:
        with spool_path.open("rb") as body:
            while chunk := body.read(READ_CHUNK_BYTES):
                parser.write(chunk)
        parser.finalize()
    except DeliveryRejectedError:
        raise
    except Exception as exc:  # python-multipart raises several types for malformed bodies
        raise DeliveryRejectedError(400, "body", f"malformed multipart body: {exc}") from exc
    finally:
        writer.close()
    if parser.state != MultipartState.END:
        # python-multipart's finalize() accepts a body cut anywhere: without the closing
        # boundary the last part may be missing bytes, so the whole upload is refused.
        raise DeliveryRejectedError(
            400, "body", "truncated multipart body: the closing boundary never came"
        )
    if writer.stored.message_filename is None:
        raise DeliveryRejectedError(
            422, MESSAGE_FIELD, "missing: send the ERN message in this field"
        )
    storage.fsync_dir(directory)
    return writer.stored


def store_json(*, spool_path: Path, directory: Path, settings: Settings) -> StoredUpload:
    """A JSON delivery: the ERN inline, audio fetched from allow-listed URLs into `directory`.

    Body: {"message": "<ERN XML>", "message_name": "message.xml",
           "files": [{"name": "a.flac", "url": "https://cdn.example/a.flac"}]}
    """
    try:
        document = json.loads(spool_path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DeliveryRejectedError(400, "body", f"not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise DeliveryRejectedError(422, "body", "a JSON object with 'message' and 'files'")
    message = document.get("message")
    if not isinstance(message, str) or not message.strip():
        raise DeliveryRejectedError(422, MESSAGE_FIELD, "the ERN message as a string")
    files = document.get("files", [])
    if not isinstance(files, list) or len(files) > MAX_PARTS:
        raise DeliveryRejectedError(422, FILES_FIELD, f"a list of at most {MAX_PARTS} files")
    message_name = safe_filename(
        str(document.get("message_name") or "message.xml"), field_name="message_name"
    )
    names: list[str] = []
    for index, entry in enumerate(files):
        where = f"{FILES_FIELD}[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
            raise DeliveryRejectedError(422, where, "an object with 'name' and 'url'")
        name = safe_filename(str(entry.get("name", "")), field_name=f"{where}.name")
        if name in names or name == message_name:
            raise DeliveryRejectedError(422, f"{where}.name", f"file name {name!r} is sent twice")
        fetching.check_url(entry["url"], settings=settings, field=f"{where}.url")
        names.append(name)
    directory.mkdir(parents=True, exist_ok=False)
    with (directory / message_name).open("wb") as handle:
        handle.write(message.encode())
        handle.flush()
        os.fsync(handle.fileno())
    for index, (name, entry) in enumerate(zip(names, files, strict=True)):
        fetching.fetch_to_file(
            entry["url"], directory / name, settings=settings, field=f"{FILES_FIELD}[{index}].url"
        )
    storage.fsync_dir(directory)
    return StoredUpload(directory=directory, message_filename=message_name, files=names)


def read_message_header(path: Path, *, settings: Settings) -> ddex.MessageHeader:
    """The ERN header of the stored message (hardened parser, size and depth caps).

    The refusal names the file as the sender called it, never where it is stored."""
    limits = ddex.ReadLimits(max_bytes=settings.xml_max_bytes, max_depth=settings.xml_max_depth)
    try:
        message = ddex.read_file(path, limits=limits)
    except ddex.ErnReadError as exc:
        where = path.name if exc.line is None else f"{path.name}, line {exc.line}"
        raise DeliveryRejectedError(
            422, MESSAGE_FIELD, f"not a readable ERN message: {where}: {exc.reason}"
        ) from exc
    message_id = message.header.message_id
    if message_id is not None and len(message_id) > SHORT_TEXT:
        raise DeliveryRejectedError(
            422, MESSAGE_FIELD, f"MessageId is longer than {SHORT_TEXT} characters"
        )
    return message.header


def check_message_sender(session: Session, *, sender: Sender, dpid: str | None) -> None:
    """Refuse a message whose MessageSender DPID is not registered for the signing sender."""
    registered = accounts.sender_dpids(session, sender_id=sender.id)
    if dpid and dpid.strip() in registered:
        return
    named = f"DPID {dpid.strip()!r}" if dpid and dpid.strip() else "no DPID"
    hint = (
        f"registered: {', '.join(registered)}"
        if registered
        else "none registered: an operator adds one with `integrity senders add-dpid`"
    )
    raise DeliveryRejectedError(
        422, MESSAGE_SENDER_FIELD, f"{named} is not a DPID of sender {sender.name!r} ({hint})"
    )


def check_sender_enabled(session: Session, *, sender: Sender) -> Sender:
    """The sender's current row; 403 when it was disabled (API processes cache keys a while)."""
    current = session.get(Sender, sender.id)
    if current is None or current.disabled:
        raise DeliveryRejectedError(403, "sender", f"sender {sender.name!r} is disabled")
    return current


def find_replay(session: Session, *, sender: Sender, webhook_id: str) -> AcceptedDelivery | None:
    """The delivery this sender's webhook id was already given (other senders' ids are theirs)."""
    receipt = session.scalars(
        select(WebhookReceipt).where(
            WebhookReceipt.sender_id == sender.id, WebhookReceipt.webhook_id == webhook_id
        )
    ).first()
    if receipt is None:
        return None
    return AcceptedDelivery(delivery_id=receipt.delivery_id, created=False)


def _receipt(
    webhook_id: str, sender: Sender, message_id: str | None, delivery_id: int, size: int
) -> WebhookReceipt:
    return WebhookReceipt(
        webhook_id=webhook_id,
        sender_id=sender.id,
        message_id=message_id,
        delivery_id=delivery_id,
        body_bytes=size,
    )


def accept_delivery(
    session: Session,
    *,
    settings: Settings,
    sender: Sender,
    actor: str,
    webhook_id: str,
    spool: BodySpool,
    signature: str,
    content_type: str | None,
) -> AcceptedDelivery:
    """Verify a spooled webhook body, store its files durably and register the delivery."""
    if not spool.signature_matches(signature):
        raise DeliveryRejectedError(
            401, "webhook-signature", "no signature matches a sender secret"
        )
    sender = check_sender_enabled(session, sender=sender)
    replay = find_replay(session, sender=sender, webhook_id=webhook_id)
    if replay is not None:
        return replay
    is_json = parse_options_header(content_type or "")[0] == JSON_TYPE
    boundary = None if is_json else multipart_boundary(content_type)
    assert settings.storage_dir is not None
    directory = settings.storage_dir / uuid.uuid4().hex
    try:
        if boundary is None:
            stored = store_json(spool_path=spool.path, directory=directory, settings=settings)
        else:
            stored = store_multipart(spool_path=spool.path, boundary=boundary, directory=directory)
        assert stored.message_filename is not None
        header = read_message_header(directory / stored.message_filename, settings=settings)
        check_message_sender(session, sender=sender, dpid=header.sender.dpid)
        message_id = header.message_id
        if message_id is not None:
            earlier = session.scalars(
                select(WebhookReceipt).where(
                    WebhookReceipt.sender_id == sender.id, WebhookReceipt.message_id == message_id
                )
            ).first()
            if earlier is not None:
                shutil.rmtree(directory, ignore_errors=True)
                session.add(_receipt(webhook_id, sender, None, earlier.delivery_id, spool.size))
                session.flush()
                return AcceptedDelivery(delivery_id=earlier.delivery_id, created=False)
        delivery, created = pipeline.register_delivery(
            session,
            storage_path=directory,
            message_filename=stored.message_filename,
            source=WEBHOOK_SOURCE_PREFIX + sender.name,
            uploader=sender.name,
            sender_id=sender.id,
            webhook_id=webhook_id,
        )
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    if not created:
        # Same message bytes as an earlier delivery of this sender: keep the first copy.
        shutil.rmtree(directory, ignore_errors=True)
    session.add(
        _receipt(webhook_id, sender, message_id if created else None, delivery.id, spool.size)
    )
    if created:
        record_event(
            session,
            actor=actor,
            role=security.ROLE_UPLOADER,
            action="delivery.received",
            delivery_id=delivery.id,
            after=delivery.status,
            evidence={
                "webhook_id": webhook_id,
                "message_id": message_id,
                "files": stored.files,
                "body_bytes": spool.size,
            },
        )
    session.flush()
    if not created:
        return AcceptedDelivery(delivery_id=delivery.id, created=False)
    # Last, once every unique key has been checked: a store write is not rolled back with the
    # transaction, so nothing may refuse the delivery after it.
    local_copy = store_durably(session, delivery=delivery, directory=directory, settings=settings)
    return AcceptedDelivery(
        delivery_id=delivery.id,
        created=True,
        directory=local_copy,
        location=delivery.storage_path,
    )


def store_durably(
    session: Session, *, delivery: Delivery, directory: Path, settings: Settings
) -> Path | None:
    """Make the delivery's folder durable in the configured store and record where it is.

    Returns the local folder when it is still the stored copy (local backend); None when the
    delivery now lives in the object store only (the workers download it from there, so the
    local copy is removed). A store failure removes the local copy and answers 503: the caller's
    transaction is rolled back, and the client may resend the same webhook id. The client is
    not told bucket names or endpoints; the log has the object key and the store's error."""
    store = storage.store_for(settings)
    try:
        location = store.put_delivery(directory)
    except storage.StorageError as exc:
        shutil.rmtree(directory, ignore_errors=True)
        logger.error("delivery not stored", extra={"delivery_id": delivery.id, "error": str(exc)})
        raise ServiceError(
            503, "storage", "the delivery store is unavailable: nothing was recorded, send it again"
        ) from exc
    if location == str(directory):
        return directory
    try:
        delivery.storage_path = location
        session.flush()
    except BaseException:
        store.discard(location)
        raise
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return None
