"""review queue: one stored, indexed row per track waiting for a moderator

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

The queue's risk, reasons, top reason, priority and waiting time were aggregated from every
queued track's findings on each request; they are now stored per queued track and kept current
in the same transaction as the changes they follow (`integrity.catalog.queue`). The backfill
computes the rows of the tracks queued now the same way: effective decision review/escalated or
an open appeal; `integrity.risk.queue_facts` over the findings of the track's current delivery.
The tables are described here as they are at this revision, so later model changes cannot
change what this migration does.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

from integrity.risk import queue_facts

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

QUEUED_DECISIONS = ("review", "escalated")  # as integrity.catalog.queue at this revision
ESCALATED = "escalated"
ESCALATION_PRIORITY = 1.0
APPEAL_OPEN = "open"
BACKFILL_BATCH = 1000  # queued tracks read and written per statement


def upgrade() -> None:
    op.create_table(
        "review_queue",
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=255), nullable=True),
        sa.Column("decision", sa.String(length=32), nullable=False),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("families", sa.Integer(), nullable=False),
        sa.Column("top_code", sa.String(length=128), nullable=True),
        sa.Column("top_finding_id", sa.Integer(), nullable=True),
        sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("appeal_since", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"]),
        sa.ForeignKeyConstraint(["top_finding_id"], ["findings.id"]),
        sa.ForeignKeyConstraint(["track_id"], ["tracks.id"]),
        sa.PrimaryKeyConstraint("track_id"),
    )
    with op.batch_alter_table("review_queue", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_review_queue_delivery_id"), ["delivery_id"], unique=False
        )
        batch_op.create_index(
            "ix_review_queue_priority", [sa.text("priority DESC"), "track_id"], unique=False
        )
        batch_op.create_index(
            "ix_review_queue_sender",
            ["sender", sa.text("priority DESC"), "track_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_review_queue_waiting", ["waiting_since", "track_id"], unique=False
        )
    _backfill(op.get_bind())


def _tables() -> dict[str, sa.TableClause]:
    return {
        "tracks": sa.table(
            "tracks",
            sa.column("id", sa.Integer()),
            sa.column("delivery_id", sa.Integer()),
            sa.column("decision", sa.String()),
            sa.column("updated_at", sa.DateTime(timezone=True)),
        ),
        "deliveries": sa.table(
            "deliveries",
            sa.column("id", sa.Integer()),
            sa.column("uploader", sa.String()),
            sa.column("sender_name", sa.String()),
        ),
        "moderation": sa.table(
            "track_moderation",
            sa.column("track_id", sa.Integer()),
            sa.column("decision", sa.String()),
            sa.column("decided_at", sa.DateTime(timezone=True)),
        ),
        "appeals": sa.table(
            "appeals",
            sa.column("track_id", sa.Integer()),
            sa.column("status", sa.String()),
            sa.column("created_at", sa.DateTime(timezone=True)),
        ),
        "findings": sa.table(
            "findings",
            sa.column("id", sa.Integer()),
            sa.column("track_id", sa.Integer()),
            sa.column("delivery_id", sa.Integer()),
            sa.column("code", sa.String()),
            sa.column("severity", sa.String()),
            sa.column("evidence", sa.JSON()),
        ),
        "queue": sa.table(
            "review_queue",
            *(
                sa.column(name, kind)
                for name, kind in (
                    ("track_id", sa.Integer()),
                    ("delivery_id", sa.Integer()),
                    ("sender", sa.String()),
                    ("decision", sa.String()),
                    ("risk", sa.Float()),
                    ("priority", sa.Float()),
                    ("reasons", sa.JSON()),
                    ("families", sa.Integer()),
                    ("top_code", sa.String()),
                    ("top_finding_id", sa.Integer()),
                    ("waiting_since", sa.DateTime(timezone=True)),
                    ("appeal_since", sa.DateTime(timezone=True)),
                )
            ),
        ),
    }


def _backfill(bind: sa.Connection) -> None:
    t = _tables()
    tracks, deliveries, moderation, appeals, findings = (
        t["tracks"],
        t["deliveries"],
        t["moderation"],
        t["appeals"],
        t["findings"],
    )
    open_appeals = (
        sa.select(appeals.c.track_id, sa.func.min(appeals.c.created_at).label("since"))
        .where(appeals.c.status == APPEAL_OPEN)
        .group_by(appeals.c.track_id)
        .subquery("open_appeals")
    )
    decision = sa.func.coalesce(moderation.c.decision, tracks.c.decision)
    queued = bind.execute(
        sa.select(
            tracks.c.id,
            tracks.c.delivery_id,
            sa.func.coalesce(deliveries.c.uploader, deliveries.c.sender_name),
            decision,
            open_appeals.c.since,
            sa.func.coalesce(open_appeals.c.since, moderation.c.decided_at, tracks.c.updated_at),
        )
        .join(deliveries, deliveries.c.id == tracks.c.delivery_id)
        .outerjoin(moderation, moderation.c.track_id == tracks.c.id)
        .outerjoin(open_appeals, open_appeals.c.track_id == tracks.c.id)
        .where(sa.or_(decision.in_(QUEUED_DECISIONS), open_appeals.c.since.is_not(None)))
        .order_by(tracks.c.id)
    ).all()
    for start in range(0, len(queued), BACKFILL_BATCH):
        batch = queued[start : start + BACKFILL_BATCH]
        current = {row[0]: row[1] for row in batch}  # track → its current delivery
        found: dict[int, list[tuple[int, str, str, Any]]] = defaultdict(list)
        for track_id, delivery_id, finding_id, code, severity, evidence in bind.execute(
            sa.select(
                findings.c.track_id,
                findings.c.delivery_id,
                findings.c.id,
                findings.c.code,
                findings.c.severity,
                findings.c.evidence,
            )
            .where(findings.c.track_id.in_(list(current)))
            .order_by(findings.c.id)
        ):
            if delivery_id == current[track_id]:  # superseded findings are not counted
                found[track_id].append((finding_id, code, severity, evidence or {}))
        rows = []
        for track_id, delivery_id, sender, current, appeal_since, waiting_since in batch:
            mine = found.get(track_id, [])
            facts = queue_facts([(code, severity, ev) for _, code, severity, ev in mine])
            urgent = current == ESCALATED or appeal_since is not None
            top = None if facts.top is None else mine[facts.top]
            rows.append(
                {
                    "track_id": track_id,
                    "delivery_id": delivery_id,
                    "sender": sender,
                    "decision": current,
                    "risk": facts.risk,
                    "priority": facts.risk + (ESCALATION_PRIORITY if urgent else 0.0),
                    "reasons": facts.reasons,
                    "families": facts.families,
                    "top_code": None if top is None else top[1],
                    "top_finding_id": None if top is None else top[0],
                    "waiting_since": waiting_since,
                    "appeal_since": appeal_since,
                }
            )
        bind.execute(sa.insert(t["queue"]), rows)


def downgrade() -> None:
    with op.batch_alter_table("review_queue", schema=None) as batch_op:
        batch_op.drop_index("ix_review_queue_waiting")
        batch_op.drop_index("ix_review_queue_sender")
        batch_op.drop_index("ix_review_queue_priority")
        batch_op.drop_index(batch_op.f("ix_review_queue_delivery_id"))
    op.drop_table("review_queue")
