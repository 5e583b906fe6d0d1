"""No stranded work, with real processes (a worker, beat, a private Redis, PostgreSQL):

- Redis restarted empty mid-run (its volume lost) or FLUSHALLed: every queued and unacked
  message is gone, and the beat sweep re-sends what the database says is unfinished;
- the whole worker process tree SIGKILLed (parent and pool children): its message waits in
  Redis's unacked set only until its lease expires, then another worker runs it;
- a task running longer than the visibility timeout is never handed to a second worker while
  its worker is alive (the lease renewal).

Each ends with every track processed exactly once. Recovery times are printed (`-s`) and held
only to generous bounds (no timing assertion of performance).
"""

from __future__ import annotations

import time

import pytest
import redis
from sqlalchemy import select

from integrity.db.models import utc_now
from integrity.db.service_models import DeadLetter, TaskAttempt
from tests.service_support import (
    TrackSpec,
    assert_each_track_processed_once,
    beat_for,
    deliver,
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

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

# Fresh content every time (a file analysed before is a cache hit, over in no time): long
# enough that an analysis is in progress when the fault strikes, small enough as Vorbis that a
# delivery of four stays under the test API's body cap.
LONG_TRACK_S = 120.0
TRACKS = 4
ANALYZE_TASK = "workers.tasks.analyze_track"
RUN_TIMEOUT_S = 300.0
WATCH_TIMEOUT_S = 120.0

# Seconds, scaled down from the production defaults (180 / 30 / 10 / 60 / 120) so that a run
# takes a minute. The task time limit is far above the visibility timeout on purpose: only the
# lease renewal keeps a long task from being handed out twice.
VISIBILITY_TIMEOUT_S = 9
LEASE_RENEW_INTERVAL_S = 3
RESTORE_INTERVAL_S = 2
SWEEP_INTERVAL_S = 2
STALL_AFTER_S = 6
TASK_TIME_LIMIT_S = 200
RECOVERY = {
    "INTEGRITY_BROKER_VISIBILITY_TIMEOUT_S": str(VISIBILITY_TIMEOUT_S),
    "INTEGRITY_BROKER_LEASE_RENEW_INTERVAL_S": str(LEASE_RENEW_INTERVAL_S),
    "INTEGRITY_BROKER_RESTORE_INTERVAL_S": str(RESTORE_INTERVAL_S),
    "INTEGRITY_SWEEP_INTERVAL_S": str(SWEEP_INTERVAL_S),
    "INTEGRITY_TASK_STALL_AFTER_S": str(STALL_AFTER_S),
    "INTEGRITY_TASK_TIME_LIMIT_S": str(TASK_TIME_LIMIT_S),
    "INTEGRITY_TASK_SOFT_TIME_LIMIT_S": str(TASK_TIME_LIMIT_S - 20),
}
# Generous: the stated bound plus time for processes to reconnect or start on a loaded host.
SLACK_S = 90.0
SWEEP_BOUND_S = STALL_AFTER_S + SWEEP_INTERVAL_S
LEASE_BOUND_S = VISIBILITY_TIMEOUT_S + RESTORE_INTERVAL_S
# For the long-task test: a visibility timeout shorter than any analysis of the longer files.
SHORT_VISIBILITY_TIMEOUT_S = 3
SHORT_LEASES = {
    **RECOVERY,
    "INTEGRITY_BROKER_VISIBILITY_TIMEOUT_S": str(SHORT_VISIBILITY_TIMEOUT_S),
    "INTEGRITY_BROKER_LEASE_RENEW_INTERVAL_S": "1",
    "INTEGRITY_BROKER_RESTORE_INTERVAL_S": "1",
}


@pytest.fixture()
def worker(service, tmp_path):
    process = worker_for(service.settings, tmp_path / "worker.log", overrides=RECOVERY)
    process.start()
    yield process
    process.stop()


@pytest.fixture()
def beat(service, tmp_path):
    process = beat_for(service.settings, tmp_path, overrides=RECOVERY)
    process.start()
    yield process
    process.stop()


def _deliver_longer_tracks(service, tag: str, count: int = TRACKS) -> int:
    specs = [
        TrackSpec(random_isrc(f"{tag}{n}"), f"Long Track {n}", f"{tag.lower()}{n}.ogg", "PT2M")
        for n in range(count)
    ]
    files = {spec.filename: unique_audio(LONG_TRACK_S, "OGG") for spec in specs}
    return deliver(service, specs, files)


def _assert_clean(service, delivery_id: int) -> None:
    view = wait_finished(service, delivery_id, timeout_s=RUN_TIMEOUT_S)
    assert view["status"] == "completed", view
    assert all(t["state"] == "scored" for t in view["tracks"]), view
    assert_each_track_processed_once(service, delivery_id, [t["id"] for t in view["tracks"]])
    assert query_rows(service, select(DeadLetter.id)) == []


@pytest.mark.parametrize("how", ["restart-empty", "flushall"])
def test_work_lost_with_redis_is_resent_by_the_sweep(service, worker, beat, redis_server, how):
    since = utc_now()
    delivery_id = _deliver_longer_tracks(service, "E")
    wait_for(
        lambda: running_analyses(service, since),
        timeout_s=WATCH_TIMEOUT_S,
        what="an analysis running",
    )
    started = time.monotonic()
    if how == "restart-empty":
        redis_server.restart_empty()
    else:
        redis.Redis.from_url(redis_server.url).flushall()
    stranded = stranded_tracks(service, delivery_id)
    assert stranded, "the fault came after the delivery finished: nothing was at stake"
    resumed_s = (
        wait_resent(service, delivery_id, stranded, timeout_s=SWEEP_BOUND_S + SLACK_S) - started
    )
    _assert_clean(service, delivery_id)
    recovered_s = time.monotonic() - started
    print(
        f"\nredis {how}: {len(stranded)} tracks stranded; re-sent {resumed_s:.1f} s after the "
        f"fault, delivery completed after {recovered_s:.1f} s (stated bound to re-send: stall "
        f"{STALL_AFTER_S} s + sweep interval {SWEEP_INTERVAL_S} s = {SWEEP_BOUND_S} s, plus "
        "reconnection)"
    )
    assert "sweep recovered stranded work" in worker.log_path.read_text()


def test_a_worker_killed_whole_resumes_after_its_lease_expires(service, worker, beat):
    since = utc_now()
    delivery_id = _deliver_longer_tracks(service, "W")
    killed = wait_for(
        lambda: running_analyses(service, since),
        timeout_s=WATCH_TIMEOUT_S,
        what="an analysis running",
    )[0]
    worker.kill()  # SIGKILL to the worker's process group: the parent and its pool children
    started = time.monotonic()
    worker.start()  # a new worker, as a restart policy would start (returns once it is ready)
    ready_s = time.monotonic() - started

    def redelivered() -> bool:
        rows = query_rows(
            service, select(TaskAttempt.deliveries).where(TaskAttempt.task_id == killed)
        )
        return rows == [(2,)]

    wait_for(redelivered, timeout_s=LEASE_BOUND_S + SLACK_S, what="the killed task to come back")
    resumed_s = time.monotonic() - started
    _assert_clean(service, delivery_id)
    recovered_s = time.monotonic() - started
    print(
        f"\nworker SIGKILLed whole: a new worker was ready after {ready_s:.1f} s; the killed "
        f"task ran again {resumed_s:.1f} s after the kill, "
        f"delivery completed {recovered_s:.1f} s after it (stated bound to resume: visibility "
        f"timeout {VISIBILITY_TIMEOUT_S} s + restore interval {RESTORE_INTERVAL_S} s = "
        f"{LEASE_BOUND_S} s, plus the worker's start)"
    )
    state = query_rows(service, select(TaskAttempt.state).where(TaskAttempt.task_id == killed))
    assert state == [("done",)]


def test_a_task_longer_than_the_visibility_timeout_runs_once(service, tmp_path):
    """Two workers: without lease renewal the second would take the first one's message as soon
    as the visibility timeout passed."""
    workers = [
        worker_for(service.settings, tmp_path / f"worker{n}.log", overrides=SHORT_LEASES)
        for n in range(2)
    ]
    for process in workers:
        process.start()
    since = utc_now()
    try:
        delivery_id = _deliver_longer_tracks(service, "L", count=2)
        _assert_clean(service, delivery_id)
    finally:
        for process in workers:
            process.stop()
    attempts = query_rows(
        service,
        select(TaskAttempt.deliveries, TaskAttempt.last_duration_s).where(
            TaskAttempt.task_name == ANALYZE_TASK,
            TaskAttempt.state == "done",
            TaskAttempt.first_seen_at >= since,
        ),
    )
    longest = max(duration or 0.0 for _, duration in attempts)
    print(
        f"\nlongest analysis {longest:.1f} s against a visibility timeout of "
        f"{SHORT_VISIBILITY_TIMEOUT_S} s; deliveries per task {sorted(d for d, _ in attempts)}"
    )
    if longest <= SHORT_VISIBILITY_TIMEOUT_S:
        pytest.fail(f"no analysis outlasted the {SHORT_VISIBILITY_TIMEOUT_S}-s visibility timeout")
    assert all(deliveries == 1 for deliveries, _ in attempts), attempts
