"""The worker steps of a delivery: the pipeline functions plus per-track progress and audit.

Each step takes a session and never commits (the task owns the transaction); progress is counted
in `delivery_work` rows so retried or redelivered tasks find where the delivery stands.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from integrity.catalog import pipeline, report
from integrity.catalog.findings import current_for
from integrity.catalog.states import WorkStage
from integrity.config import Settings
from integrity.db.models import Delivery, Finding, Track, utc_now
from integrity.db.service_models import (
    DeliveryWork,
    Sender,
    TrackModeration,
)
from integrity.service.audit import aware, record_event, track_model_versions
from integrity.service.errors import ServiceError

logger = logging.getLogger(__name__)

WORKER_ACTOR, SYSTEM_ROLE = "system:worker", "system"
STAGE_ANALYZE, STAGE_SCORE, STAGE_DONE, STAGE_FAILED = (
    WorkStage.ANALYZE,
    WorkStage.SCORE,
    WorkStage.DONE,
    WorkStage.FAILED,
)
FINISHED_STAGES = (STAGE_DONE, STAGE_FAILED)
TERMINAL_DELIVERY_STATES = (pipeline.COMPLETED, pipeline.FAILED)


def _delivery(session: Session, delivery_id: int, *, lock: bool = False) -> Delivery:
    delivery = session.get(Delivery, delivery_id, with_for_update=lock)
    if delivery is None:
        raise ServiceError(404, "delivery_id", f"delivery {delivery_id} does not exist")
    return delivery


def ingest_step(session: Session, *, delivery_id: int, settings: Settings) -> list[int]:
    """Ingest a delivery once and record its per-track work; returns the tracks to analyse."""
    delivery = _delivery(session, delivery_id, lock=True)
    work = session.scalars(
        select(DeliveryWork).where(DeliveryWork.delivery_id == delivery_id)
    ).all()
    if work:  # ingested before (a redelivered task): hand out what is still to analyse
        return [row.track_id for row in work if row.stage == STAGE_ANALYZE]
    if not pipeline.needs_processing(delivery):
        return []
    track_ids = pipeline.ingest_delivery(session, delivery_id=delivery_id, settings=settings)
    for track_id in track_ids:
        session.add(DeliveryWork(delivery_id=delivery_id, track_id=track_id, stage=STAGE_ANALYZE))
    record_event(
        session,
        actor=WORKER_ACTOR,
        role=SYSTEM_ROLE,
        action="delivery.ingested",
        delivery_id=delivery_id,
        before=pipeline.RECEIVED,
        after=delivery.status,
        reason=delivery.error,
        evidence={"tracks": track_ids, "message_id": delivery.message_id},
    )
    session.flush()
    return track_ids


def _work(session: Session, delivery_id: int, track_id: int) -> DeliveryWork:
    row = session.get(DeliveryWork, (delivery_id, track_id), with_for_update=True)
    if row is None:
        raise ServiceError(404, "track_id", f"track {track_id} is not in delivery {delivery_id}")
    return row


def analyze_step(
    session: Session,
    *,
    delivery_id: int,
    track_id: int,
    settings: Settings,
    resources: pipeline.AnalysisResources | None = None,
) -> bool:
    """Analyse a track of a delivery once; True when its score step is (still) due."""
    work = _work(session, delivery_id, track_id)
    if work.stage != STAGE_ANALYZE:
        return work.stage == STAGE_SCORE
    pipeline.analyze_track(session, track_id=track_id, settings=settings, resources=resources)
    track = session.get(Track, track_id)
    work.stage = STAGE_SCORE
    work.updated_at = utc_now()
    record_event(
        session,
        actor=WORKER_ACTOR,
        role=SYSTEM_ROLE,
        action="track.analyzed",
        track_id=track_id,
        delivery_id=delivery_id,
        after=track.state if track else None,
        evidence={"asset_sha256": track.asset_sha256 if track else None},
    )
    return True


def score_step(
    session: Session,
    *,
    delivery_id: int,
    track_id: int,
    settings: Settings,
    resources: pipeline.AnalysisResources | None = None,
) -> None:
    """Score a track of a delivery once and record the automatic decision."""
    work = _work(session, delivery_id, track_id)
    if work.stage != STAGE_SCORE:
        return
    track = session.get(Track, track_id)
    before = track.decision if track else None
    pipeline.score_track(session, track_id=track_id, settings=settings, resources=resources)
    codes = (
        session.scalars(select(Finding.code).where(current_for(track))).all() if track else []
    )
    work.stage = STAGE_DONE
    work.updated_at = utc_now()
    record_event(
        session,
        actor=WORKER_ACTOR,
        role=SYSTEM_ROLE,
        action="track.scored",
        track_id=track_id,
        delivery_id=delivery_id,
        before=before,
        after=track.decision if track else None,
        reason=",".join(sorted(set(codes)))[:255] or None,
        model_versions=track_model_versions(track),
        evidence={"findings": sorted(set(codes)), "state": track.state if track else None},
    )


def fail_step(session: Session, *, delivery_id: int, track_id: int | None, error: str) -> None:
    """Record that a task gave up on a track (or on the whole delivery when track_id is None)."""
    if track_id is None:
        delivery = session.get(Delivery, delivery_id, with_for_update=True)
        if delivery is not None and delivery.status not in TERMINAL_DELIVERY_STATES:
            before = delivery.status
            delivery.status, delivery.error = pipeline.FAILED, error
            delivery.completed_at = utc_now()
            record_event(
                session,
                actor=WORKER_ACTOR,
                role=SYSTEM_ROLE,
                action="delivery.failed",
                delivery_id=delivery_id,
                before=before,
                after=pipeline.FAILED,
                reason=error[:255],
            )
        return
    work = session.get(DeliveryWork, (delivery_id, track_id), with_for_update=True)
    if work is not None and work.stage not in FINISHED_STAGES:
        work.stage = STAGE_FAILED
        work.updated_at = utc_now()
        record_event(
            session,
            actor=WORKER_ACTOR,
            role=SYSTEM_ROLE,
            action="track.failed",
            track_id=track_id,
            delivery_id=delivery_id,
            reason=error[:255],
        )


def finish_when_done(session: Session, *, delivery_id: int) -> str | None:
    """Close the delivery when none of its tracks is still in progress; returns its status."""
    delivery = _delivery(session, delivery_id, lock=True)
    if delivery.status in TERMINAL_DELIVERY_STATES:
        return None
    remaining = session.scalar(
        select(func.count())
        .select_from(DeliveryWork)
        .where(DeliveryWork.delivery_id == delivery_id, DeliveryWork.stage.not_in(FINISHED_STAGES))
    )
    if remaining:
        return None
    before = delivery.status
    status = pipeline.finish_delivery(session, delivery_id=delivery_id)
    record_event(
        session,
        actor=WORKER_ACTOR,
        role=SYSTEM_ROLE,
        action=f"delivery.{status}",
        delivery_id=delivery_id,
        before=before,
        after=status,
        reason=delivery.error,
    )
    return status


def finished_location(session: Session, *, delivery_id: int) -> str | None:
    """Where a completed or failed delivery's files are kept (a local folder or an s3://
    prefix); None while it is still in progress, so working copies are dropped only after."""
    delivery = _delivery(session, delivery_id)
    return delivery.storage_path if delivery.status in TERMINAL_DELIVERY_STATES else None


STEP_INGEST, STEP_FINISH = "ingest", "finish"


@dataclass(frozen=True)
class StrandedWork:
    """A delivery or track whose next step nothing is doing: `step` is ingest, analyze or score
    (a task to re-send) or finish (close the delivery); `since` is when its row last moved."""

    step: str
    delivery_id: int
    track_id: int | None
    since: datetime

    @property
    def args(self) -> tuple[int, ...]:
        """The task arguments that carry this work."""
        if self.track_id is None:
            return (self.delivery_id,)
        return (self.delivery_id, self.track_id)


def stranded_work(session: Session, *, older_than_s: int) -> list[StrandedWork]:
    """Deliveries and tracks that have not moved for `older_than_s` and that no task is running.

    A running step holds its row's lock for its whole transaction (ingest the delivery's, analyze
    and score the track's), and a worker that died lost its connection and with it the lock: so
    `FOR UPDATE SKIP LOCKED` leaves out exactly the work in progress (PostgreSQL; SQLite has no
    row locks and no workers). Which of the rest still has a message in Redis the caller checks.
    Call it inside a short transaction: it locks the rows it returns until the commit.
    """
    cutoff = utc_now() - timedelta(seconds=older_than_s)
    found = [
        StrandedWork(STEP_INGEST, delivery_id, None, since)
        for delivery_id, since in session.execute(
            select(Delivery.id, Delivery.received_at)
            .where(Delivery.status == pipeline.RECEIVED, Delivery.received_at < cutoff)
            .with_for_update(skip_locked=True, of=Delivery)
        )
    ]
    found += [
        StrandedWork(stage, delivery_id, track_id, since)
        for delivery_id, track_id, stage, since in session.execute(
            select(
                DeliveryWork.delivery_id,
                DeliveryWork.track_id,
                DeliveryWork.stage,
                DeliveryWork.updated_at,
            )
            .join(Delivery, Delivery.id == DeliveryWork.delivery_id)
            .where(
                DeliveryWork.stage.in_((STAGE_ANALYZE, STAGE_SCORE)),
                DeliveryWork.updated_at < cutoff,
                Delivery.status.not_in(TERMINAL_DELIVERY_STATES),
            )
            .with_for_update(skip_locked=True, of=DeliveryWork)
        )
    ]
    # Processing with nothing left to do: the task that finished last died before closing it.
    unfinished = (
        select(DeliveryWork.track_id)
        .where(
            DeliveryWork.delivery_id == Delivery.id, DeliveryWork.stage.not_in(FINISHED_STAGES)
        )
        .exists()
    )
    last_moved = func.coalesce(
        select(func.max(DeliveryWork.updated_at))
        .where(DeliveryWork.delivery_id == Delivery.id)
        .scalar_subquery(),
        Delivery.received_at,
    )
    found += [
        StrandedWork(STEP_FINISH, delivery_id, None, since)
        for delivery_id, since in session.execute(
            select(Delivery.id, last_moved)
            .where(Delivery.status == pipeline.PROCESSING, ~unfinished, last_moved < cutoff)
            .with_for_update(skip_locked=True, of=Delivery)
        )
    ]
    return found


def delivery_status(session: Session, *, delivery_id: int, sender: Sender | None) -> dict[str, Any]:
    """The contract's delivery view: status and each track's state and effective decision."""
    delivery = _delivery(session, delivery_id)
    if sender is not None and delivery.sender_id != sender.id:
        raise ServiceError(404, "delivery_id", f"delivery {delivery_id} is not one of yours")
    rows = session.execute(
        select(
            Track.id,
            Track.isrc,
            Track.state,
            Track.decision,
            Track.decision_reasons,
            TrackModeration.decision,
        )
        .join(DeliveryWork, DeliveryWork.track_id == Track.id)
        .outerjoin(TrackModeration, TrackModeration.track_id == Track.id)
        .where(DeliveryWork.delivery_id == delivery_id)
        .order_by(Track.id)
    ).all()
    # The header is the scan report's (one shape); `id` is kept for clients of the first API.
    return {
        **report.delivery_header(delivery).model_dump(mode="json"),
        "id": delivery.id,
        "received_at": aware(delivery.received_at).isoformat(),
        "tracks": [
            {
                "track_id": tid,
                "id": tid,
                "isrc": isrc,
                "state": state,
                "decision": human or automatic,
                "reasons": [str(reason) for reason in reasons or []],
            }
            for tid, isrc, state, automatic, reasons, human in rows
        ],
    }
