"""catalog: deliveries, releases, tracks, assets, analyses, findings

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audio_assets",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("original_name", sa.String(length=512), nullable=True),
        sa.Column("container", sa.String(length=64), nullable=True),
        sa.Column("codec", sa.String(length=64), nullable=True),
        sa.Column("sample_rate", sa.Integer(), nullable=True),
        sa.Column("channels", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_sha256", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=512), nullable=False),
        sa.Column("storage_path", sa.Text(), nullable=False),
        sa.Column("message_filename", sa.String(length=512), nullable=False),
        sa.Column("uploader", sa.String(length=255), nullable=True),
        sa.Column("webhook_id", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("pipeline_version", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ern_version", sa.String(length=16), nullable=True),
        sa.Column("message_type", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("thread_id", sa.String(length=255), nullable=True),
        sa.Column("control_type", sa.String(length=64), nullable=True),
        sa.Column("sender_dpid", sa.String(length=255), nullable=True),
        sa.Column("sender_name", sa.String(length=255), nullable=True),
        sa.Column("message_created_at", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_sha256"),
        sa.UniqueConstraint("webhook_id"),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deliveries_message_id"), ["message_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_deliveries_sender_dpid"), ["sender_dpid"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_deliveries_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_deliveries_uploader"), ["uploader"], unique=False)

    op.create_table(
        "analyses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asset_sha256", sa.String(length=64), nullable=False),
        sa.Column("analysis_version", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("loudness_lufs", sa.Float(), nullable=True),
        sa.Column("peak_dbfs", sa.Float(), nullable=True),
        sa.Column("leading_silence_s", sa.Float(), nullable=True),
        sa.Column("trailing_silence_s", sa.Float(), nullable=True),
        sa.Column("silence_ratio", sa.Float(), nullable=True),
        sa.Column("clipping_ratio", sa.Float(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_sha256"],
            ["audio_assets.sha256"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("asset_sha256", "analysis_version", name="uq_analyses_asset_version"),
    )
    op.create_table(
        "releases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("release_key", sa.String(length=512), nullable=False),
        sa.Column("sender_dpid", sa.String(length=255), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("grid", sa.String(length=64), nullable=True),
        sa.Column("icpn", sa.String(length=64), nullable=True),
        sa.Column("catalog_number", sa.String(length=255), nullable=True),
        sa.Column("proprietary_ids", sa.JSON(), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("display_artist", sa.Text(), nullable=True),
        sa.Column("release_type", sa.String(length=64), nullable=True),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("release_date", sa.String(length=32), nullable=True),
        sa.Column("parental_warning", sa.String(length=64), nullable=True),
        sa.Column("genre", sa.String(length=255), nullable=True),
        sa.Column("is_main", sa.Boolean(), nullable=False),
        sa.Column("contains_ai", sa.String(length=16), nullable=True),
        sa.Column("availability", sa.JSON(), nullable=False),
        sa.Column("taken_down", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("release_key", name="uq_releases_release_key"),
    )
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_releases_delivery_id"), ["delivery_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_releases_grid"), ["grid"], unique=False)
        batch_op.create_index(batch_op.f("ix_releases_icpn"), ["icpn"], unique=False)
        batch_op.create_index(batch_op.f("ix_releases_sender_dpid"), ["sender_dpid"], unique=False)

    op.create_table(
        "tracks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("track_key", sa.String(length=512), nullable=False),
        sa.Column("sender_dpid", sa.String(length=255), nullable=True),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("isrc", sa.String(length=32), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("display_artist", sa.Text(), nullable=True),
        sa.Column("artists", sa.JSON(), nullable=False),
        sa.Column("contributors", sa.JSON(), nullable=False),
        sa.Column("declared_duration_s", sa.Float(), nullable=True),
        sa.Column("parental_warning", sa.String(length=64), nullable=True),
        sa.Column("contains_ai", sa.String(length=16), nullable=True),
        sa.Column("ai_contributions", sa.JSON(), nullable=False),
        sa.Column("has_vocal_performance", sa.Boolean(), nullable=True),
        sa.Column("is_cover", sa.Boolean(), nullable=True),
        sa.Column("file_reference", sa.Text(), nullable=True),
        sa.Column("declared_hash_algorithm", sa.String(length=32), nullable=True),
        sa.Column("declared_hash_value", sa.String(length=256), nullable=True),
        sa.Column("asset_sha256", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("decision", sa.String(length=32), nullable=True),
        sa.Column("decision_reasons", sa.JSON(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("model_versions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_sha256"],
            ["audio_assets.sha256"],
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("track_key", name="uq_tracks_track_key"),
    )
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tracks_asset_sha256"), ["asset_sha256"], unique=False)
        batch_op.create_index(batch_op.f("ix_tracks_decision"), ["decision"], unique=False)
        batch_op.create_index(batch_op.f("ix_tracks_delivery_id"), ["delivery_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tracks_isrc"), ["isrc"], unique=False)
        batch_op.create_index(batch_op.f("ix_tracks_sender_dpid"), ["sender_dpid"], unique=False)
        batch_op.create_index(batch_op.f("ix_tracks_state"), ["state"], unique=False)

    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("finding_key", sa.String(length=64), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=True),
        sa.Column("track_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=128), nullable=False),
        sa.Column("location", sa.Text(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
        ),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("finding_key", name="uq_findings_finding_key"),
    )
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_findings_delivery_id"), ["delivery_id"], unique=False)
        batch_op.create_index("ix_findings_track_code", ["track_id", "code"], unique=False)

    op.create_table(
        "release_tracks",
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["track_id"],
            ["tracks.id"],
        ),
        sa.PrimaryKeyConstraint("release_id", "track_id"),
    )
    with op.batch_alter_table("release_tracks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_release_tracks_track_id"), ["track_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("release_tracks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_release_tracks_track_id"))

    op.drop_table("release_tracks")
    with op.batch_alter_table("findings", schema=None) as batch_op:
        batch_op.drop_index("ix_findings_track_code")
        batch_op.drop_index(batch_op.f("ix_findings_delivery_id"))

    op.drop_table("findings")
    with op.batch_alter_table("tracks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracks_state"))
        batch_op.drop_index(batch_op.f("ix_tracks_sender_dpid"))
        batch_op.drop_index(batch_op.f("ix_tracks_isrc"))
        batch_op.drop_index(batch_op.f("ix_tracks_delivery_id"))
        batch_op.drop_index(batch_op.f("ix_tracks_decision"))
        batch_op.drop_index(batch_op.f("ix_tracks_asset_sha256"))

    op.drop_table("tracks")
    with op.batch_alter_table("releases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_releases_sender_dpid"))
        batch_op.drop_index(batch_op.f("ix_releases_icpn"))
        batch_op.drop_index(batch_op.f("ix_releases_grid"))
        batch_op.drop_index(batch_op.f("ix_releases_delivery_id"))

    op.drop_table("releases")
    op.drop_table("analyses")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_status"))
        batch_op.drop_index(batch_op.f("ix_deliveries_uploader"))
        batch_op.drop_index(batch_op.f("ix_deliveries_sender_dpid"))
        batch_op.drop_index(batch_op.f("ix_deliveries_message_id"))

    op.drop_table("deliveries")
    op.drop_table("audio_assets")
