"""A real S3-compatible HTTP server for the delivery-store tests: moto's server on 127.0.0.1.

Why a server and not in-process mocking: the store is exercised through boto3's real HTTP path
(signing, retries, timeouts, multipart transfer), and a Celery worker in another process reaches
the same bucket over the network, as it would reach MinIO or S3.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from integrity.config import Settings
from tests.service_support import free_port

S3_TEST_REGION = "us-east-1"
S3_TEST_KEY_ID = "integrity-test"
S3_TEST_SECRET = "integrity-test-secret"  # moto accepts any credentials
S3_TEST_MAX_ATTEMPTS = 1  # a refused connection is reported at once, not after retries
S3_TEST_CONNECT_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class S3Server:
    """Where the moto server listens, and a boto3 client for arranging and inspecting buckets."""

    endpoint_url: str

    def client(self) -> Any:
        import boto3

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=S3_TEST_REGION,
            aws_access_key_id=S3_TEST_KEY_ID,
            aws_secret_access_key=S3_TEST_SECRET,
        )

    def new_bucket(self) -> str:
        """A fresh bucket, so tests sharing the server never see each other's objects."""
        name = f"deliveries-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str) -> dict[str, bytes]:
        """Every object of the bucket with its bytes."""
        client = self.client()
        listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {
            item["Key"]: client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            for item in listed
        }

    def environment(self, bucket: str) -> dict[str, str]:
        """INTEGRITY_* variables that point a worker process at this server and bucket."""
        return {
            "INTEGRITY_STORAGE_BACKEND": "s3",
            "INTEGRITY_S3_BUCKET": bucket,
            "INTEGRITY_S3_ENDPOINT_URL": self.endpoint_url,
            "INTEGRITY_S3_REGION": S3_TEST_REGION,
            "INTEGRITY_S3_ACCESS_KEY_ID": S3_TEST_KEY_ID,
            "INTEGRITY_S3_SECRET_ACCESS_KEY": S3_TEST_SECRET,
        }


def s3_settings(base: Settings, *, endpoint_url: str, bucket: str) -> Settings:
    """`base` switched to the S3 backend (a fresh Settings, so the validators run again)."""
    values = base.model_dump()
    values.update(
        storage_backend="s3",
        s3_bucket=bucket,
        s3_endpoint_url=endpoint_url,
        s3_region=S3_TEST_REGION,
        s3_access_key_id=S3_TEST_KEY_ID,
        s3_secret_access_key=S3_TEST_SECRET,
        s3_max_attempts=S3_TEST_MAX_ATTEMPTS,
        s3_connect_timeout_s=S3_TEST_CONNECT_TIMEOUT_S,
    )
    return Settings(**values)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's threaded S3 server on a free local port for the whole test session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield S3Server(endpoint_url=f"http://127.0.0.1:{port}")
    finally:
        server.stop()
