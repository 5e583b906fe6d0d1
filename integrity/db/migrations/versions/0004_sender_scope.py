"""sender scope: registered DPIDs; deliveries, releases and tracks owned by the signing sender

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

Backfill, so existing rows keep working:
- a webhook delivery belongs to the sender its `uploader` names;
- each sender gets the DPIDs its deliveries carried as registered DPIDs (its next delivery
  under the same DPID is accepted);
- a release or track belongs to the sender of the delivery that last described it, and its
  key is re-prefixed from the DPID to that sender (``sender:<id>|...``), so a redelivery finds
  it; a key that would collide (one sender, the same ISRC under two DPIDs) is left as it was.
Folder-scan rows (no uploader) keep their DPID keys: scans still act as a local operator.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SQLITE_UNIQUE_CONVENTION = {"uq": "uq_%(table_name)s_%(column_0_name)s"}
SENDER_KEY_PREFIX = "sender:"
KEYED_TABLES = (("tracks", "track_key"), ("releases", "release_key"))


def _drop_single_column_unique(table: str, column: str) -> None:
    """Drop the unnamed UNIQUE(column) that revision 0001/0002 created."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # SQLite keeps no constraint names: name them by convention while recreating the table.
        with op.batch_alter_table(table, naming_convention=SQLITE_UNIQUE_CONVENTION) as batch:
            batch.drop_constraint(f"uq_{table}_{column}", type_="unique")
        return
    for constraint in sa.inspect(bind).get_unique_constraints(table):
        if constraint["column_names"] == [column] and constraint["name"]:
            op.drop_constraint(constraint["name"], table, type_="unique")


def upgrade() -> None:
    op.create_table(
        "sender_dpids",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("dpid", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["sender_id"], ["senders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sender_id", "dpid", name="uq_sender_dpids_sender_dpid"),
    )
    with op.batch_alter_table("sender_dpids", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sender_dpids_dpid"), ["dpid"], unique=False)
        batch_op.create_index(batch_op.f("ix_sender_dpids_sender_id"), ["sender_id"], unique=False)

    _drop_single_column_unique("deliveries", "message_sha256")
    _drop_single_column_unique("deliveries", "webhook_id")
    _drop_single_column_unique("webhook_receipts", "webhook_id")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sender_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key("fk_deliveries_sender_id", "senders", ["sender_id"], ["id"])
        batch_op.create_index(batch_op.f("ix_deliveries_sender_id"), ["sender_id"], unique=False)
        batch_op.create_unique_constraint(
            "uq_deliveries_sender_message", ["sender_id", "message_sha256"]
        )
        batch_op.create_unique_constraint(
            "uq_deliveries_sender_webhook", ["sender_id", "webhook_id"]
        )
    with op.batch_alter_table("webhook_receipts", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            "uq_webhook_receipts_sender_webhook", ["sender_id", "webhook_id"]
        )
    for table, _ in KEYED_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("sender_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(f"fk_{table}_sender_id", "senders", ["sender_id"], ["id"])
            batch_op.create_index(batch_op.f(f"ix_{table}_sender_id"), ["sender_id"], unique=False)
    _backfill()


def _backfill() -> None:
    bind = op.get_bind()
    op.execute(
        "UPDATE deliveries SET sender_id = "
        "(SELECT senders.id FROM senders WHERE senders.name = deliveries.uploader) "
        "WHERE uploader IS NOT NULL"
    )
    pairs = bind.execute(
        sa.text(
            "SELECT DISTINCT sender_id, sender_dpid FROM deliveries "
            "WHERE sender_id IS NOT NULL AND sender_dpid IS NOT NULL"
        )
    ).all()
    if pairs:
        now = datetime.now(UTC)
        dpids = sa.table(
            "sender_dpids",
            sa.column("sender_id", sa.Integer()),
            sa.column("dpid", sa.String()),
            sa.column("created_at", sa.DateTime(timezone=True)),
        )
        op.bulk_insert(dpids, [{"sender_id": s, "dpid": d, "created_at": now} for s, d in pairs])
    deliveries = sa.table("deliveries", sa.column("id"), sa.column("sender_id"))
    for table, key_column in KEYED_TABLES:
        rows = sa.table(
            table,
            sa.column("id"),
            sa.column("sender_id"),
            sa.column("delivery_id"),
            sa.column(key_column),
        )
        owner = sa.select(deliveries.c.sender_id).where(deliveries.c.id == rows.c.delivery_id)
        bind.execute(sa.update(rows).values(sender_id=owner.scalar_subquery()))
        _rekey(bind, rows, key_column)


def _rekey(bind: sa.Connection, rows: sa.TableClause, key_column: str) -> None:
    """``<dpid>|rest`` → ``sender:<id>|rest`` for the rows a sender owns (never colliding)."""
    key = rows.c[key_column]
    found = bind.execute(sa.select(rows.c.id, key, rows.c.sender_id).order_by(rows.c.id)).all()
    taken = {old for _, old, _ in found}
    updates = []
    for row_id, old, sender_id in found:
        if sender_id is None or "|" not in old or old.startswith(SENDER_KEY_PREFIX):
            continue
        new_key = f"{SENDER_KEY_PREFIX}{sender_id}|{old.split('|', 1)[1]}"
        if new_key in taken:
            continue
        taken.add(new_key)
        updates.append({"row_id": row_id, "new_key": new_key})
    if updates:
        statement = (
            sa.update(rows)
            .where(rows.c.id == sa.bindparam("row_id"))
            .values({key_column: sa.bindparam("new_key")})
        )
        bind.execute(statement, updates)


def downgrade() -> None:
    # Keys stay re-prefixed (still unique, so older code keeps working on them).
    for table, _ in reversed(KEYED_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_sender_id"))
            batch_op.drop_constraint(f"fk_{table}_sender_id", type_="foreignkey")
            batch_op.drop_column("sender_id")
    with op.batch_alter_table("webhook_receipts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_webhook_receipts_sender_webhook", type_="unique")
        batch_op.create_unique_constraint("uq_webhook_receipts_webhook_id", ["webhook_id"])
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_deliveries_sender_webhook", type_="unique")
        batch_op.drop_constraint("uq_deliveries_sender_message", type_="unique")
        batch_op.drop_index(batch_op.f("ix_deliveries_sender_id"))
        batch_op.drop_constraint("fk_deliveries_sender_id", type_="foreignkey")
        batch_op.drop_column("sender_id")
        batch_op.create_unique_constraint("uq_deliveries_message_sha256", ["message_sha256"])
        batch_op.create_unique_constraint("uq_deliveries_webhook_id", ["webhook_id"])
    with op.batch_alter_table("sender_dpids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sender_dpids_sender_id"))
        batch_op.drop_index(batch_op.f("ix_sender_dpids_dpid"))
    op.drop_table("sender_dpids")
