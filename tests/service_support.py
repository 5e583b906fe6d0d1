"""Fixtures for the service tests: a throwaway PostgreSQL database, a private Redis server and
API keys/senders created through the same service functions the CLI uses.

Isolation from the other engineers working on this machine: every test session gets its own
database (CREATE DATABASE integrity_test_<random>, dropped afterwards) and its own redis-server
process on a free port, so a Redis restart in a test never disturbs anyone else.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient

from integrity.api import create_app
from integrity.config import Settings
from integrity.db.session import create_db_engine, session_factory, session_scope, upgrade_schema
from integrity.service import accounts, security
from integrity.service.queues import STAGES

POSTGRES_ADMIN_URL = os.environ.get(
    "INTEGRITY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_START_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.05


def _admin_connect() -> psycopg.Connection:
    try:
        return psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc}")


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A freshly created PostgreSQL database at the newest migration, dropped afterwards."""
    name = f"integrity_test_{secrets.token_hex(6)}"
    with _admin_connect() as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    url = f"{base}/{name}"
    try:
        upgrade_schema(url)
        yield url
    finally:
        with _admin_connect() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """One fresh PostgreSQL database for the whole test session."""
    with fresh_pg_database() as url:
        yield url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RedisServer:
    """A private redis-server child process (AOF on, noeviction, as in production)."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed")
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--maxmemory-policy",
                "noeviction",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + REDIS_START_TIMEOUT_S
        client = redis.Redis.from_url(self.url)
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(POLL_INTERVAL_S)
        pytest.fail(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=REDIS_START_TIMEOUT_S)
        self.process = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private Redis for this test session."""
    server = RedisServer(port=free_port(), directory=tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------------
# Deliveries: a small ERN 4.3 NewReleaseMessage naming audio files, and signed multipart bodies.

ERN_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<ern:NewReleaseMessage xmlns:ern="http://ddex.net/xml/ern/43" LanguageAndScriptCode="en"
   ReleaseProfileVersionId="Audio" AvsVersionId="3">
  <MessageHeader>
    <MessageThreadId>{message_id}</MessageThreadId>
    <MessageId>{message_id}</MessageId>
    <MessageSender><PartyId>PADPIDA2014120301X</PartyId>
      <PartyName><FullName>Test Distributor</FullName></PartyName></MessageSender>
    <MessageRecipient><PartyId>PADPIDA2014120302Y</PartyId>
      <PartyName><FullName>Test DSP</FullName></PartyName></MessageRecipient>
    <MessageCreatedDateTime>2026-11-24T02:00:00Z</MessageCreatedDateTime>
    <MessageControlType>{control}</MessageControlType>
  </MessageHeader>
  <PartyList>
    <Party><PartyReference>PArtist</PartyReference>
      <PartyName><FullName>The Testers</FullName></PartyName></Party>
    <Party><PartyReference>PLabel</PartyReference>
      <PartyName><FullName>Test Label</FullName></PartyName></Party>
  </PartyList>
  <ResourceList>{recordings}
  </ResourceList>
  <ReleaseList>
    <Release>
      <ReleaseReference>R0</ReleaseReference>
      <ReleaseType>Album</ReleaseType>
      <ReleaseId><ICPN>{icpn}</ICPN></ReleaseId>
      <DisplayTitleText>Lanterns On The Water</DisplayTitleText>
      <DisplayTitle><TitleText>Lanterns On The Water</TitleText></DisplayTitle>
      <DisplayArtistName>The Testers</DisplayArtistName>
      <DisplayArtist SequenceNumber="1"><ArtistPartyReference>PArtist</ArtistPartyReference>
        <DisplayArtistRole>MainArtist</DisplayArtistRole></DisplayArtist>
      <ReleaseLabelReference>PLabel</ReleaseLabelReference>
      <Genre><GenreText>Pop</GenreText></Genre>
      <ParentalWarningType>NotExplicit</ParentalWarningType>
      <ResourceGroup>{group_items}
      </ResourceGroup>
    </Release>
  </ReleaseList>
  <DealList>
    <ReleaseDeal>
      <DealReleaseReference>R0</DealReleaseReference>
      <Deal><DealTerms><TerritoryCode>Worldwide</TerritoryCode>
        <ValidityPeriod><StartDate>2026-01-01</StartDate></ValidityPeriod>
        <CommercialModelType>SubscriptionModel</CommercialModelType>
        <UseType>Stream</UseType></DealTerms></Deal>
    </ReleaseDeal>
  </DealList>
</ern:NewReleaseMessage>
"""

RECORDING_TEMPLATE = """
    <SoundRecording>
      <ResourceReference>A{n}</ResourceReference>
      <Type>MusicalWorkSoundRecording</Type>
      <SoundRecordingEdition>
        <ResourceId><ISRC>{isrc}</ISRC></ResourceId>
        <PLine><Year>2026</Year><PLineText>2026 Test Label</PLineText></PLine>
        <TechnicalDetails>
          <TechnicalResourceDetailsReference>T{n}</TechnicalResourceDetailsReference>
          <DeliveryFile><Type>AudioFile</Type><AudioCodecType>OggVorbis</AudioCodecType>
            <File><URI>{filename}</URI></File></DeliveryFile>
        </TechnicalDetails>
      </SoundRecordingEdition>
      <DisplayTitleText>{title}</DisplayTitleText>
      <DisplayTitle><TitleText>{title}</TitleText></DisplayTitle>
      <DisplayArtistName>The Testers</DisplayArtistName>
      <DisplayArtist SequenceNumber="1"><ArtistPartyReference>PArtist</ArtistPartyReference>
        <DisplayArtistRole>MainArtist</DisplayArtistRole></DisplayArtist>
      <Duration>{duration}</Duration>
      <ParentalWarningType>NotExplicit</ParentalWarningType>
    </SoundRecording>"""

GROUP_ITEM_TEMPLATE = """
        <ResourceGroupContentItem><SequenceNumber>{n}</SequenceNumber>
          <ReleaseResourceReference>A{n}</ReleaseResourceReference></ResourceGroupContentItem>"""


def random_isrc(registrant: str) -> str:
    """A fresh ISRC: country QZ, the given 3-character registrant, year 26, a random number."""
    return f"QZ{registrant}26{secrets.randbelow(10**5):05d}"


@dataclass(frozen=True)
class TrackSpec:
    isrc: str
    title: str
    filename: str
    duration: str = "PT8S"  # AUDIO_SECONDS, what unique_audio() renders


def make_ern(message_id: str, tracks: list[TrackSpec], *, control: str = "LiveMessage") -> bytes:
    """An ERN 4.3 NewReleaseMessage with one album naming the given audio files."""
    recordings = "".join(
        RECORDING_TEMPLATE.format(
            n=i, isrc=t.isrc, title=t.title, filename=t.filename, duration=t.duration
        )
        for i, t in enumerate(tracks, start=1)
    )
    items = "".join(GROUP_ITEM_TEMPLATE.format(n=i) for i in range(1, len(tracks) + 1))
    icpn = str(int(hashlib.sha256(message_id.encode()).hexdigest(), 16) % 10**13).zfill(13)
    return ERN_TEMPLATE.format(
        message_id=message_id,
        control=control,
        recordings=recordings,
        group_items=items,
        icpn=icpn,
    ).encode()


def multipart_body(
    message: bytes, files: dict[str, bytes], *, message_name: str = "message.xml"
) -> tuple[bytes, str]:
    """A multipart/form-data body with `message` and `files` parts, and its content type."""
    boundary = f"----integrity{secrets.token_hex(8)}"
    chunks: list[bytes] = []
    parts = [("message", message_name, message, "application/xml")]
    parts += [("files", name, data, "application/octet-stream") for name, data in files.items()]
    for field, name, data, ctype in parts:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{name}"\r\nContent-Type: {ctype}\r\n\r\n'.encode()
        )
        chunks.append(data)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def signed_headers(
    *,
    secret: str,
    body: bytes,
    content_type: str,
    key: str,
    webhook_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """Authorization, content type and Standard Webhooks headers for one upload."""
    webhook_id = webhook_id or f"msg_{secrets.token_hex(8)}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    signature = security.sign_webhook(
        secret=secret, webhook_id=webhook_id, timestamp=timestamp, body=body
    )
    return {
        "authorization": f"Bearer {key}",
        "content-type": content_type,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


# ---------------------------------------------------------------------------------------------
# A real Celery worker in its own process group, configured only through INTEGRITY_* variables.

WORKER_READY_TIMEOUT_S = 60.0
WORKER_STOP_TIMEOUT_S = 20.0
REPO_ROOT = Path(__file__).resolve().parent.parent
CELERY_BIN = Path(sys.executable).parent / "celery"


def service_environment(
    *,
    database_url: str,
    redis_url: str,
    data_dir: Path,
    queue_prefix: str,
    overrides: dict[str, str] | None = None,
) -> dict[str, str]:
    """INTEGRITY_* variables for a worker; short timeouts so a killed task comes back fast."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTEGRITY_")}
    env.update(
        {
            "INTEGRITY_ENVIRONMENT": "test",
            "INTEGRITY_DATABASE_URL": database_url,
            "INTEGRITY_REDIS_URL": redis_url,
            "INTEGRITY_DATA_DIR": str(data_dir),
            "INTEGRITY_QUEUE_PREFIX": queue_prefix,
            "INTEGRITY_TASK_TIME_LIMIT_S": "60",
            "INTEGRITY_TASK_SOFT_TIME_LIMIT_S": "50",
            "INTEGRITY_TASK_RETRY_BACKOFF_MAX_S": "2",
            "INTEGRITY_TASK_MAX_RETRIES": "2",
            "INTEGRITY_BROKER_VISIBILITY_TIMEOUT_S": "75",
            # Small rescan batches: each must finish well within the soft time limit here.
            "INTEGRITY_RESCAN_BATCH_SIZE": "25",
            "INTEGRITY_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides or {})
    return env


@dataclass
class WorkerProcess:
    """`celery -A workers.app worker` on every stage queue, started and killed by its pid."""

    env: dict[str, str]
    log_path: Path
    concurrency: int = 1
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def command(self) -> list[str]:
        prefix = self.env["INTEGRITY_QUEUE_PREFIX"]
        return [
            str(CELERY_BIN),
            "-A",
            "workers.app",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            str(self.concurrency),
            "--without-gossip",
            "--without-mingle",
            "-n",
            f"test{self.starts}-{secrets.token_hex(3)}@%h",
            "-Q",
            ",".join(prefix + stage for stage in STAGES),
        ]

    def start(self) -> None:
        self.starts += 1
        readies_before = self._readies()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(),
            cwd=REPO_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._readies() > readies_before:
                return
            if self.process.poll() is not None:
                break
            time.sleep(POLL_INTERVAL_S * 4)
        pytest.fail(f"worker did not start:\n{self.log_path.read_text()[-4000:]}")

    def _readies(self) -> int:
        """How many times a worker logged that it is ready (one per start)."""
        return self.log_path.read_bytes().count(b" ready.") if self.log_path.exists() else 0

    def kill(self) -> None:
        """SIGKILL the worker and its pool children (its own process group)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=WORKER_STOP_TIMEOUT_S)
        self.process = None

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it lingers."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=WORKER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None


def worker_for(
    settings: Settings, log_path: Path, overrides: dict[str, str] | None = None
) -> WorkerProcess:
    """A worker process configured like the API under test (same database, Redis, prefix)."""
    env = service_environment(
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        data_dir=settings.data_dir,
        queue_prefix=settings.queue_prefix,
        overrides=overrides,
    )
    return WorkerProcess(env=env, log_path=log_path)


def wait_for(predicate: Callable[[], Any], *, timeout_s: float, what: str) -> Any:
    """Poll until `predicate()` is truthy (bounded); fail naming what was awaited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(POLL_INTERVAL_S * 4)
    pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


# ---------------------------------------------------------------------------------------------
# The API in-process (TestClient) with a sender and one key per role.

BURST_FOR_TESTS = 1000
SMALL_BODY_CAP_BYTES = 2 * 1024 * 1024


@dataclass
class Service:
    """An API client plus the keys and secret the tests use."""

    client: TestClient
    settings: Settings
    secret: str
    uploader_key: str
    moderator_key: str
    admin_key: str
    service_key: str
    sender: str

    def auth(self, key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"}


def make_settings(tmp_path: Path, database_url: str, redis_url: str) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=database_url,
        redis_url=redis_url,
        queue_prefix=f"t{secrets.token_hex(4)}.",
        webhook_max_body_bytes=SMALL_BODY_CAP_BYTES,
        api_rate_burst=BURST_FOR_TESTS,
    )


def create_accounts(settings: Settings, sender_name: str) -> dict[str, str]:
    """A sender and one key per role, created as `integrity senders add` / `keys create` do."""
    engine = create_db_engine(settings.database_url)
    try:
        with session_scope(session_factory(engine)) as session:
            _, secret = accounts.create_sender(session, name=sender_name)
            made = {"secret": secret}
            made["uploader"] = accounts.create_api_key(
                session, role="uploader", sender_name=sender_name
            ).key
            for role in ("moderator", "admin", "service"):
                made[role] = accounts.create_api_key(session, role=role, name=f"{role}-1").key
    finally:
        engine.dispose()
    return made


@pytest.fixture()
def service(
    tmp_path: Path,
    pg_database_url: str,
    redis_server: RedisServer,
) -> Iterator[Service]:
    settings = make_settings(tmp_path, pg_database_url, redis_server.url)
    sender = f"distributor-{secrets.token_hex(4)}"
    made = create_accounts(settings, sender)
    app = create_app(settings)
    with TestClient(app) as client:
        yield Service(
            client=client,
            settings=settings,
            secret=made["secret"],
            uploader_key=made["uploader"],
            moderator_key=made["moderator"],
            admin_key=made["admin"],
            service_key=made["service"],
            sender=sender,
        )


AUDIO_RATE_HZ = 22_050
AUDIO_SECONDS = 8.0
NOTE_SECONDS = 0.25
LOWEST_NOTE_HZ = 220.0
SEMITONES_SPAN = 24


def unique_audio() -> bytes:
    """A short WAV melody of random notes: content no other delivery in the catalog shares."""
    import io

    import numpy as np
    import soundfile

    rng = np.random.default_rng(secrets.randbits(64))
    per_note = int(AUDIO_RATE_HZ * NOTE_SECONDS)
    notes = rng.integers(0, SEMITONES_SPAN, size=int(AUDIO_SECONDS / NOTE_SECONDS))
    t = np.arange(per_note) / AUDIO_RATE_HZ
    envelope = np.minimum(1.0, np.linspace(0, 8, per_note)) * np.linspace(1.0, 0.3, per_note)
    signal = np.concatenate(
        [0.4 * envelope * np.sin(2 * np.pi * LOWEST_NOTE_HZ * 2 ** (n / 12) * t) for n in notes]
    )
    buffer = io.BytesIO()
    soundfile.write(buffer, signal.astype(np.float32), AUDIO_RATE_HZ, format="WAV")
    return buffer.getvalue()
