"""What the catalog knows around one track, filled by the catalog layer from the database."""

from __future__ import annotations

from dataclasses import dataclass, field

from integrity.detection.metadata.artists import ProtectedArtists, load_protected_artists


@dataclass(frozen=True)
class IsrcUse:
    """Another catalog track carrying the same ISRC."""

    track_id: int
    sender: str | None
    asset_sha256: str | None
    declared_hash: str | None = None


@dataclass(frozen=True)
class IcpnUse:
    """Another catalog release carrying the same ICPN (UPC/EAN)."""

    icpn: str
    release_id: int
    sender: str | None
    title: str | None = None


@dataclass(frozen=True)
class CatalogContext:
    """What the catalog knows around one track; built by ``catalog_context.build_catalog_context``.

    The defaults describe an empty catalog, so tests and offline scans need no database.
    Sender counts include the delivery being scored.
    """

    sender: str | None = None
    sender_tracks_24h: int = 0
    sender_tracks_30d: int = 0
    asset_sha256: str | None = None
    declared_hash: str | None = None
    isrc_uses: tuple[IsrcUse, ...] = ()
    icpn_uses: tuple[IcpnUse, ...] = ()
    protected: ProtectedArtists = field(default_factory=load_protected_artists)
