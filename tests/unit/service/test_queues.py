"""The broker configuration's invariants and the reading of kombu's stored messages."""

from __future__ import annotations

import base64
import json

import pytest

from integrity.config import Settings
from integrity.service import queues


def test_the_defaults_resume_a_dead_workers_messages_within_minutes(settings: Settings):
    queues.check_timeouts(settings)
    resumed_within_s = settings.broker_visibility_timeout_s + settings.broker_restore_interval_s
    assert resumed_within_s <= 5 * 60
    assert settings.task_stall_after_s + settings.sweep_interval_s <= 5 * 60
    # A task may run longer than the visibility timeout: its worker renews the lease.
    assert settings.task_time_limit_s > settings.broker_visibility_timeout_s
    app = queues.create_celery(settings)
    transport = app.conf.broker_transport_options
    assert transport["visibility_timeout"] == settings.broker_visibility_timeout_s
    assert transport["unacked_restore_throttle"] == 1
    assert queues.LEASE_RENEWAL_STEP in app.steps["consumer"]
    assert app.conf.beat_schedule["sweep"]["schedule"].total_seconds() == settings.sweep_interval_s


def test_a_visibility_timeout_shorter_than_three_renewals_is_refused(settings: Settings):
    short = settings.model_copy(
        update={"broker_visibility_timeout_s": 50, "broker_lease_renew_interval_s": 20}
    )
    with pytest.raises(ValueError, match="INTEGRITY_BROKER_VISIBILITY_TIMEOUT_S"):
        queues.check_timeouts(short)
    never = settings.model_copy(update={"broker_lease_renew_interval_s": 0})
    with pytest.raises(ValueError, match="INTEGRITY_BROKER_LEASE_RENEW_INTERVAL_S"):
        queues.check_timeouts(never)


def test_the_unacked_keys_follow_the_queue_prefix(settings: Settings):
    assert queues.unacked_keys(settings)["unacked_key"] == "unacked"  # kombu's own default
    prefixed = settings.model_copy(update={"queue_prefix": "blue."})
    assert queues.unacked_keys(prefixed) == {
        "unacked_key": "blue.unacked",
        "unacked_index_key": "blue.unacked_index",
        "unacked_mutex_key": "blue.unacked_mutex",
    }


def _kombu_message(task: str, args: list[int]) -> dict:
    body = base64.b64encode(json.dumps([args, {}, {}]).encode()).decode()
    return {
        "body": body,
        "headers": {"task": task, "id": "x"},
        "properties": {"body_encoding": "base64"},
    }


def test_stored_messages_are_read_whether_queued_or_unacked():
    message = _kombu_message(queues.ANALYZE_TRACK_TASK, [3, 9])
    queued = json.dumps(message)
    unacked = json.dumps([message, "", "analyze"])
    assert queues._task_of(queued) == (queues.ANALYZE_TRACK_TASK, (3, 9))
    assert queues._task_of(unacked) == (queues.ANALYZE_TRACK_TASK, (3, 9))
    assert queues._task_of(b"not json") is None
    assert queues._task_of(json.dumps({"body": "%%%", "headers": {}})) is None
