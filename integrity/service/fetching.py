"""Fetching delivery files named by URL: allow-listed hosts only, no redirects, capped size.

A JSON delivery names its audio files by URL instead of carrying them. The URL must use https
(http only when explicitly allowed), name no user or password, and its host (with the port when
one is given) must be on `Settings.fetch_allowed_hosts`; redirects are not followed (they would
leave the allow-list), and the body is cut at the size cap while it streams to disk.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from integrity.config import Settings
from integrity.service.errors import ServiceError

FETCH_CHUNK_BYTES = 1024 * 1024
HTTP_OK = 200


def check_url(url: str, *, settings: Settings, field: str) -> str:
    """The URL if it may be fetched, else a 422 naming the field and the reason."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ServiceError(422, field, f"not a URL: {exc}") from exc
    allowed_schemes = {"https", "http"} if settings.fetch_allow_http else {"https"}
    if parts.scheme not in allowed_schemes:
        raise ServiceError(422, field, f"scheme must be one of {sorted(allowed_schemes)}")
    if parts.username or parts.password:
        raise ServiceError(422, field, "credentials in URLs are refused")
    host = (parts.hostname or "").lower()
    netloc = f"{host}:{parts.port}" if parts.port else host
    allowed = {entry.lower() for entry in settings.fetch_allowed_hosts}
    if not host or (netloc not in allowed and host not in allowed):
        raise ServiceError(422, field, f"host {netloc!r} is not on the fetch allow-list")
    return url


def fetch_to_file(url: str, target: Path, *, settings: Settings, field: str) -> int:
    """Stream an allow-listed URL into `target` (fsynced); returns the bytes written."""
    cap = settings.audio_max_bytes
    written = 0
    try:
        with (
            httpx.Client(follow_redirects=False, timeout=settings.fetch_timeout_s) as client,
            client.stream("GET", check_url(url, settings=settings, field=field)) as response,
        ):
            if response.status_code != HTTP_OK:
                raise ServiceError(422, field, f"answered HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > cap:
                raise ServiceError(413, field, f"{declared} bytes, over the {cap}-byte limit")
            with target.open("wb") as handle:
                for chunk in response.iter_bytes(FETCH_CHUNK_BYTES):
                    written += len(chunk)
                    if written > cap:
                        raise ServiceError(413, field, f"larger than the {cap}-byte limit")
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
    except httpx.HTTPError as exc:
        raise ServiceError(422, field, f"could not be fetched: {type(exc).__name__}") from exc
    return written
