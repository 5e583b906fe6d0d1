"""Every lifecycle state in one place, as StrEnums stored by their values.

The database columns hold the plain strings (StrEnum members compare equal to them), so the
states are documented and checked by the type checker without a migration.
"""

from __future__ import annotations

from enum import StrEnum


class DeliveryState(StrEnum):
    """Where a delivery stands in the pipeline."""

    RECEIVED = "received"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class TrackState(StrEnum):
    """Where one track stands: ingested, its audio analysed, scored, or failed."""

    PENDING = "pending"
    ANALYZED = "analyzed"
    SCORED = "scored"
    FAILED = "failed"


class AnalysisState(StrEnum):
    """An asset's analysis (decode, measure, fingerprint, features)."""

    PENDING = "pending"
    OK = "ok"
    FAILED = "failed"


class WorkStage(StrEnum):
    """A track's progress through the worker steps of its delivery."""

    ANALYZE = "analyze"
    SCORE = "score"
    DONE = "done"
    FAILED = "failed"


class RescanState(StrEnum):
    """A batch rescan's lifecycle."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class AppealState(StrEnum):
    """A distributor's appeal of a decision."""

    OPEN = "open"
    RESOLVED = "resolved"


class TaskAttemptState(StrEnum):
    """What the dead-letter bookkeeping knows of one Celery task id."""

    RUNNING = "running"
    RETRYING = "retrying"
    DONE = "done"
    FAILED = "failed"
    QUARANTINED = "quarantined"
