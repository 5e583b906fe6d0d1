"""Typed ORM models of the service: senders, API keys, webhook receipts, review, audit, rescans,
task bookkeeping and dead letters. Defined on the catalog's `Base`, migrated from revision 0002.

Idempotency and safety rules these tables carry:
- a webhook id is accepted once per sender, and so is an ERN MessageId per sender;
- a sender delivers only under the DPIDs an operator registered for it (sender_dpids); a DPID
  may be registered for more than one sender (a label delivering through two accounts), since
  everything the sender owns is keyed by the sender, not by the DPID;
- audit_events is append-only: the code only ever inserts into it;
- a moderator's decision lives in track_moderation, apart from the automatic Track.decision, so
  a rescan that re-scores a track never overwrites a human decision;
- review_queue holds one row per track waiting for a moderator, derived from the track, its
  current findings, its human decision and its open appeals; it is rewritten in the same flush
  as any change of those (`integrity.catalog.queue`), so the queue pages by its indexes;
- task_attempts counts how often a Celery message was delivered, so a poison message that kills
  its worker every time is quarantined into dead_letters instead of looping forever.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from integrity.db.models import SHA256_HEX_LENGTH, SHORT_TEXT, Base, utc_now

STATUS_TEXT = 32
TASK_ID_TEXT = 64


class Sender(Base):
    """A distributor that uploads deliveries through the webhook."""

    __tablename__ = "senders"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(SHORT_TEXT), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class SenderDpid(Base):
    """A DDEX Party ID a sender may name as MessageSender (registered by an operator)."""

    __tablename__ = "sender_dpids"
    __table_args__ = (UniqueConstraint("sender_id", "dpid", name="uq_sender_dpids_sender_dpid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("senders.id"), index=True)
    dpid: Mapped[str] = mapped_column(String(SHORT_TEXT), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class SenderSecret(Base):
    """One webhook signing secret of a sender; several are live during a rotation."""

    __tablename__ = "sender_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("senders.id"), index=True)
    # The HMAC key must be usable for verification, so it cannot be hashed; keep the database
    # access as tight as for any other credential store.
    secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    revoked_at: Mapped[datetime | None]


class ApiKey(Base):
    """An API key, stored as the SHA-256 of the key; the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH), unique=True)
    display_prefix: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(STATUS_TEXT))
    name: Mapped[str | None] = mapped_column(String(SHORT_TEXT))
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("senders.id"), index=True)
    rate_per_minute: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    revoked_at: Mapped[datetime | None]


class WebhookReceipt(Base):
    """One accepted webhook call: de-duplicates on the sender's webhook id and ERN MessageId."""

    __tablename__ = "webhook_receipts"
    __table_args__ = (
        UniqueConstraint("sender_id", "message_id", name="uq_webhook_receipts_sender_message"),
        UniqueConstraint("sender_id", "webhook_id", name="uq_webhook_receipts_sender_webhook"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[str] = mapped_column(String(SHORT_TEXT))
    sender_id: Mapped[int] = mapped_column(ForeignKey("senders.id"))
    message_id: Mapped[str | None] = mapped_column(String(SHORT_TEXT))
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    body_bytes: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(default=utc_now)


class AuditEvent(Base):
    """An append-only record of one state change: who, in which role, did what and why."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_track_id_id", "track_id", "id"),
        Index("ix_audit_events_delivery_id_id", "delivery_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utc_now)
    actor: Mapped[str] = mapped_column(String(SHORT_TEXT))
    role: Mapped[str] = mapped_column(String(STATUS_TEXT))
    action: Mapped[str] = mapped_column(String(64), index=True)
    reason: Mapped[str | None] = mapped_column(String(SHORT_TEXT))
    note: Mapped[str | None] = mapped_column(Text)
    track_id: Mapped[int | None] = mapped_column(ForeignKey("tracks.id"))
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"))
    before: Mapped[str | None] = mapped_column(String(STATUS_TEXT))
    after: Mapped[str | None] = mapped_column(String(STATUS_TEXT))
    model_versions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)


class TrackModeration(Base):
    """The current human decision on a track (history is in audit_events)."""

    __tablename__ = "track_moderation"

    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id"), primary_key=True)
    decision: Mapped[str] = mapped_column(String(STATUS_TEXT), index=True)
    action: Mapped[str] = mapped_column(String(STATUS_TEXT))
    reason: Mapped[str] = mapped_column(String(SHORT_TEXT))
    actor: Mapped[str] = mapped_column(String(SHORT_TEXT))
    decided_at: Mapped[datetime] = mapped_column(default=utc_now)


class QueuedTrack(Base):
    """A track waiting for a moderator (automatic or human decision review/escalated, or an open
    appeal), with what the queue sorts and filters by, kept current by `integrity.catalog.queue`.
    """

    __tablename__ = "review_queue"

    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id"), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    sender: Mapped[str | None] = mapped_column(String(SHORT_TEXT))  # webhook sender, else ERN's
    decision: Mapped[str] = mapped_column(String(STATUS_TEXT))  # the effective decision
    risk: Mapped[float] = mapped_column(Float)  # `integrity.risk.risk_of` of current findings
    priority: Mapped[float] = mapped_column(Float)  # risk, plus a bonus when escalated/appealed
    reasons: Mapped[list[Any]] = mapped_column(default=list)  # reason codes, as risk_of lists
    families: Mapped[int] = mapped_column(Integer)  # the reasons' families (FAMILY_BITS)
    top_code: Mapped[str | None] = mapped_column(String(128))
    top_finding_id: Mapped[int | None] = mapped_column(ForeignKey("findings.id"))
    waiting_since: Mapped[datetime]  # the SLA clock: appeal filed, else decided, else updated
    appeal_since: Mapped[datetime | None]  # the oldest open appeal (None: none open)


# The queue's orders, each an index scan (ties broken by track id, so paging is stable).
Index("ix_review_queue_priority", QueuedTrack.priority.desc(), QueuedTrack.track_id)
Index("ix_review_queue_waiting", QueuedTrack.waiting_since, QueuedTrack.track_id)
Index(
    "ix_review_queue_sender", QueuedTrack.sender, QueuedTrack.priority.desc(), QueuedTrack.track_id
)


class ReviewClaim(Base):
    """A moderator's time-limited claim on a queued track, so two people don't review it."""

    __tablename__ = "review_claims"

    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id"), primary_key=True)
    moderator: Mapped[str] = mapped_column(String(SHORT_TEXT), index=True)
    claimed_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime]


class Appeal(Base):
    """A distributor's appeal against a decision on one of its tracks."""

    __tablename__ = "appeals"

    id: Mapped[int] = mapped_column(primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id"), index=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("senders.id"))
    reason: Mapped[str] = mapped_column(String(SHORT_TEXT))
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(STATUS_TEXT), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(SHORT_TEXT))


class DeliveryWork(Base):
    """Per-track progress of a delivery through the workers (counted in the DB, no chords)."""

    __tablename__ = "delivery_work"

    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(STATUS_TEXT))
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class Rescan(Base):
    """A re-scoring run over a scope of tracks; resumable from its cursor after a crash."""

    __tablename__ = "rescans"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(STATUS_TEXT), index=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    cursor_track_id: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(SHORT_TEXT))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)
    finished_at: Mapped[datetime | None]


class TaskAttempt(Base):
    """How often one Celery message was delivered to a worker, and how it ended."""

    __tablename__ = "task_attempts"

    task_id: Mapped[str] = mapped_column(String(TASK_ID_TEXT), primary_key=True)
    task_name: Mapped[str] = mapped_column(String(SHORT_TEXT))
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(STATUS_TEXT))
    first_seen_at: Mapped[datetime] = mapped_column(default=utc_now)
    last_seen_at: Mapped[datetime] = mapped_column(default=utc_now)
    last_duration_s: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text)


class DeadLetter(Base):
    """A task that exhausted its retries or was quarantined; replayable by an operator."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    task_name: Mapped[str] = mapped_column(String(SHORT_TEXT), index=True)
    task_id: Mapped[str] = mapped_column(String(TASK_ID_TEXT))
    queue: Mapped[str | None] = mapped_column(String(SHORT_TEXT))
    args: Mapped[list[Any]] = mapped_column(default=list)
    kwargs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reason: Mapped[str] = mapped_column(String(STATUS_TEXT))
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    replayed_at: Mapped[datetime | None]
    replay_task_id: Mapped[str | None] = mapped_column(String(TASK_ID_TEXT))


class ActiveModel(Base):
    """Which version of a model in the registry the scoring uses (set by an admin)."""

    __tablename__ = "active_models"

    name: Mapped[str] = mapped_column(String(SHORT_TEXT), primary_key=True)
    version: Mapped[str] = mapped_column(String(64))
    activated_by: Mapped[str] = mapped_column(String(SHORT_TEXT))
    activated_at: Mapped[datetime] = mapped_column(default=utc_now)


class ConsoleSession(Base):
    """A moderator's signed-in console session: the cookie holds a random token, the table its
    SHA-256, so a stolen database cannot be replayed as cookies and sign-out revokes it here."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH), primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(TASK_ID_TEXT))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]
