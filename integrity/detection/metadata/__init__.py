"""Metadata signals: what the ERN itself says about spam, fraud and impersonation.

One module per family of signal (text folding, protected artists, names, durations,
identifiers, AI disclosure, sender velocity); `signals.metadata_findings` runs them all. Pure
functions over the ``ddex`` records plus a small ``CatalogContext`` the catalog layer fills from
the database (``integrity.catalog.context``), so every signal is testable on a crafted message.
"""

from integrity.detection.metadata.artists import (
    ProtectedArtist,
    ProtectedArtists,
    load_protected_artists,
)
from integrity.detection.metadata.context import CatalogContext, IcpnUse, IsrcUse
from integrity.detection.metadata.disclosure import (
    ai_disclosure_findings,
    undeclared_synthetic_finding,
)
from integrity.detection.metadata.identifiers import placeholder_reason
from integrity.detection.metadata.names import generated_name_evidence, title_findings
from integrity.detection.metadata.signals import metadata_findings, release_of
from integrity.detection.metadata.text import edit_distance, skeleton
from integrity.detection.metadata.velocity import velocity_findings

__all__ = [
    "CatalogContext",
    "IcpnUse",
    "IsrcUse",
    "ProtectedArtist",
    "ProtectedArtists",
    "ai_disclosure_findings",
    "edit_distance",
    "generated_name_evidence",
    "load_protected_artists",
    "metadata_findings",
    "placeholder_reason",
    "release_of",
    "skeleton",
    "title_findings",
    "undeclared_synthetic_finding",
    "velocity_findings",
]
