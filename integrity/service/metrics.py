"""Prometheus metrics of the service.

Request counters live in the API process. What several processes share (queue depth, task
durations and failures, dead letters, decisions by reason) is read from Redis and the database
at scrape time by one collector, so it is right however many API and worker processes run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from integrity.db.models import Track
from integrity.db.service_models import DeadLetter, TaskAttempt, TrackModeration
from integrity.service.moderation import review_counts

logger = logging.getLogger(__name__)

REQUEST_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
REDIS_TIMEOUT_S = 0.5
HEARTBEAT_KEY = "integrity:worker-heartbeat"  # set by the periodic sweep when a worker runs it


class ServiceMetrics:
    """The API process's registry and its in-process instruments."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Histogram(
            "integrity_http_request_seconds",
            "HTTP request latency by route, method and status.",
            ["route", "method", "status"],
            buckets=REQUEST_BUCKETS_S,
            registry=self.registry,
        )
        self.webhooks = Counter(
            "integrity_webhook_requests",
            "Upload webhook calls by outcome (accepted, duplicate, or the refusal's status).",
            ["outcome"],
            registry=self.registry,
        )
        self.enqueue_failures = Counter(
            "integrity_enqueue_failures",
            "Tasks that could not be sent after a commit (the sweep re-sends them).",
            registry=self.registry,
        )
        self.rate_limit_fallbacks = Counter(
            "integrity_rate_limit_fallbacks",
            "Requests rate limited by this process's own buckets because Redis failed "
            "(redis_error) or was failing moments ago (redis_retry_wait).",
            ["reason"],
            registry=self.registry,
        )


class StateCollector(Collector):
    """Queue depth from Redis; tasks, dead letters and decisions from the database."""

    def __init__(
        self, *, sessions: Callable[[], sessionmaker[Session]], redis_url: str, queues: list[str]
    ) -> None:
        self._sessions = sessions
        self._redis_url = redis_url
        self._queues = queues

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "integrity_queue_depth", "Messages waiting in each Celery queue.", labels=["queue"]
        )
        heartbeat = GaugeMetricFamily(
            "integrity_worker_heartbeat_age_seconds",
            "Seconds since a worker last ran the periodic sweep (alert when it keeps growing).",
        )
        try:
            client = redis.Redis.from_url(
                self._redis_url,
                socket_timeout=REDIS_TIMEOUT_S,
                socket_connect_timeout=REDIS_TIMEOUT_S,
            )
            for queue in self._queues:
                depth.add_metric([queue], float(client.llen(queue)))
            last = client.get(HEARTBEAT_KEY)
            if last is not None:
                heartbeat.add_metric([], max(0.0, time.time() - float(last)))
        except redis.RedisError as exc:
            logger.warning("queue depth unavailable", extra={"error": str(exc)})
        yield depth
        yield heartbeat

        tasks = CounterMetricFamily(
            "integrity_tasks", "Celery messages by task and final state.", labels=["task", "state"]
        )
        seconds = GaugeMetricFamily(
            "integrity_task_last_duration_seconds_avg",
            "Mean duration of the last run of each message, by task.",
            labels=["task"],
        )
        dead = GaugeMetricFamily(
            "integrity_dead_letters", "Dead letters not yet replayed, by reason.", labels=["reason"]
        )
        decisions = GaugeMetricFamily(
            "integrity_decisions",
            "Tracks by effective decision, its source and the moderator's reason.",
            labels=["decision", "source", "reason"],
        )
        with self._sessions()() as session:
            for name, state, count in session.execute(
                select(TaskAttempt.task_name, TaskAttempt.state, func.count()).group_by(
                    TaskAttempt.task_name, TaskAttempt.state
                )
            ):
                tasks.add_metric([name, state], float(count))
            for name, mean in session.execute(
                select(TaskAttempt.task_name, func.avg(TaskAttempt.last_duration_s)).group_by(
                    TaskAttempt.task_name
                )
            ):
                seconds.add_metric([name], float(mean or 0.0))
            for reason, count in session.execute(
                select(DeadLetter.reason, func.count())
                .where(DeadLetter.replayed_at.is_(None))
                .group_by(DeadLetter.reason)
            ):
                dead.add_metric([reason], float(count))
            for decision, reason, count in session.execute(
                select(TrackModeration.decision, TrackModeration.reason, func.count()).group_by(
                    TrackModeration.decision, TrackModeration.reason
                )
            ):
                decisions.add_metric([decision, "moderator", reason], float(count))
            for policy_decision, count in session.execute(
                select(Track.decision, func.count())
                .outerjoin(TrackModeration, TrackModeration.track_id == Track.id)
                .where(TrackModeration.track_id.is_(None))
                .group_by(Track.decision)
            ):
                decisions.add_metric([policy_decision or "none", "policy", ""], float(count))
            counts = review_counts(session)
        queue_depth = GaugeMetricFamily(
            "integrity_review_queue_depth", "Tracks waiting for a moderator (the console's count)."
        )
        queue_depth.add_metric([], float(counts.queue_depth))
        oldest = GaugeMetricFamily(
            "integrity_review_oldest_waiting_seconds",
            "How long the longest-waiting queued track has waited (the review SLA clock).",
        )
        if counts.oldest_waiting_s is not None:
            oldest.add_metric([], counts.oldest_waiting_s)
        today = GaugeMetricFamily(
            "integrity_review_decided_today",
            "Tracks whose human decision was made since 00:00 UTC (escalations not counted).",
        )
        today.add_metric([], float(counts.decided_today))
        yield from (tasks, seconds, dead, decisions, queue_depth, oldest, today)
