"""The sweep's two questions, against the real PostgreSQL and a private Redis: which work is not
running (its row is not locked) and which still has a message in Redis (queued or unacked);
and, with a real worker, work whose messages were lost is re-sent and finishes exactly once."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

import pytest
import redis
from sqlalchemy import select, update

from integrity.api.app import TaskSender
from integrity.catalog import pipeline
from integrity.db.models import Delivery, utc_now
from integrity.db.service_models import DeliveryWork, TaskAttempt
from integrity.db.session import create_db_engine, session_factory, session_scope
from integrity.service import queues, steps
from integrity.service.queues import ANALYZE_TRACK_TASK, create_celery, queue_name
from tests.service_support import (
    TrackSpec,
    assert_each_track_processed_once,
    make_ern,
    query_rows,
    random_isrc,
    unique_audio,
    wait_finished,
    wait_for,
    worker_for,
)
from workers.leases import renew

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PROCESSING_TIMEOUT_S = 120.0
DRAIN_TIMEOUT_S = 10.0


def _ingested_delivery(service, tracks: int) -> tuple[int, list[int]]:
    """A delivery registered and ingested in this process, as if the worker's ingest task had
    run and every analyze message it sent had then been lost; its rows aged past the bound."""
    specs = [TrackSpec(random_isrc(f"SW{n}"), f"Lost {n}", f"l{n}.wav") for n in range(tracks)]
    directory = service.settings.storage_dir / uuid.uuid4().hex
    directory.mkdir(parents=True)
    (directory / "message.xml").write_bytes(make_ern(f"MSG-{secrets.token_hex(6)}", specs))
    for spec in specs:
        (directory / spec.filename).write_bytes(unique_audio())
    aged = utc_now() - timedelta(seconds=service.settings.task_stall_after_s + 1)
    engine = create_db_engine(service.settings.database_url)
    try:
        with session_scope(session_factory(engine)) as session:
            delivery, _ = pipeline.register_delivery(
                session, storage_path=directory, message_filename="message.xml", source="test"
            )
            track_ids = steps.ingest_step(
                session, delivery_id=delivery.id, settings=service.settings
            )
            session.execute(
                update(DeliveryWork)
                .where(DeliveryWork.delivery_id == delivery.id)
                .values(updated_at=aged)
            )
            session.execute(
                update(Delivery).where(Delivery.id == delivery.id).values(received_at=aged)
            )
            delivery_id = delivery.id
    finally:
        engine.dispose()
    return delivery_id, track_ids


def _stranded(service, delivery_id: int) -> list[steps.StrandedWork]:
    engine = create_db_engine(service.settings.database_url)
    try:
        with session_scope(session_factory(engine)) as session:
            found = steps.stranded_work(session, older_than_s=service.settings.task_stall_after_s)
    finally:
        engine.dispose()
    return [item for item in found if item.delivery_id == delivery_id]


def test_work_being_run_is_not_stranded_and_the_rest_is(service):
    delivery_id, (first, second) = _ingested_delivery(service, tracks=2)
    assert sorted((w.step, w.args) for w in _stranded(service, delivery_id)) == [
        ("analyze", (delivery_id, first)),
        ("analyze", (delivery_id, second)),
    ]
    engine = create_db_engine(service.settings.database_url)
    try:
        with session_scope(session_factory(engine)) as running:
            # A task analysing the first track holds its row's lock for its whole transaction.
            running.get(DeliveryWork, (delivery_id, first), with_for_update=True)
            assert [w.args for w in _stranded(service, delivery_id)] == [(delivery_id, second)]
        with session_scope(session_factory(engine)) as session:
            session.execute(
                update(DeliveryWork)
                .where(DeliveryWork.delivery_id == delivery_id)
                .values(stage="done")
            )
    finally:
        engine.dispose()
    # Every track done and the delivery still processing: the last task died before closing it.
    assert [(w.step, w.args) for w in _stranded(service, delivery_id)] == [
        ("finish", (delivery_id,))
    ]


def test_held_tasks_sees_queued_and_unacknowledged_messages(service):
    settings = service.settings
    client = redis.Redis.from_url(settings.redis_url)
    sender = TaskSender(settings)
    sender.send(ANALYZE_TRACK_TASK, 7, 11, stage="analyze")
    sender.send(ANALYZE_TRACK_TASK, 7, 12, stage="analyze")
    assert {(ANALYZE_TRACK_TASK, (7, 11)), (ANALYZE_TRACK_TASK, (7, 12))} <= queues.held_tasks(
        client, settings
    )
    app = create_celery(settings)
    taken = []
    with app.connection_for_read() as connection:
        queue = app.amqp.queues[queue_name("analyze", settings)]
        with connection.Consumer(
            queue, accept=["json"], callbacks=[lambda body, message: taken.append(message)]
        ) as consumer:
            consumer.qos(prefetch_count=1)
            connection.drain_events(timeout=DRAIN_TIMEOUT_S)
            assert len(taken) == 1
            # One message is delivered and not acknowledged (in kombu's unacked hash), the other
            # still waits in the list: both are held.
            assert client.llen(queue_name("analyze", settings)) == 1
            assert client.hlen(queues.unacked_keys(settings)["unacked_key"]) >= 1
            held = queues.held_tasks(client, settings)
            assert {(ANALYZE_TRACK_TASK, (7, 11)), (ANALYZE_TRACK_TASK, (7, 12))} <= held
            for message in taken:
                message.ack()
    client.delete(queue_name("analyze", settings))
    assert not {
        (ANALYZE_TRACK_TASK, (7, 11)),
        (ANALYZE_TRACK_TASK, (7, 12)),
    } & queues.held_tasks(client, settings)


def test_tracks_whose_messages_were_lost_are_resent_by_the_sweep(service, tmp_path):
    delivery_id, track_ids = _ingested_delivery(service, tracks=2)
    worker = worker_for(service.settings, tmp_path / "worker.log")
    worker.start()
    try:
        TaskSender(service.settings).send(queues.SWEEP_TASK, stage="ingest")
        view = wait_finished(service, delivery_id, timeout_s=PROCESSING_TIMEOUT_S)
        # Once more: nothing is stranded now, and another sweep changes nothing.
        again = str(uuid.uuid4())
        TaskSender(service.settings).send(queues.SWEEP_TASK, stage="ingest", task_id=again)
        wait_for(
            lambda: query_rows(
                service, select(TaskAttempt.state).where(TaskAttempt.task_id == again)
            )
            == [("done",)],
            timeout_s=PROCESSING_TIMEOUT_S,
            what="the second sweep",
        )
    finally:
        worker.stop()
    assert view["status"] == "completed"
    assert sorted(t["id"] for t in view["tracks"]) == sorted(track_ids)
    assert_each_track_processed_once(service, delivery_id, track_ids)
    engine = create_db_engine(service.settings.database_url)
    try:
        with session_factory(engine)() as session:
            stages = session.scalars(
                select(DeliveryWork.stage).where(DeliveryWork.delivery_id == delivery_id)
            ).all()
    finally:
        engine.dispose()
    assert stages == ["done", "done"]


def test_a_lease_renewal_never_revives_an_acknowledged_message(service):
    client = redis.Redis.from_url(service.settings.redis_url)
    index = f"{service.settings.queue_prefix}lease-test"
    client.zadd(index, {"held": 1.0})
    try:
        assert renew(client, index, ["held", "acknowledged"], now=100.0) == 1
        assert client.zrange(index, 0, -1, withscores=True) == [(b"held", 100.0)]
        assert renew(client, index, [], now=200.0) == 0
    finally:
        client.delete(index)
