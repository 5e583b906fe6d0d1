"""Fixtures for the service tests: a throwaway PostgreSQL database, a private Redis server and
API keys/senders created through the same service functions the CLI uses.

Isolation from the other engineers working on this machine: every test session gets its own
database (CREATE DATABASE integrity_test_<random>, dropped afterwards) and its own redis-server
process on a free port, so a Redis restart in a test never disturbs anyone else.
"""

from __future__ import annotations

import collections
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

    def restart_empty(self) -> None:
        """Stop, lose every file (as a Redis whose volume is gone), start again empty."""
        self.stop()
        for entry in self.directory.iterdir():
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        self.start()


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

TEST_SENDER_DPID = "PADPIDA2014120301X"
"""The MessageSender of `make_ern` messages (every test sender registers it unless told)."""

HEADER_TEMPLATE = """  <MessageHeader>
    <MessageThreadId>{message_id}</MessageThreadId>
    <MessageId>{message_id}</MessageId>
    <MessageSender><PartyId>{sender_dpid}</PartyId>
      <PartyName><FullName>Test Distributor</FullName></PartyName></MessageSender>
    <MessageRecipient><PartyId>PADPIDA2014120302Y</PartyId>
      <PartyName><FullName>Test DSP</FullName></PartyName></MessageRecipient>
    <MessageCreatedDateTime>2026-11-24T02:00:00Z</MessageCreatedDateTime>
    <MessageControlType>{control}</MessageControlType>
  </MessageHeader>
"""

ERN_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<ern:NewReleaseMessage xmlns:ern="http://ddex.net/xml/ern/43" LanguageAndScriptCode="en"
   ReleaseProfileVersionId="Audio" AvsVersionId="3">
{header}  <PartyList>
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


def make_ern(
    message_id: str,
    tracks: list[TrackSpec],
    *,
    control: str = "LiveMessage",
    sender_dpid: str = TEST_SENDER_DPID,
    icpn: str | None = None,
) -> bytes:
    """An ERN 4.3 NewReleaseMessage with one album naming the given audio files."""
    recordings = "".join(
        RECORDING_TEMPLATE.format(
            n=i, isrc=t.isrc, title=t.title, filename=t.filename, duration=t.duration
        )
        for i, t in enumerate(tracks, start=1)
    )
    items = "".join(GROUP_ITEM_TEMPLATE.format(n=i) for i in range(1, len(tracks) + 1))
    if icpn is None:
        icpn = str(int(hashlib.sha256(message_id.encode()).hexdigest(), 16) % 10**13).zfill(13)
    header = HEADER_TEMPLATE.format(
        message_id=message_id, sender_dpid=sender_dpid, control=control
    )
    return ERN_TEMPLATE.format(
        header=header,
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
            "INTEGRITY_BROKER_LEASE_RENEW_INTERVAL_S": "5",
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
        self.process = _start_logged(
            self.command(),
            self.env,
            self.log_path,
            ready=lambda: self._readies() > readies_before,
            what="worker",
        )

    def _readies(self) -> int:
        """How many times a worker logged that it is ready (one per start)."""
        return self.log_path.read_bytes().count(b" ready.") if self.log_path.exists() else 0

    def kill(self) -> None:
        """SIGKILL the worker and its pool children (its own process group)."""
        _end_group(self.process, gracefully=False)
        self.process = None

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if it lingers."""
        _end_group(self.process, gracefully=True)
        self.process = None


def _start_logged(
    command: list[str], env: dict[str, str], log_path: Path, *, ready: Callable[[], bool], what: str
) -> subprocess.Popen[bytes]:
    """Start a child in its own session (so its whole tree can be signalled), logging to
    `log_path`, and wait until `ready()` (bounded; fails with the log's tail)."""
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if ready():
            return process
        if process.poll() is not None:
            break
        time.sleep(POLL_INTERVAL_S * 4)
    pytest.fail(f"{what} did not start:\n{log_path.read_text()[-4000:]}")


def _end_group(process: subprocess.Popen[bytes] | None, *, gracefully: bool) -> None:
    """End a child started in its own session, with every process of its group: SIGTERM
    first when `gracefully` (then SIGKILL if it lingers), else SIGKILL at once."""
    if process is None or process.poll() is not None:
        return
    if gracefully:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=WORKER_STOP_TIMEOUT_S)
            return
        except subprocess.TimeoutExpired:
            pass
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=WORKER_STOP_TIMEOUT_S)


@dataclass
class BeatProcess:
    """`celery -A workers.app beat`: the periodic sweep, as `integrity beat` runs it."""

    env: dict[str, str]
    log_path: Path
    schedule_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [str(CELERY_BIN), "-A", "workers.app", "beat", "--loglevel", "INFO"]
        self.process = _start_logged(
            [*command, "--schedule", str(self.schedule_path)],
            self.env,
            self.log_path,
            ready=lambda: b"beat: Starting" in self.log_path.read_bytes(),
            what="beat",
        )

    def stop(self) -> None:
        _end_group(self.process, gracefully=True)
        self.process = None


def _environment_for(settings: Settings, overrides: dict[str, str] | None) -> dict[str, str]:
    return service_environment(
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        data_dir=settings.data_dir,
        queue_prefix=settings.queue_prefix,
        overrides=overrides,
    )


def worker_for(
    settings: Settings, log_path: Path, overrides: dict[str, str] | None = None
) -> WorkerProcess:
    """A worker process configured like the API under test (same database, Redis, prefix)."""
    return WorkerProcess(env=_environment_for(settings, overrides), log_path=log_path)


def beat_for(
    settings: Settings, directory: Path, overrides: dict[str, str] | None = None
) -> BeatProcess:
    """A beat process configured like the API under test (its schedule file in `directory`)."""
    return BeatProcess(
        env=_environment_for(settings, overrides),
        log_path=directory / "beat.log",
        schedule_path=directory / "celerybeat-schedule",
    )


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


def create_accounts(
    settings: Settings, sender_name: str, *, dpids: tuple[str, ...] = (TEST_SENDER_DPID,)
) -> dict[str, str]:
    """A sender (sending as `dpids`) and one key per role, created as `integrity senders add
    --dpid` / `keys create` do."""
    engine = create_db_engine(settings.database_url)
    try:
        with session_scope(session_factory(engine)) as session:
            _, secret = accounts.create_sender(session, name=sender_name, dpids=dpids)
            made = {"secret": secret}
            made["uploader"] = accounts.create_api_key(
                session, role="uploader", sender_name=sender_name
            ).key
            for role in ("moderator", "admin", "service"):
                made[role] = accounts.create_api_key(session, role=role, name=f"{role}-1").key
    finally:
        engine.dispose()
    return made


@contextmanager
def open_service(settings: Settings) -> Iterator[Service]:
    """A fresh sender and keys in the settings' database, and the API in-process."""
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


@pytest.fixture()
def service(
    tmp_path: Path,
    pg_database_url: str,
    redis_server: RedisServer,
) -> Iterator[Service]:
    with open_service(make_settings(tmp_path, pg_database_url, redis_server.url)) as opened:
        yield opened


AUDIO_RATE_HZ = 22_050
AUDIO_SECONDS = 8.0
NOTE_SECONDS = 0.25
LOWEST_NOTE_HZ = 220.0
SEMITONES_SPAN = 24


def unique_audio(seconds: float = AUDIO_SECONDS, audio_format: str = "WAV") -> bytes:
    """A melody of random notes (a short WAV unless asked otherwise; "OGG" is Vorbis): content
    no other delivery in the catalog shares, so its analysis is never a cached one."""
    import io

    import numpy as np
    import soundfile

    rng = np.random.default_rng(secrets.randbits(64))
    per_note = int(AUDIO_RATE_HZ * NOTE_SECONDS)
    notes = rng.integers(0, SEMITONES_SPAN, size=int(seconds / NOTE_SECONDS))
    t = np.arange(per_note) / AUDIO_RATE_HZ
    envelope = np.minimum(1.0, np.linspace(0, 8, per_note)) * np.linspace(1.0, 0.3, per_note)
    signal = np.concatenate(
        [0.4 * envelope * np.sin(2 * np.pi * LOWEST_NOTE_HZ * 2 ** (n / 12) * t) for n in notes]
    )
    buffer = io.BytesIO()
    subtype = "VORBIS" if audio_format == "OGG" else None
    samples = signal.astype(np.float32)
    # One second per write: libsndfile's Vorbis encoder crashes on one long write (~2 min).
    with soundfile.SoundFile(
        buffer, "w", AUDIO_RATE_HZ, 1, format=audio_format, subtype=subtype
    ) as sink:
        for start in range(0, len(samples), AUDIO_RATE_HZ):
            sink.write(samples[start : start + AUDIO_RATE_HZ])
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Deliveries through the API and what the workers made of them.


def deliver(service: Service, tracks: list[TrackSpec], files: dict[str, bytes]) -> int:
    """POST one signed delivery of these tracks; returns its id (asserts the 202)."""
    message = make_ern(f"MSG-{secrets.token_hex(6)}", tracks)
    body, content_type = multipart_body(message, files)
    headers = signed_headers(
        secret=service.secret, body=body, content_type=content_type, key=service.uploader_key
    )
    response = service.client.post("/v1/deliveries", content=body, headers=headers)
    assert response.status_code == 202, response.text
    return int(response.json()["delivery_id"])


def wait_finished(service: Service, delivery_id: int, *, timeout_s: float) -> dict[str, Any]:
    """The delivery's view once it is completed or failed (bounded wait)."""
    headers = service.auth(service.moderator_key)

    def finished() -> dict[str, Any] | None:
        view = service.client.get(f"/v1/deliveries/{delivery_id}", headers=headers).json()
        return view if view["status"] in ("completed", "failed") else None

    return wait_for(finished, timeout_s=timeout_s, what=f"delivery {delivery_id} to finish")


def query_rows(service: Service, statement: Any) -> list[Any]:
    """Rows of one statement against the test database (its own short-lived engine)."""
    engine = create_db_engine(service.settings.database_url)
    try:
        with session_factory(engine)() as session:
            return list(session.execute(statement))
    finally:
        engine.dispose()


def assert_each_track_processed_once(
    service: Service, delivery_id: int, track_ids: list[int]
) -> None:
    """Exactly one analysis and one scoring per track in the audit log, one completion of the
    delivery, and one analysis row per distinct asset."""
    from sqlalchemy import select

    from integrity.db.models import Analysis, Track
    from integrity.db.service_models import AuditEvent

    events = query_rows(
        service,
        select(AuditEvent.action, AuditEvent.track_id).where(AuditEvent.delivery_id == delivery_id),
    )
    counts = collections.Counter((action, track) for action, track in events)
    for track_id in track_ids:
        assert counts[("track.analyzed", track_id)] == 1, counts
        assert counts[("track.scored", track_id)] == 1, counts
    assert counts[("delivery.completed", None)] == 1
    assets = query_rows(service, select(Track.asset_sha256).where(Track.id.in_(track_ids)))
    shas = [sha for (sha,) in assets]
    analyses = query_rows(
        service, select(Analysis.asset_sha256).where(Analysis.asset_sha256.in_(shas))
    )
    assert sorted(sha for (sha,) in analyses) == sorted(set(shas))


def stranded_tracks(service: Service, delivery_id: int) -> dict[tuple[str, tuple[int, ...]], Any]:
    """This delivery's unfinished tracks that no task is running (their rows are not locked),
    as the sweep sees them: (task name, args) -> when the row last moved."""
    from integrity.service import queues, steps

    engine = create_db_engine(service.settings.database_url)
    try:
        with session_scope(session_factory(engine)) as session:
            work = steps.stranded_work(session, older_than_s=0)
    finally:
        engine.dispose()
    names = {"analyze": queues.ANALYZE_TRACK_TASK, "score": queues.SCORE_TRACK_TASK}
    return {
        (names[item.step], item.args): item.since
        for item in work
        if item.delivery_id == delivery_id and item.step in names
    }


def wait_resent(
    service: Service, delivery_id: int, stranded: dict[Any, Any], *, timeout_s: float
) -> float:
    """The monotonic time at which one stranded track was carried by a message again (re-sent)
    or had moved on (picked up between two looks)."""
    from integrity.service import queues

    client = redis.Redis.from_url(service.settings.redis_url)

    def resent() -> bool:
        held = queues.held_tasks(client, service.settings)
        now = stranded_tracks(service, delivery_id)
        return any(key in held or now.get(key) != since for key, since in stranded.items())

    wait_for(resent, timeout_s=timeout_s, what="the stranded work to be re-sent")
    return time.monotonic()


def running_analyses(service: Service, since: Any) -> list[str]:
    """Task ids of analyses started since `since` and not finished (a cancelled task's
    bookkeeping stays 'running', so earlier tests' leftovers are excluded by the time)."""
    from sqlalchemy import select

    from integrity.db.service_models import TaskAttempt
    from integrity.service.queues import ANALYZE_TRACK_TASK

    rows = query_rows(
        service,
        select(TaskAttempt.task_id).where(
            TaskAttempt.task_name == ANALYZE_TRACK_TASK,
            TaskAttempt.state == "running",
            TaskAttempt.first_seen_at >= since,
        ),
    )
    return [task_id for (task_id,) in rows]


# More than one sender: each with its own secret and uploader key, and the worker steps run
# in-process on a delivery (the real worker is exercised in test_workers.py and e2e).

OTHER_SENDER_DPID = "PADPIDA2026120201U"
"""A second DDEX Party ID for tests that need two senders under different DPIDs."""

PURGE_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<ern:PurgeReleaseMessage xmlns:ern="http://ddex.net/xml/ern/43" LanguageAndScriptCode="en"
   AvsVersionId="3">
{header}  <PurgedRelease>
    <ReleaseId><ICPN>{icpn}</ICPN></ReleaseId>
    <DisplayTitleText>Lanterns On The Water</DisplayTitleText>
  </PurgedRelease>
</ern:PurgeReleaseMessage>
"""


def make_purge(message_id: str, *, icpn: str, sender_dpid: str = TEST_SENDER_DPID) -> bytes:
    """An ERN 4.3 PurgeReleaseMessage taking down the release with this ICPN."""
    header = HEADER_TEMPLATE.format(
        message_id=message_id, sender_dpid=sender_dpid, control="LiveMessage"
    )
    return PURGE_TEMPLATE.format(header=header, icpn=icpn).encode()


@dataclass(frozen=True)
class Uploader:
    """One sender as an uploader sees itself: its name, webhook secret and uploader key."""

    name: str
    secret: str
    key: str


def add_uploader(service: Service, *, dpids: tuple[str, ...]) -> Uploader:
    """Another sender, sending as `dpids`, beside the fixture's own."""
    name = f"sender-{secrets.token_hex(4)}"
    made = create_accounts(service.settings, name, dpids=dpids)
    return Uploader(name=name, secret=made["secret"], key=made["uploader"])


def fixture_uploader(service: Service) -> Uploader:
    """The `service` fixture's sender (sending as TEST_SENDER_DPID)."""
    return Uploader(name=service.sender, secret=service.secret, key=service.uploader_key)


def upload(
    service: Service,
    uploader: Uploader,
    message: bytes,
    files: dict[str, bytes],
    *,
    webhook_id: str | None = None,
) -> Any:
    """POST /v1/deliveries signed with the uploader's secret and key; the response."""
    body, content_type = multipart_body(message, files)
    headers = signed_headers(
        secret=uploader.secret,
        body=body,
        content_type=content_type,
        key=uploader.key,
        webhook_id=webhook_id,
    )
    return service.client.post("/v1/deliveries", content=body, headers=headers)


def run_worker_steps(settings: Settings, delivery_id: int) -> list[int]:
    """Ingest, analyse, score and finish a delivery in-process, a transaction per step as the
    worker tasks do; returns the ingested track ids."""
    from integrity.service import steps

    engine = create_db_engine(settings.database_url)
    factory = session_factory(engine)
    try:
        with session_scope(factory) as session:
            track_ids = steps.ingest_step(session, delivery_id=delivery_id, settings=settings)
        for track_id in track_ids:
            with session_scope(factory) as session:
                steps.analyze_step(
                    session, delivery_id=delivery_id, track_id=track_id, settings=settings
                )
            with session_scope(factory) as session:
                steps.score_step(
                    session, delivery_id=delivery_id, track_id=track_id, settings=settings
                )
        with session_scope(factory) as session:
            steps.finish_when_done(session, delivery_id=delivery_id)
    finally:
        engine.dispose()
    return track_ids
