"""Fill the ``CatalogContext`` of one track from the database: a handful of indexed queries.

Kept apart from ``metadata`` so the signals stay pure and testable without a database; this is
the only detection module that reads the catalog. Every query filters on an indexed column
(``tracks.isrc``, ``tracks.sender_id``, ``tracks.sender_dpid``, ``deliveries.uploader``,
``releases.icpn``, ``release_tracks.track_id``) and returns at most ``MAX_REUSES`` rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ddex.identifiers import check_isrc
from integrity.db.models import Delivery, Release, ReleaseTrack, Track
from integrity.detection.metadata import (
    CatalogContext,
    IcpnUse,
    IsrcUse,
    ProtectedArtists,
)
from integrity.detection.metadata import constants as c

MAX_REUSES = 20
"""rows: enough evidence for a moderator; a placeholder shared by thousands stays cheap."""
DAY = timedelta(days=1)


def sender_of(key: str | None) -> str | None:
    """The sender part of a pipeline track or release key ("<sender>|isrc:...")."""
    if not key or "|" not in key:
        return None
    return key.split("|", 1)[0]


def declared_hash(track: Track) -> str | None:
    """``algorithm:value`` of the declared hash sum, comparable across tracks."""
    if not track.declared_hash_value:
        return None
    algorithm = (track.declared_hash_algorithm or "").lower().replace("-", "")
    return f"{algorithm}:{track.declared_hash_value.strip().lower()}"


def build_catalog_context(
    session: Session,
    *,
    track: Track,
    delivery: Delivery,
    protected: ProtectedArtists,
    now: datetime | None = None,
) -> CatalogContext:
    """What the catalog knows around ``track``: sender volume, ISRC and ICPN reuse.

    Call it after the track's audio was analysed (``track.asset_sha256`` set) so that reuse
    with different audio compares file contents; before that, declared hash sums are used.
    """
    now = now or datetime.now(UTC)
    day_count, month_count = _sender_counts(session, delivery, now)
    return CatalogContext(
        sender=sender_of(track.track_key),
        sender_tracks_24h=day_count,
        sender_tracks_30d=month_count,
        asset_sha256=track.asset_sha256,
        declared_hash=declared_hash(track),
        isrc_uses=_isrc_uses(session, track),
        icpn_uses=_icpn_uses(session, track),
        protected=protected,
    )


def _sender_counts(session: Session, delivery: Delivery, now: datetime) -> tuple[int, int]:
    """New tracks from the delivery's sender in the last day and in the history window."""
    query = select(func.count(Track.id))
    if delivery.sender_id is not None:
        query = query.where(Track.sender_id == delivery.sender_id)
    elif delivery.sender_dpid:
        query = query.where(Track.sender_dpid == delivery.sender_dpid)
    elif delivery.uploader:
        query = query.join(Delivery, Track.delivery_id == Delivery.id).where(
            Delivery.uploader == delivery.uploader
        )
    else:
        return 0, 0
    day = session.scalar(query.where(Track.created_at >= now - DAY)) or 0
    month = session.scalar(query.where(Track.created_at >= now - c.SENDER_HISTORY_DAYS * DAY)) or 0
    return int(day), int(month)


def _isrc_uses(session: Session, track: Track) -> tuple[IsrcUse, ...]:
    if not track.isrc:
        return ()
    forms = {track.isrc}
    normalised = check_isrc(track.isrc).value
    if normalised:
        forms.add(normalised)
    # Earlier tracks only: a later delivery of the ISRC (another sender's claim) must never
    # change the first claimant's decision when it is rescored or redelivered.
    rows = session.scalars(
        select(Track)
        .where(Track.isrc.in_(forms), Track.id < track.id)
        .order_by(Track.id)
        .limit(MAX_REUSES)
    ).all()
    return tuple(
        IsrcUse(
            track_id=row.id,
            sender=sender_of(row.track_key),
            asset_sha256=row.asset_sha256,
            declared_hash=declared_hash(row),
        )
        for row in rows
    )


def _icpn_uses(session: Session, track: Track) -> tuple[IcpnUse, ...]:
    own = session.scalars(
        select(Release)
        .join(ReleaseTrack, ReleaseTrack.release_id == Release.id)
        .where(ReleaseTrack.track_id == track.id, Release.icpn.is_not(None))
    ).all()
    uses: list[IcpnUse] = []
    own_ids = [r.id for r in own]
    for icpn in sorted({r.icpn for r in own if r.icpn}):
        rows = session.scalars(
            select(Release)
            .where(Release.icpn == icpn, Release.id < min(own_ids))  # earlier ones, as ISRCs
            .order_by(Release.id)
            .limit(MAX_REUSES)
        ).all()
        uses += [
            IcpnUse(icpn=icpn, release_id=r.id, sender=sender_of(r.release_key), title=r.title)
            for r in rows
        ]
    return tuple(uses)
