"""Typed ORM models of the catalog: deliveries, releases, tracks, audio assets, analyses, findings.

Identity rules (they make reruns and redeliveries idempotent):
- a delivery is one ERN message of one sender, identified by the SHA-256 of its bytes (and its
  webhook id) within that sender: another sender's copy of the same bytes is its own delivery;
- the sender is the one whose API key and webhook secret signed the upload (`sender_id`), never
  the DPID written in the message; folder scans have no credentials and act as a local
  operator whose senders are the ERN DPIDs (`sender_id` NULL);
- a release is identified per sender by its best identifier (ICPN, GRid, catalog number,
  proprietary id, else message id + release reference);
- a track is a sound recording per sender, identified by its ISRC (else delivery + resource
  reference), so a redelivery of the same ISRC updates the same track, and another sender's
  delivery of that ISRC is another track;
- an audio asset is a file's content, identified by its SHA-256, and analysed once per
  analysis version whatever the number of tracks that point at it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SHA256_HEX_LENGTH = 64
SHORT_TEXT = 255
MAX_ID = 2**31 - 1  # ids are PostgreSQL `integer` columns: none is larger
KEY_TEXT = 512


def utc_now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads this class attribute)
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: DateTime(timezone=True),
    }


class Delivery(Base):
    """One ERN message received from a sender (a folder scan or a webhook upload)."""

    __tablename__ = "deliveries"
    # Per sender (NULL: a folder scan, de-duplicated by the scan itself).
    __table_args__ = (
        UniqueConstraint("sender_id", "message_sha256", name="uq_deliveries_sender_message"),
        UniqueConstraint("sender_id", "webhook_id", name="uq_deliveries_sender_webhook"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_sha256: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH))
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("senders.id"), index=True)
    source: Mapped[str] = mapped_column(String(KEY_TEXT))
    # Where the message and its audio files are: a scanned folder, or the blob store's copy.
    storage_path: Mapped[str] = mapped_column(Text)
    message_filename: Mapped[str] = mapped_column(String(KEY_TEXT))
    uploader: Mapped[str | None] = mapped_column(String(SHORT_TEXT), index=True)
    webhook_id: Mapped[str | None] = mapped_column(String(SHORT_TEXT))
    status: Mapped[str] = mapped_column(String(32), index=True)
    error: Mapped[str | None] = mapped_column(Text)
    pipeline_version: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(default=utc_now)
    completed_at: Mapped[datetime | None]

    ern_version: Mapped[str | None] = mapped_column(String(16))
    message_type: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(SHORT_TEXT), index=True)
    thread_id: Mapped[str | None] = mapped_column(String(SHORT_TEXT))
    control_type: Mapped[str | None] = mapped_column(String(64))
    sender_dpid: Mapped[str | None] = mapped_column(String(SHORT_TEXT), index=True)
    sender_name: Mapped[str | None] = mapped_column(String(SHORT_TEXT))
    message_created_at: Mapped[str | None] = mapped_column(String(64))

    findings: Mapped[list[Finding]] = relationship(back_populates="delivery")


class Release(Base):
    """A release as last described by its sender."""

    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("release_key", name="uq_releases_release_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    release_key: Mapped[str] = mapped_column(String(KEY_TEXT))
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("senders.id"), index=True)
    sender_dpid: Mapped[str | None] = mapped_column(String(SHORT_TEXT), index=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    reference: Mapped[str | None] = mapped_column(String(SHORT_TEXT))
    grid: Mapped[str | None] = mapped_column(String(64), index=True)
    icpn: Mapped[str | None] = mapped_column(String(64), index=True)
    catalog_number: Mapped[str | None] = mapped_column(String(SHORT_TEXT))
    proprietary_ids: Mapped[list[Any]] = mapped_column(default=list)
    title: Mapped[str | None] = mapped_column(Text)
    display_artist: Mapped[str | None] = mapped_column(Text)
    release_type: Mapped[str | None] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(Text)
    release_date: Mapped[str | None] = mapped_column(String(32))
    parental_warning: Mapped[str | None] = mapped_column(String(64))
    genre: Mapped[str | None] = mapped_column(String(SHORT_TEXT))
    is_main: Mapped[bool] = mapped_column(Boolean, default=False)
    contains_ai: Mapped[str | None] = mapped_column(String(16))
    availability: Mapped[list[Any]] = mapped_column(default=list)
    taken_down: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)

    tracks: Mapped[list[ReleaseTrack]] = relationship(
        back_populates="release", order_by="ReleaseTrack.sequence", cascade="all, delete-orphan"
    )


class AudioAsset(Base):
    """A file's content, stored once however many tracks point at it."""

    __tablename__ = "audio_assets"

    sha256: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    original_name: Mapped[str | None] = mapped_column(String(KEY_TEXT))
    container: Mapped[str | None] = mapped_column(String(64))
    codec: Mapped[str | None] = mapped_column(String(64))
    sample_rate: Mapped[int | None] = mapped_column(Integer)
    channels: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class Track(Base):
    """A sound recording as delivered by one sender; the unit moderators decide on."""

    __tablename__ = "tracks"
    __table_args__ = (UniqueConstraint("track_key", name="uq_tracks_track_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    track_key: Mapped[str] = mapped_column(String(KEY_TEXT))
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("senders.id"), index=True)
    sender_dpid: Mapped[str | None] = mapped_column(String(SHORT_TEXT), index=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    reference: Mapped[str | None] = mapped_column(String(SHORT_TEXT))
    isrc: Mapped[str | None] = mapped_column(String(32), index=True)
    title: Mapped[str | None] = mapped_column(Text)
    display_artist: Mapped[str | None] = mapped_column(Text)
    artists: Mapped[list[Any]] = mapped_column(default=list)
    contributors: Mapped[list[Any]] = mapped_column(default=list)
    declared_duration_s: Mapped[float | None] = mapped_column(Float)
    parental_warning: Mapped[str | None] = mapped_column(String(64))
    contains_ai: Mapped[str | None] = mapped_column(String(16))
    ai_contributions: Mapped[list[Any]] = mapped_column(default=list)
    has_vocal_performance: Mapped[bool | None] = mapped_column(Boolean)
    is_cover: Mapped[bool | None] = mapped_column(Boolean)
    file_reference: Mapped[str | None] = mapped_column(Text)
    declared_hash_algorithm: Mapped[str | None] = mapped_column(String(32))
    declared_hash_value: Mapped[str | None] = mapped_column(String(256))
    asset_sha256: Mapped[str | None] = mapped_column(ForeignKey("audio_assets.sha256"), index=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    decision: Mapped[str | None] = mapped_column(String(32), index=True)
    decision_reasons: Mapped[list[Any]] = mapped_column(default=list)
    # Calibrated model probabilities and the model versions that produced them (latest scoring).
    scores: Mapped[dict[str, Any]] = mapped_column(default=dict)
    model_versions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)

    asset: Mapped[AudioAsset | None] = relationship()
    releases: Mapped[list[ReleaseTrack]] = relationship(back_populates="track")


class ReleaseTrack(Base):
    """Ordered membership of a track in a release."""

    __tablename__ = "release_tracks"

    release_id: Mapped[int] = mapped_column(
        ForeignKey("releases.id", ondelete="CASCADE"), primary_key=True
    )
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id"), primary_key=True, index=True)
    sequence: Mapped[int] = mapped_column(Integer)

    release: Mapped[Release] = relationship(back_populates="tracks")
    track: Mapped[Track] = relationship(back_populates="releases")


class Analysis(Base):
    """What one analysis version measured on one audio asset (computed once, reused)."""

    __tablename__ = "analyses"
    __table_args__ = (
        UniqueConstraint("asset_sha256", "analysis_version", name="uq_analyses_asset_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_sha256: Mapped[str] = mapped_column(ForeignKey("audio_assets.sha256"))
    analysis_version: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[float | None] = mapped_column(Float)
    loudness_lufs: Mapped[float | None] = mapped_column(Float)
    peak_dbfs: Mapped[float | None] = mapped_column(Float)
    leading_silence_s: Mapped[float | None] = mapped_column(Float)
    trailing_silence_s: Mapped[float | None] = mapped_column(Float)
    silence_ratio: Mapped[float | None] = mapped_column(Float)
    clipping_ratio: Mapped[float | None] = mapped_column(Float)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class Finding(Base):
    """One observation about a delivery, a release or a track, with where it was found."""

    __tablename__ = "findings"
    __table_args__ = (
        UniqueConstraint("finding_key", name="uq_findings_finding_key"),
        Index("ix_findings_track_code", "track_id", "code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    finding_key: Mapped[str] = mapped_column(String(SHA256_HEX_LENGTH))
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id", ondelete="SET NULL"))
    track_id: Mapped[int | None] = mapped_column(ForeignKey("tracks.id"))
    source: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(128))
    location: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)

    delivery: Mapped[Delivery] = relationship(back_populates="findings")
