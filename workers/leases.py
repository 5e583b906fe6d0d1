"""Lease renewal: a live worker keeps every message it holds out of kombu's restore scan.

kombu's Redis transport keeps each delivered, unacknowledged message in a hash plus a sorted set
scored by delivery time, and any worker returns entries older than the visibility timeout to
their queue. Without renewal that timeout has to outlast the longest task and retry countdown
(hours), and so a worker killed whole (parent and pool children: OOM, a lost node) strands its
messages for that long. Here a thread in the worker's main process re-scores the messages its
channel holds (running, reserved, or waiting for a retry's countdown) every
`broker_lease_renew_interval_s`; only a dead worker's entries age, and they go back to their
queue within the visibility timeout plus the restore interval.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from celery import bootsteps

from integrity.config import Settings, get_settings

logger = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 5.0  # a renewal that cannot reach Redis this fast waits for the next round
STOP_TIMEOUT_S = 10.0


def held_delivery_tags(consumer: Any) -> list[str]:
    """The delivery tags of every message the consumer's task channel has not acknowledged."""
    task_consumer = getattr(consumer, "task_consumer", None)
    if task_consumer is None:
        return []
    qos = getattr(task_consumer.channel, "qos", None)
    delivered = getattr(qos, "_delivered", None)
    if not delivered:
        return []
    try:
        return [str(tag) for tag in list(delivered)]
    except RuntimeError:  # changed while copied: the next round renews
        return []


def renew(client: redis.Redis, index_key: str, tags: list[str], now: float) -> int:
    """Re-score the given messages' leases; XX: never revive one acknowledged or restored."""
    if not tags:
        return 0
    return int(client.zadd(index_key, dict.fromkeys(tags, now), xx=True, ch=True) or 0)


class LeaseRenewal(bootsteps.StartStopStep):
    """A consumer bootstep running the renewal thread for as long as the worker runs."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, parent: Any) -> None:
        if self._thread is not None and self._thread.is_alive():
            return  # the consumer restarted after a reconnect: the thread reads it afresh
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(parent, get_settings()), name="lease-renewal", daemon=True
        )
        self._thread.start()

    def shutdown(self, parent: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_S)
        self._thread = None

    def _run(self, consumer: Any, settings: Settings) -> None:
        from integrity.service.queues import unacked_keys

        client = redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
        )
        index_key = unacked_keys(settings)["unacked_index_key"]
        interval = settings.broker_lease_renew_interval_s
        while not self._stop.wait(interval):
            try:
                renew(client, index_key, held_delivery_tags(consumer), time.time())
            except redis.RedisError as exc:
                logger.warning("lease renewal failed", extra={"error": str(exc)})
