"""Load benchmark of the service: signed small deliveries accepted per second, and /v1/filter
latency for 100 ids, against a real uvicorn server on 127.0.0.1, PostgreSQL and Redis.

    .venv/bin/python benchmarks/service_load.py [--deliveries 200] [--requests 500] [--runs 3]

Everything it creates is private and removed afterwards: a fresh PostgreSQL database
(integrity_bench_<random>), a redis-server on a free port, a temporary storage folder. The
reference is a trivial /healthz round trip measured in the same run, so the ratios say what
the filter and the webhook cost above the HTTP stack on this machine.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import load_average, machine  # noqa: E402

from integrity.db.models import Delivery, Track  # noqa: E402
from integrity.db.service_models import TrackModeration  # noqa: E402
from integrity.db.session import (  # noqa: E402
    create_db_engine,
    session_factory,
    session_scope,
    upgrade_schema,
)
from integrity.service import accounts  # noqa: E402
from tests.service_support import (  # noqa: E402
    TEST_SENDER_DPID,
    TrackSpec,
    make_ern,
    multipart_body,
    signed_headers,
)

POSTGRES_ADMIN_URL = os.environ.get(
    "INTEGRITY_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SEEDED_TRACKS = 5000
FILTER_IDS = 100
AUDIO_BYTES = 16 * 1024  # the "small delivery": one ERN and one 16 KiB audio file
SERVER_START_TIMEOUT_S = 30.0
POLL_S = 0.1
HTTP_TIMEOUT_S = 10.0
WARMUP_REQUESTS = 10  # untimed calls before each series: connections, prepared statements, the
# rate limiter's Lua script; the figures are steady-state latency, not a cold start
DECISIONS = ("clear", "clear", "clear", "review", "filter", "block", None)
PERCENT = 100.0
MS_PER_S = 1000.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"integrity_bench_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_ADMIN_URL.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def process(args: list[str], *, env: dict[str, str], ready: Callable[[], bool]) -> Iterator[None]:
    child = subprocess.Popen(
        args, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while not ready():
            if time.monotonic() > deadline or child.poll() is not None:
                raise RuntimeError(f"{args[0]} did not start")
            time.sleep(POLL_S)
        yield
    finally:
        child.terminate()
        child.wait(timeout=SERVER_START_TIMEOUT_S)


def answers(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=HTTP_TIMEOUT_S).status_code == 200
        except httpx.HTTPError:
            return False

    return check


def redis_answers(port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    return check


def seed(url: str) -> tuple[dict[str, str], list[int], list[str]]:
    """A sender, keys, and SEEDED_TRACKS tracks with a mix of decisions; returns ids and ISRCs."""
    engine = create_db_engine(url)
    factory = session_factory(engine)
    with session_scope(factory) as session:
        _, secret = accounts.create_sender(session, name="bench", dpids=(TEST_SENDER_DPID,))
        keys = {"secret": secret}
        for role, sender in (("uploader", "bench"), ("service", None)):
            keys[role] = accounts.create_api_key(
                session, role=role, sender_name=sender, rate_per_minute=10**9
            ).key
        delivery = Delivery(
            message_sha256="0" * 64,
            source="bench",
            storage_path="/nonexistent",
            message_filename="m.xml",
            status="completed",
            pipeline_version="bench",
        )
        session.add(delivery)
        session.flush()
        tracks = [
            Track(
                track_key=f"bench:{n}",
                delivery_id=delivery.id,
                isrc=f"QZBEN26{n:05d}",
                state="scored",
                decision=DECISIONS[n % len(DECISIONS)],
            )
            for n in range(SEEDED_TRACKS)
        ]
        session.add_all(tracks)
        session.flush()
        for track in tracks[:: len(DECISIONS) * 3]:
            session.add(
                TrackModeration(
                    track_id=track.id,
                    decision="filter",
                    action="filter",
                    reason="bench",
                    actor="bench",
                )
            )
        ids = [t.id for t in tracks]
        isrcs = [t.isrc or "" for t in tracks]
    engine.dispose()
    return keys, ids, isrcs


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share / PERCENT * len(ordered)) - 1))
    return ordered[index]


def timed(call: Callable[[], httpx.Response], count: int, expect: int) -> tuple[list[float], int]:
    latencies, errors = [], 0
    for _ in range(count):
        started = time.perf_counter()
        response = call()
        latencies.append(time.perf_counter() - started)
        errors += response.status_code != expect
    return latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=200, help="signed uploads per run")
    parser.add_argument("--requests", type=int, default=500, help="filter/healthz calls per run")
    parser.add_argument("--runs", type=int, default=3, help="repetitions (medians reported)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="integrity-bench-"))
    redis_port, api_port = free_port(), free_port()
    base = f"http://127.0.0.1:{api_port}"
    try:
        with postgres_database() as database_url:
            upgrade_schema(database_url)
            keys, ids, isrcs = seed(database_url)
            env = {k: v for k, v in os.environ.items() if not k.startswith("INTEGRITY_")}
            env.update(
                INTEGRITY_DATABASE_URL=database_url,
                INTEGRITY_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
                INTEGRITY_DATA_DIR=str(workdir / "data"),
                INTEGRITY_LOG_LEVEL="WARNING",
                INTEGRITY_API_RATE_BURST=str(10**9),
            )
            redis_cmd = [
                shutil.which("redis-server") or "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ]
            api_cmd = [
                sys.executable,
                "-m",
                "uvicorn",
                "integrity.api:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(api_port),
                "--log-level",
                "warning",
            ]
            with (
                process(redis_cmd, env=env, ready=redis_answers(redis_port)),
                process(api_cmd, env=env, ready=answers(f"{base}/healthz")),
            ):
                report = run(base, keys, ids, isrcs, args)
            report.update(in_process_filter(database_url, ids, isrcs, args))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_report(report, args)


def run(
    base: str, keys: dict[str, str], ids: list[int], isrcs: list[str], args: argparse.Namespace
) -> dict[str, list[float]]:
    report: dict[str, list[float]] = {
        k: []
        for k in (
            "healthz_p50",
            "healthz_p99",
            "filter_p50",
            "filter_p99",
            "deliveries_per_s",
            "delivery_p50",
            "delivery_errors",
            "filter_errors",
        )
    }
    audio = secrets.token_bytes(AUDIO_BYTES)
    filter_headers = {"authorization": f"Bearer {keys['service']}"}
    with httpx.Client(base_url=base, timeout=HTTP_TIMEOUT_S) as client:
        for run_index in range(args.runs):
            timed(lambda: client.get("/healthz"), WARMUP_REQUESTS, 200)
            health, _ = timed(lambda: client.get("/healthz"), args.requests, 200)
            report["healthz_p50"].append(percentile(health, 50))
            report["healthz_p99"].append(percentile(health, 99))

            half = FILTER_IDS // 2
            offset = run_index * FILTER_IDS
            mixed: list[int | str] = [
                *ids[offset : offset + half],
                *isrcs[offset + half : offset + FILTER_IDS],
            ]
            body = {"tracks": mixed, "surface": "recommendation"}
            timed(
                lambda body=body: client.post("/v1/filter", json=body, headers=filter_headers),
                WARMUP_REQUESTS,
                200,
            )
            latencies, errors = timed(
                lambda body=body: client.post("/v1/filter", json=body, headers=filter_headers),
                args.requests,
                200,
            )
            report["filter_p50"].append(percentile(latencies, 50))
            report["filter_p99"].append(percentile(latencies, 99))
            report["filter_errors"].append(errors)

            uploads = []
            for n in range(args.deliveries):
                message = make_ern(
                    f"BENCH-{run_index}-{n}-{secrets.token_hex(4)}",
                    [TrackSpec(f"QZBED26{n:05d}", "Bench", "a.ogg")],
                )
                content, content_type = multipart_body(message, {"a.ogg": audio})
                uploads.append((content, content_type))
            started = time.perf_counter()
            delivery_latencies, delivery_errors = [], 0
            for content, content_type in uploads:
                headers = signed_headers(
                    secret=keys["secret"],
                    body=content,
                    content_type=content_type,
                    key=keys["uploader"],
                )
                t0 = time.perf_counter()
                response = client.post("/v1/deliveries", content=content, headers=headers)
                delivery_latencies.append(time.perf_counter() - t0)
                delivery_errors += response.status_code != 202
            elapsed = time.perf_counter() - started
            report["deliveries_per_s"].append(args.deliveries / elapsed)
            report["delivery_p50"].append(percentile(delivery_latencies, 50))
            report["delivery_errors"].append(delivery_errors)
    return report


def in_process_filter(
    database_url: str, ids: list[int], isrcs: list[str], args: argparse.Namespace
) -> dict[str, list[float]]:
    """The filter's own share: the service function on the API's read engine, no HTTP."""
    from integrity.api.app import read_only_engine
    from integrity.service import filtering

    main_engine = create_db_engine(database_url)
    engine = read_only_engine(main_engine)
    p50s, p99s = [], []
    try:
        for run_index in range(args.runs):
            offset = run_index * FILTER_IDS
            half = FILTER_IDS // 2
            mixed: list[int | str] = [
                *ids[offset : offset + half],
                *isrcs[offset + half : offset + FILTER_IDS],
            ]
            latencies = []
            for _ in range(args.requests):
                started = time.perf_counter()
                with engine.connect() as connection:
                    filtering.filter_tracks(connection, tracks=mixed, surface="recommendation")
                latencies.append(time.perf_counter() - started)
            p50s.append(percentile(latencies, 50))
            p99s.append(percentile(latencies, 99))
    finally:
        engine.dispose()
        main_engine.dispose()
    return {"service_p50": p50s, "service_p99": p99s}


def print_report(report: dict[str, list[float]], args: argparse.Namespace) -> None:
    def median(key: str) -> float:
        return statistics.median(report[key])

    print(f"machine: {machine()}, 1-min load average at the end {load_average()}")
    print(
        f"server: 1 uvicorn process on 127.0.0.1, PostgreSQL, Redis; {SEEDED_TRACKS} tracks "
        f"seeded; {args.runs} runs, medians of per-run figures; sequential client"
    )
    print()
    print("| measure | median | per run |")
    print("| --- | --- | --- |")
    rows = [
        ("/healthz p50 (reference)", "healthz_p50", MS_PER_S, "ms"),
        ("/healthz p99", "healthz_p99", MS_PER_S, "ms"),
        (f"/v1/filter p50, {FILTER_IDS} ids", "filter_p50", MS_PER_S, "ms"),
        (f"/v1/filter p99, {FILTER_IDS} ids", "filter_p99", MS_PER_S, "ms"),
        ("filter service function p50 (no HTTP)", "service_p50", MS_PER_S, "ms"),
        ("filter service function p99 (no HTTP)", "service_p99", MS_PER_S, "ms"),
        ("/v1/filter errors", "filter_errors", 1.0, ""),
        (
            f"signed deliveries accepted/s ({args.deliveries} per run)",
            "deliveries_per_s",
            1.0,
            "/s",
        ),
        ("delivery round trip p50", "delivery_p50", MS_PER_S, "ms"),
        ("delivery errors (non-202)", "delivery_errors", 1.0, ""),
    ]
    for label, key, scale, unit in rows:
        per_run = ", ".join(f"{v * scale:.2f}" for v in report[key])
        print(f"| {label} | {median(key) * scale:.2f} {unit} | {per_run} |")
    print()
    print(
        f"filter p50 / healthz p50 = {median('filter_p50') / median('healthz_p50'):.1f}x; "
        f"filter p99 goal ≤ 20 ms: {'met' if median('filter_p99') <= 0.020 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
