"""A real Celery worker process on a private Redis and PostgreSQL: deliveries flow through the
stage queues, permanent failures become dead letters that replay, poison messages are
quarantined."""

from __future__ import annotations

import json
import secrets
import uuid

import pytest
from typer.testing import CliRunner

from integrity.db.service_models import DeadLetter, TaskAttempt
from integrity.db.session import create_db_engine, session_factory, session_scope
from tests.service_support import (
    TrackSpec,
    make_ern,
    multipart_body,
    random_isrc,
    signed_headers,
    unique_audio,
    wait_for,
    worker_for,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PROCESSING_TIMEOUT_S = 120.0


@pytest.fixture()
def worker(service, tmp_path):
    process = worker_for(service.settings, tmp_path / "worker.log")
    process.start()
    yield process
    process.stop()


def _rows(service, query):
    engine = create_db_engine(service.settings.database_url)
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(query))
    finally:
        engine.dispose()


def test_a_signed_delivery_is_processed_by_the_worker(service, worker):
    isrc = random_isrc("W01")
    message = make_ern(f"MSG-{secrets.token_hex(6)}", [TrackSpec(isrc, "Robin", "robin.wav")])
    body, content_type = multipart_body(message, {"robin.wav": unique_audio()})
    headers = signed_headers(
        secret=service.secret, body=body, content_type=content_type, key=service.uploader_key
    )
    response = service.client.post("/v1/deliveries", content=body, headers=headers)
    assert response.status_code == 202, response.text
    delivery_id = response.json()["delivery_id"]
    moderator = service.auth(service.moderator_key)

    def completed():
        view = service.client.get(f"/v1/deliveries/{delivery_id}", headers=moderator).json()
        return view if view["status"] in ("completed", "failed") else None

    view = wait_for(completed, timeout_s=PROCESSING_TIMEOUT_S, what="the delivery to complete")
    assert view["status"] == "completed"
    assert [(t["isrc"], t["state"]) for t in view["tracks"]] == [(isrc, "scored")]
    actions = [
        e["action"]
        for e in service.client.get(
            f"/v1/audit?delivery_id={delivery_id}", headers=moderator
        ).json()["events"]
    ]
    assert actions == [
        "delivery.received",
        "delivery.ingested",
        "track.analyzed",
        "track.scored",
        "delivery.completed",
    ]
    from sqlalchemy import select

    attempts = _rows(service, select(TaskAttempt))
    done = {a.task_name for a in attempts if a.state == "done"}
    assert {
        "workers.tasks.ingest_delivery",
        "workers.tasks.analyze_track",
        "workers.tasks.score_track",
    } <= done


def _cli(service, *args):
    """Run an `integrity` service command against the test database and Redis."""
    import typer

    from integrity.cli import service_cmds

    app = typer.Typer()
    service_cmds.register(app)
    env = {
        "INTEGRITY_DATABASE_URL": service.settings.database_url,
        "INTEGRITY_REDIS_URL": service.settings.redis_url,
        "INTEGRITY_QUEUE_PREFIX": service.settings.queue_prefix,
    }
    from integrity.config import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, list(args), env=env)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_permanent_failure_becomes_a_dead_letter_that_replays(service, worker):
    from sqlalchemy import select

    from integrity.api.app import TaskSender

    missing_delivery = 10**9
    TaskSender(service.settings).send(
        "workers.tasks.ingest_delivery", missing_delivery, stage="ingest"
    )

    def letters_for_missing():
        return [d for d in _rows(service, select(DeadLetter)) if d.args == [missing_delivery]]

    letters = wait_for(letters_for_missing, timeout_s=PROCESSING_TIMEOUT_S, what="a dead letter")
    assert letters[0].reason == "failed"
    assert "does not exist" in letters[0].error
    listed = _cli(service, "deadletters", "list", "--json")["dead_letters"]
    assert letters[0].id in [row["id"] for row in listed]
    replayed = _cli(service, "deadletters", "replay", str(letters[0].id), "--json")["replayed"]
    assert replayed[0]["id"] == letters[0].id
    # The replay runs again (and fails again: the delivery still does not exist).
    wait_for(
        lambda: len(letters_for_missing()) == 2,
        timeout_s=PROCESSING_TIMEOUT_S,
        what="the replayed task's dead letter",
    )
    listed = _cli(service, "deadletters", "list", "--json")["dead_letters"]
    assert letters[0].id not in [row["id"] for row in listed]


def test_a_message_redelivered_too_often_is_quarantined(service, worker):
    from sqlalchemy import select

    from integrity.api.app import TaskSender

    task_id = str(uuid.uuid4())
    engine = create_db_engine(service.settings.database_url)
    with session_scope(session_factory(engine)) as session:
        # As if the message had killed its worker five times already.
        session.add(
            TaskAttempt(
                task_id=task_id,
                task_name="workers.tasks.ingest_delivery",
                deliveries=5,
                state="running",
            )
        )
    engine.dispose()
    TaskSender(service.settings).send(
        "workers.tasks.ingest_delivery", 424242, stage="ingest", task_id=task_id
    )
    letter = wait_for(
        lambda: [d for d in _rows(service, select(DeadLetter)) if d.task_id == task_id],
        timeout_s=PROCESSING_TIMEOUT_S,
        what="the quarantined message",
    )[0]
    assert letter.reason == "quarantined"
    assert letter.attempts == 6
    attempt = next(a for a in _rows(service, select(TaskAttempt)) if a.task_id == task_id)
    assert attempt.state == "quarantined"


def test_a_delivery_whose_ingest_task_was_never_sent_is_recovered_by_the_sweep(service, worker):
    """The commit happened but the task send did not (Redis down at that moment)."""
    from datetime import timedelta

    from sqlalchemy import select, update

    from integrity.api.app import TaskSender
    from integrity.catalog import pipeline
    from integrity.db.models import Delivery, utc_now

    stall_s = service.settings.task_stall_after_s
    isrc = random_isrc("S01")
    message = make_ern(f"MSG-{secrets.token_hex(6)}", [TrackSpec(isrc, "Quiet Harbour", "a.wav")])
    directory = service.settings.storage_dir / uuid.uuid4().hex
    directory.mkdir(parents=True)
    (directory / "message.xml").write_bytes(message)
    (directory / "a.wav").write_bytes(unique_audio())
    engine = create_db_engine(service.settings.database_url)
    with session_scope(session_factory(engine)) as session:
        delivery, _ = pipeline.register_delivery(
            session, storage_path=directory, message_filename="message.xml", source="test"
        )
        delivery_id = delivery.id
        session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(received_at=utc_now() - timedelta(seconds=stall_s + 1))
        )
    engine.dispose()
    TaskSender(service.settings).send("workers.tasks.sweep", stage="ingest")

    def completed():
        rows = _rows(service, select(Delivery.status).where(Delivery.id == delivery_id))
        return rows and rows[0] == "completed"

    wait_for(completed, timeout_s=PROCESSING_TIMEOUT_S, what="the swept delivery to complete")
    # The sweep also left a worker heartbeat, exposed for alerting.
    scrape = service.client.get("/metrics").text
    assert "integrity_worker_heartbeat_age_seconds " in scrape


def test_a_rescan_runs_on_the_rescan_queue_and_reports_progress(service, worker):
    admin = service.auth(service.admin_key)
    created = service.client.post("/v1/rescans", json={"scope": {"kind": "all"}}, headers=admin)
    assert created.status_code == 202, created.text
    rescan_id = created.json()["id"]

    def finished():
        progress = service.client.get(f"/v1/rescans/{rescan_id}", headers=admin).json()
        return progress if progress["status"] == "completed" else None

    progress = wait_for(finished, timeout_s=PROCESSING_TIMEOUT_S, what="the rescan to finish")
    assert progress["done"] == progress["total"]
