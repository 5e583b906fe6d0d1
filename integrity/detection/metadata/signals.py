"""Metadata signals: what the ERN itself says about spam, fraud and impersonation.

Pure functions over the ``ddex`` records plus a small ``CatalogContext`` the pipeline fills from
the database (see ``catalog_context``), so every signal is testable on a crafted message and
cheap enough to run on every track. Each signal returns ``FindingSpec`` records (source
``metadata``) with a stable code (``spam_*`` for spam, fraud and impersonation, ``ai_*`` for
AI-disclosure mismatches), a sentence a moderator can act on, and the evidence behind it.
Thresholds live in ``constants`` with their units and reasons.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace

import ddex
from integrity.detection.metadata._common import _loc, _release_for
from integrity.detection.metadata.artists import impersonation_findings
from integrity.detection.metadata.context import CatalogContext
from integrity.detection.metadata.disclosure import ai_disclosure_findings
from integrity.detection.metadata.durations import duration_findings
from integrity.detection.metadata.identifiers import identifier_findings
from integrity.detection.metadata.names import (
    artist_name_findings,
    generated_name_findings,
    title_findings,
)
from integrity.detection.metadata.velocity import template_findings, velocity_findings
from integrity.findings import FindingSpec


def metadata_findings(
    recording: ddex.SoundRecording,
    message: ddex.Message,
    context: CatalogContext | None = None,
    *,
    release: ddex.Release | None = None,
    synthetic_score: float | None = None,
    track_id: int | None = None,
    release_id: int | None = None,
) -> list[FindingSpec]:
    """Every metadata signal for one delivered track, ready for ``record_findings``.

    ``release`` defaults to the main release holding the track; release-level signals
    (placeholder UPC, mostly-30-s release, stuffed release title) are attached to each of its
    tracks, because decisions are taken per track. ``track_id`` / ``release_id`` are copied
    into every finding.
    """
    context = context or CatalogContext()
    release = release or _release_for(recording, message)
    protected = context.protected
    location = _loc(recording)
    artist_names = [
        n
        for n in dict.fromkeys(
            [
                *(a.name for a in recording.display_artists),
                recording.display_artist,
                *((a.name for a in release.display_artists) if release else ()),
            ]
        )
        if n
    ]
    specs: list[FindingSpec] = []
    specs += impersonation_findings(recording, release, message, protected)
    if recording.title:
        specs += title_findings(
            recording.title,
            label="track title",
            location=location,
            protected=protected,
            own_artists=artist_names,
        )
    if release is not None and release.title and release.title != recording.title:
        specs += title_findings(
            release.title,
            label="release title",
            location=_loc(release),
            protected=protected,
            own_artists=artist_names,
        )
    for name in artist_names:
        specs += artist_name_findings(name, location=location)
    specs += generated_name_findings(artist_names, kind="artist_name", location=location)
    titles = [t for t in (recording.title, release.title if release else None) if t]
    specs += generated_name_findings(titles, kind="title", location=location)
    specs += duration_findings(recording, release, message)
    specs += identifier_findings(recording, release, message, context)
    specs += ai_disclosure_findings(recording, release, synthetic_score)
    specs += velocity_findings(context)
    specs += template_findings(recording, message)
    return [replace(s, track_id=track_id, release_id=release_id) for s in _dedupe(specs)]


def _dedupe(specs: Iterable[FindingSpec]) -> Iterator[FindingSpec]:
    seen: set[tuple[str, str | None, str]] = set()
    for spec in specs:
        key = (spec.code, spec.location, spec.message)
        if key not in seen:
            seen.add(key)
            yield spec


def release_of(recording: ddex.SoundRecording, message: ddex.Message) -> ddex.Release | None:
    """The release ``metadata_findings`` uses by default for a track (exposed for callers)."""
    return _release_for(recording, message)
