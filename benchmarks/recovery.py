"""Recovery benchmark: how long stranded work takes to resume with the production defaults
(visibility timeout, lease renewal, restore interval, sweep interval, stall bound), after Redis
restarts empty and after the whole worker process tree is SIGKILLed mid-analysis.

    nice -n 10 .venv/bin/python benchmarks/recovery.py [--tracks 4] [--only redis|kill]

Real processes: a fresh PostgreSQL database (integrity_test_<random>), a redis-server on a free
port, one Celery worker (concurrency 1) and beat, the API in-process. The reference, measured
in the same run, is the same delivery processed without a fault; each fault reports the time
until the stranded work was carried again (re-sent, or restored from a dead worker's lease)
against the stated bound, and the completion time against the reference. Every run ends with
each track analysed and scored exactly once (checked in the audit log), or the script fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import load_average, machine  # noqa: E402
from sqlalchemy import select  # noqa: E402

from integrity.config import Settings  # noqa: E402
from integrity.db.models import utc_now  # noqa: E402
from integrity.db.service_models import TaskAttempt  # noqa: E402
from tests.service_support import (  # noqa: E402
    RedisServer,
    Service,
    TrackSpec,
    assert_each_track_processed_once,
    beat_for,
    deliver,
    free_port,
    fresh_pg_database,
    make_settings,
    open_service,
    query_rows,
    random_isrc,
    running_analyses,
    stranded_tracks,
    unique_audio,
    wait_finished,
    wait_for,
    wait_resent,
    worker_for,
)

# Fresh content for every delivery (an asset analysed before is a cache hit).
TRACK_S = 120.0
RUN_TIMEOUT_S = 1200.0
WATCH_TIMEOUT_S = 300.0
# The test harness's short timeouts, dropped so that the worker and beat read the production
# defaults of every recovery setting.
HARNESS_TIMEOUTS = (
    "INTEGRITY_TASK_TIME_LIMIT_S",
    "INTEGRITY_TASK_SOFT_TIME_LIMIT_S",
    "INTEGRITY_BROKER_VISIBILITY_TIMEOUT_S",
    "INTEGRITY_BROKER_LEASE_RENEW_INTERVAL_S",
)


@contextmanager
def service_under_test(directory: Path) -> Iterator[tuple[Service, RedisServer]]:
    """Database, Redis, accounts and the in-process API, removed afterwards."""
    redis_dir = directory / "redis"
    redis_dir.mkdir()
    server = RedisServer(port=free_port(), directory=redis_dir)
    server.start()
    try:
        with fresh_pg_database() as database_url:
            settings = make_settings(directory, database_url, server.url)
            with open_service(settings) as service:
                yield service, server
    finally:
        server.stop()


def deliver_tracks(service: Service, count: int, tag: str) -> int:
    specs = [
        TrackSpec(random_isrc(f"{tag}{n}"), f"Bench Track {n}", f"{tag.lower()}{n}.ogg", "PT2M")
        for n in range(count)
    ]
    files = {spec.filename: unique_audio(TRACK_S, "OGG") for spec in specs}
    return deliver(service, specs, files)


def finished_cleanly(service: Service, delivery_id: int) -> None:
    view = wait_finished(service, delivery_id, timeout_s=RUN_TIMEOUT_S)
    if view["status"] != "completed" or any(t["state"] != "scored" for t in view["tracks"]):
        raise SystemExit(f"delivery {delivery_id} did not complete cleanly: {view}")
    assert_each_track_processed_once(service, delivery_id, [t["id"] for t in view["tracks"]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=4, help="tracks per delivery")
    parser.add_argument("--only", choices=("redis", "kill"), default=None)
    args = parser.parse_args()
    defaults = Settings()
    sweep_bound = defaults.task_stall_after_s + defaults.sweep_interval_s
    lease_bound = defaults.broker_visibility_timeout_s + defaults.broker_restore_interval_s
    print(machine())
    print(
        f"defaults: visibility {defaults.broker_visibility_timeout_s} s, lease renewal "
        f"{defaults.broker_lease_renew_interval_s} s, restore {defaults.broker_restore_interval_s}"
        f" s, sweep {defaults.sweep_interval_s} s, stall {defaults.task_stall_after_s} s, task "
        f"time limit {defaults.task_time_limit_s} s; {args.tracks} tracks per delivery"
    )
    with tempfile.TemporaryDirectory(prefix="integrity-recovery-") as tmp:
        directory = Path(tmp)
        with service_under_test(directory) as (service, server):
            worker = worker_for(service.settings, directory / "worker.log")
            beat = beat_for(service.settings, directory)
            for name in HARNESS_TIMEOUTS:
                worker.env.pop(name)
                beat.env.pop(name)
            worker.start()
            beat.start()
            try:
                started = time.monotonic()
                finished_cleanly(service, deliver_tracks(service, args.tracks, "REF"))
                reference_s = time.monotonic() - started
                print(f"reference: delivery processed without a fault in {reference_s:.1f} s")
                if args.only in (None, "redis"):
                    since = utc_now()
                    delivery_id = deliver_tracks(service, args.tracks, "RDS")
                    wait_for(
                        lambda: running_analyses(service, since),
                        timeout_s=WATCH_TIMEOUT_S,
                        what="an analysis running",
                    )
                    started = time.monotonic()
                    server.restart_empty()
                    stranded = stranded_tracks(service, delivery_id)
                    resent = wait_resent(service, delivery_id, stranded, timeout_s=RUN_TIMEOUT_S)
                    finished_cleanly(service, delivery_id)
                    done = time.monotonic()
                    print(
                        f"redis restarted empty: {len(stranded)} tracks stranded, re-sent after "
                        f"{resent - started:.1f} s (bound {sweep_bound} s: "
                        f"{(resent - started) / sweep_bound:.2f} of it), completed after "
                        f"{done - started:.1f} s ({(done - started) / reference_s:.2f}x the "
                        "reference); every track processed exactly once"
                    )
                if args.only in (None, "kill"):
                    since = utc_now()
                    delivery_id = deliver_tracks(service, args.tracks, "KIL")
                    killed = wait_for(
                        lambda: running_analyses(service, since),
                        timeout_s=WATCH_TIMEOUT_S,
                        what="an analysis running",
                    )[0]
                    worker.kill()
                    started = time.monotonic()
                    worker.start()
                    ready = time.monotonic()

                    def redelivered() -> bool:
                        rows = query_rows(
                            service,
                            select(TaskAttempt.deliveries).where(TaskAttempt.task_id == killed),
                        )
                        return rows == [(2,)]

                    wait_for(redelivered, timeout_s=RUN_TIMEOUT_S, what="the killed task")
                    resumed = time.monotonic()
                    finished_cleanly(service, delivery_id)
                    done = time.monotonic()
                    print(
                        f"worker SIGKILLed whole: a new worker was ready after "
                        f"{ready - started:.1f} s, the killed task ran again after "
                        f"{resumed - started:.1f} s (bound {lease_bound} s: "
                        f"{(resumed - started) / lease_bound:.2f} of it), completed after "
                        f"{done - started:.1f} s ({(done - started) / reference_s:.2f}x the "
                        "reference); every track processed exactly once"
                    )
            finally:
                beat.stop()
                worker.stop()
    print(f"load average {load_average()}")


if __name__ == "__main__":
    main()
