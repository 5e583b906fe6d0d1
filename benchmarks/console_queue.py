"""Console queue-page render time with 10,000 queued tracks, beside /healthz, against a real
`integrity serve` on 127.0.0.1 (PostgreSQL, and the embedded SQLite database).

    .venv/bin/python benchmarks/console_queue.py [--tracks 10000] [--requests 100] [--runs 3]
        [--backend both|postgres|sqlite]

The goal is a queue page in at most 200 ms of server time. What is timed is the full round trip
of a signed-in GET (sequential client on the same machine); /healthz measured in the same run
is the HTTP stack's own cost, so "page − healthz" is the time the page itself takes. Everything
created is private and removed afterwards (a fresh database, a temporary data folder).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

import httpx
from sqlalchemy import text

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import service_load  # noqa: E402
from _machine import load_average, machine  # noqa: E402
from service_load import (  # noqa: E402
    HTTP_TIMEOUT_S,
    MS_PER_S,
    WARMUP_REQUESTS,
    answers,
    free_port,
    percentile,
    postgres_database,
    process,
    timed,
)

from integrity.db.session import (  # noqa: E402
    create_db_engine,
    session_factory,
    session_scope,
    upgrade_schema,
)
from integrity.service import accounts  # noqa: E402
from tests.console_support import seed_queue  # noqa: E402

SENDERS = 20  # the queue's tracks come from this many senders
DUPLICATE_SHARE = 3  # one sender in this many delivers duplicates, the others spam
BENCH_RATE_PER_MINUTE = 1_000_000  # the moderator key's rate: the limiter must not interfere
GOAL_MS = 200.0
SERVE_START_TIMEOUT_S = 180.0  # `integrity serve` imports the detectors: slow on a loaded machine
SERVER_TIMING_RE = re.compile(r"(app|cpu);dur=([0-9.]+)")
LOGIN_CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')
PAGES = {
    "queue, priority order": "/console/queue",
    "queue, spam filter, oldest first": "/console/queue?reason=spam&sort=oldest",
    "queue, one sender, page 3": "/console/queue?sender=sender-07&offset=100",
}


def seed(url: str, tracks: int) -> str:
    """`tracks` queued tracks over SENDERS senders; the moderator key."""
    upgrade_schema(url)
    engine = create_db_engine(url)
    per_sender = tracks // SENDERS
    with session_scope(session_factory(engine)) as session:
        for index in range(SENDERS):
            kind = "duplicate" if index % DUPLICATE_SHARE == 0 else "spam"
            seed_queue(
                session,
                sender=f"sender-{index:02d}",
                count=per_sender + (tracks % SENDERS if index == 0 else 0),
                kind=kind,
                waited_s=float(index * 600),
                score=0.5 + index / (2 * SENDERS),
            )
        key = accounts.create_api_key(
            session, role="moderator", name="bench", rate_per_minute=BENCH_RATE_PER_MINUTE
        ).key
    # Planner statistics now, as autovacuum would within a minute of a bulk load: without them
    # PostgreSQL plans the fresh tables as empty (nested loops over 10,000 rows).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))
    engine.dispose()
    return key


def sign_in(client: httpx.Client, key: str) -> None:
    form = client.get("/console/login")
    token = LOGIN_CSRF_RE.search(form.text)
    if token is None:
        raise RuntimeError("the sign-in page has no CSRF token")
    answer = client.post("/console/login", data={"api_key": key, "csrf": token.group(1)})
    if answer.status_code != 200 or "/console/queue" not in str(answer.url):
        raise RuntimeError(f"sign-in failed: {answer.status_code}")


def measure(
    url: str, data_dir: Path, tracks: int, args: argparse.Namespace
) -> dict[str, list[float]]:
    key = seed(url, tracks)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTEGRITY_")}
    env.update(
        {
            "INTEGRITY_DATABASE_URL": url,
            "INTEGRITY_DATA_DIR": str(data_dir),
            "INTEGRITY_API_RATE_LIMIT_BACKEND": "memory",
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    base = f"http://127.0.0.1:{port}"
    binary = str(Path(sys.executable).parent / "integrity")
    report: dict[str, list[float]] = {}
    with (
        process(
            [binary, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            ready=answers(f"{base}/healthz"),
        ),
        httpx.Client(base_url=base, timeout=HTTP_TIMEOUT_S, follow_redirects=True) as client,
    ):
        sign_in(client, key)
        total = re.search(r"(\d+) waiting", client.get("/console/queue").text)
        if total is None or int(total.group(1)) != tracks:
            raise RuntimeError(f"the queue page does not show {tracks} waiting tracks")
        series = {"healthz (reference)": "/healthz", **PAGES}
        for _ in range(args.runs):
            for label, path in series.items():
                timed(lambda path=path: client.get(path), WARMUP_REQUESTS, 200)
                timings: list[tuple[float, float]] = []

                def call(
                    path: str = path, timings: list[tuple[float, float]] = timings
                ) -> httpx.Response:
                    response = client.get(path)
                    found = SERVER_TIMING_RE.findall(response.headers.get("server-timing", ""))
                    if found:
                        values = dict(found)
                        timings.append((float(values["app"]), float(values["cpu"])))
                    return response

                latencies, errors = timed(call, args.requests, 200)
                if errors:
                    raise RuntimeError(f"{label}: {errors} requests did not answer 200")
                report.setdefault(f"{label}|p50", []).append(percentile(latencies, 50) * MS_PER_S)
                report.setdefault(f"{label}|p99", []).append(percentile(latencies, 99) * MS_PER_S)
                if timings:
                    report.setdefault(f"{label}|app", []).append(
                        statistics.median(t[0] for t in timings)
                    )
                    report.setdefault(f"{label}|cpu", []).append(
                        statistics.median(t[1] for t in timings)
                    )
    return report


def print_report(backend: str, report: dict[str, list[float]], args: argparse.Namespace) -> None:
    print(
        f"\n{backend}: {args.tracks} queued tracks, {args.requests} sequential requests per "
        f"series, median of {args.runs} runs"
    )
    print(
        "| page | round trip p50 ms | p99 ms | p50 − healthz ms | server (handler) p50 ms | "
        f"handler thread CPU p50 ms | goal: p99 ≤ {GOAL_MS:.0f} ms |"
    )
    print("|---|---|---|---|---|---|---|")
    reference = statistics.median(report["healthz (reference)|p50"])
    for label in ("healthz (reference)", *PAGES):
        p50 = statistics.median(report[f"{label}|p50"])
        p99 = statistics.median(report[f"{label}|p99"])
        app = statistics.median(report[f"{label}|app"]) if f"{label}|app" in report else None
        cpu = statistics.median(report[f"{label}|cpu"]) if f"{label}|cpu" in report else None
        verdict = "" if label.startswith("healthz") else ("met" if p99 <= GOAL_MS else "NOT met")
        print(
            f"| {label} | {p50:.1f} | {p99:.1f} | {p50 - reference:.1f} | "
            f"{'–' if app is None else f'{app:.1f}'} | {'–' if cpu is None else f'{cpu:.1f}'} "
            f"| {verdict} |"
        )
    print(
        "handler = the queue route's own wall time (Server-Timing); its thread CPU includes "
        "SQLite's work but not the PostgreSQL server's"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", choices=("both", "postgres", "sqlite"), default="both")
    args = parser.parse_args()
    service_load.SERVER_START_TIMEOUT_S = SERVE_START_TIMEOUT_S  # read by process() at call time
    print(f"machine: {machine()}; load average {load_average()}")
    if args.backend in ("both", "postgres"):
        with postgres_database() as url, tempfile.TemporaryDirectory() as folder:
            print_report("PostgreSQL", measure(url, Path(folder), args.tracks, args), args)
    if args.backend in ("both", "sqlite"):
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'integrity.db'}"
            print_report("SQLite (embedded)", measure(url, Path(folder), args.tracks, args), args)


if __name__ == "__main__":
    main()
