"""All runtime configuration, in one place (environment variables with the INTEGRITY_ prefix).

Why one object: the CLI, the API, the workers and the rescans must agree on where the database,
the blob store and the fingerprint index live, and on the limits applied to untrusted input.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from integrity.audio import constants as audio_constants
from integrity.locations import (
    DATABASE_FILE,
    DELIVERIES_DIR,
    INDEX_FILE,
    S3_CACHE_DIR,
    SHIPPED_MODELS_DIR,
    default_data_dir,
)

MEBIBYTE = 1024 * 1024
GIBIBYTE = 1024 * MEBIBYTE


class Settings(BaseSettings):
    """Service and CLI settings; every field can be set as INTEGRITY_<FIELD_NAME>."""

    model_config = SettingsConfigDict(env_prefix="INTEGRITY_", env_file=None, extra="ignore")

    environment: Literal["dev", "test", "prod"] = "dev"
    log_level: str = "INFO"
    log_format: Literal["console", "json"] = "console"

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = ""  # empty: SQLite file inside data_dir (the embedded default)
    storage_dir: Path | None = None  # accepted deliveries; default data_dir/deliveries
    index_path: Path | None = None  # embedded fingerprint index; default data_dir/fingerprints
    # Service mode: PostgreSQL URLs the fingerprint postings are hash-partitioned over (postgres_fdw
    # foreign tables) when the index is first created in database_url; empty: one server. An
    # existing index keeps the shards it was built with (a different list is refused).
    fingerprint_shards: list[str] = Field(default_factory=list)
    models_dir: Path = SHIPPED_MODELS_DIR
    policy_file: Path | None = None
    protected_artists_file: Path | None = None  # operator's list, added to the shipped default
    redis_url: str = "redis://127.0.0.1:6379/0"

    # Untrusted XML.
    xml_max_bytes: int = 16 * MEBIBYTE
    xml_max_depth: int = 256  # libxml2 refuses deeper trees for free; lower caps cost a check

    # Untrusted audio: decoded and analysed (measure, fingerprint, features) in a sandboxed
    # child process with these caps; the timeout and memory limit cover the whole analysis.
    audio_max_bytes: int = audio_constants.DEFAULT_MAX_BYTES
    audio_max_duration_s: float = audio_constants.DEFAULT_MAX_DURATION_S
    decode_timeout_s: float = audio_constants.DEFAULT_DECODE_TIMEOUT_S
    decode_memory_limit_bytes: int = audio_constants.DEFAULT_DECODE_MEMORY_LIMIT_BYTES

    # Service: the upload webhook, the API and the workers.
    webhook_tolerance_s: int = 300  # accepted clock skew of webhook-timestamp, both ways
    webhook_max_body_bytes: int = 256 * MEBIBYTE  # whole multipart body, checked before reading
    api_rate_limit_per_minute: int = 600  # default per API key
    api_rate_burst: int = 120  # requests a key may send at once before the rate applies
    # Where the per-key token buckets live. "redis": one bucket per key shared by every API
    # process (at redis_url); "memory": one per process, so N processes allow N times the rate.
    # "auto": redis in service mode (PostgreSQL), memory for the embedded SQLite default.
    api_rate_limit_backend: Literal["auto", "memory", "redis"] = "auto"
    api_rate_limit_redis_timeout_s: float = 0.1  # connect/read cap of the one Redis call
    api_rate_limit_redis_retry_s: float = 5.0  # after a Redis failure, local buckets this long
    # Keys the cache does not know cost a database lookup: per client address, at most this
    # many such requests a minute (burst at once); beyond, 429 before the database is asked.
    api_unknown_key_rate_per_minute: int = 60
    api_unknown_key_burst: int = 20
    api_key_cache_size: int = 10_000  # API keys (and unknown ones) cached, LRU beyond this

    # HTTP server (uvicorn) limits against slow or oversized requests; a reverse proxy in front
    # should apply the same or tighter ones (see compose.yaml).
    api_header_timeout_s: float = 10.0  # request line and headers must arrive within this
    api_keep_alive_timeout_s: int = 5  # an idle keep-alive connection is closed after this
    api_max_header_bytes: int = 16 * 1024  # request line + headers (h11's incomplete event cap)
    api_body_idle_timeout_s: float = 30.0  # longest wait for the next chunk of a request body
    api_body_timeout_s: float = 900.0  # whole body (a 256-MiB upload needs >= 0.3 MB/s)
    api_max_body_bytes: int = MEBIBYTE  # JSON bodies of every route but the upload webhook
    # Client addresses are taken from X-Forwarded-For only when the peer is one of these
    # (comma-separated addresses or "*"): the reverse proxy's address in production.
    api_forwarded_allow_ips: str = "127.0.0.1"
    # With --workers N, uvicorn restarts a worker process that does not answer its health ping
    # within this; a cold start (importing the scoring stack) takes longer than uvicorn's 5 s
    # on a loaded machine, and such workers were killed and restarted for ever.
    api_worker_healthcheck_timeout_s: int = 60
    queue_prefix: str = ""  # prepended to every Celery queue name (isolates test runs)
    task_max_retries: int = 5
    task_retry_backoff_max_s: int = 600
    task_max_deliveries: int = 5  # a task redelivered more often is quarantined (dead letter)
    task_soft_time_limit_s: int = 900
    task_time_limit_s: int = 1200
    # A message a worker took stays in Redis's unacked set until acknowledged; a live worker
    # renews the lease of every message it holds (running, reserved or waiting for a retry's
    # countdown) every broker_lease_renew_interval_s, so only the messages of a dead worker
    # (SIGKILL of the whole process tree, OOM, a lost node) age past the visibility timeout and
    # go back to their queue: a killed worker's work resumes within about
    # visibility timeout + restore interval, however long the task may legitimately run.
    broker_visibility_timeout_s: int = 180
    broker_lease_renew_interval_s: int = 30
    broker_restore_interval_s: int = 10  # how often workers return expired unacked messages
    # The beat sweep: every sweep_interval_s, work whose progress row has not moved for
    # task_stall_after_s, that no task is running (its row is not locked) and that no message in
    # Redis carries (queued, reserved or unacked) is re-sent (e.g. after Redis restarted empty).
    sweep_interval_s: int = 60
    task_stall_after_s: int = 120
    broker_health_check_interval_s: int = 25  # ping an idle broker connection this often
    review_claim_ttl_s: int = 1800
    console_session_ttl_s: int = 8 * 3600  # a console sign-in lasts one working day
    console_undo_window_s: int = 60  # a moderator may undo their last decision this long
    rescan_batch_size: int = 200
    # JSON deliveries naming audio by URL: fetched only from these hosts ("host" or "host:port").
    fetch_allowed_hosts: list[str] = Field(default_factory=list)
    fetch_allow_http: bool = False  # plain http only for tests and private networks
    fetch_timeout_s: float = 30.0

    # Where accepted deliveries are kept. "local": under storage_dir (API and workers share that
    # volume). "s3": uploaded to an S3-compatible bucket before the 202 (needs the `s3` extra);
    # workers download each delivery into s3_cache_dir. Credentials: the explicit pair below, or
    # boto3's standard chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, instance roles).
    storage_backend: Literal["local", "s3"] = "local"
    s3_bucket: str = ""
    s3_prefix: str = "deliveries/"  # key prefix inside the bucket; each delivery a folder below
    s3_endpoint_url: str | None = None  # None: AWS; e.g. http://minio:9000 (path-style then)
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_connect_timeout_s: float = 5.0
    s3_read_timeout_s: float = 60.0
    s3_max_attempts: int = 3  # per request, botocore's "standard" retry mode (backoff included)
    s3_cache_dir: Path | None = None  # workers' copies of S3 deliveries; default data_dir/s3-cache
    # A worker's copy not used for this long is removed (also half-finished downloads of a killed
    # worker); a task uses its copy for minutes at most (task_time_limit_s).
    s3_cache_max_age_s: int = 24 * 3600

    @model_validator(mode="after")
    def _fill_derived_paths(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / DATABASE_FILE}"
        if self.storage_dir is None:
            self.storage_dir = self.data_dir / DELIVERIES_DIR
        if self.index_path is None:
            self.index_path = self.data_dir / INDEX_FILE
        if self.s3_cache_dir is None:
            self.s3_cache_dir = self.data_dir / S3_CACHE_DIR
        if self.storage_backend == "s3" and not self.s3_bucket:
            raise ValueError("INTEGRITY_STORAGE_BACKEND=s3 needs INTEGRITY_S3_BUCKET")
        if bool(self.s3_access_key_id) != (self.s3_secret_access_key is not None):
            raise ValueError(
                "set both INTEGRITY_S3_ACCESS_KEY_ID and INTEGRITY_S3_SECRET_ACCESS_KEY, or neither"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own Settings instead)."""
    return Settings()
