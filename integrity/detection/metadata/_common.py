"""Helpers shared by the signal modules: building findings, locations, artist candidates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import ddex
from integrity.detection.metadata.text import normalise_id
from integrity.findings import FindingSpec

SOURCE = "metadata"
DEFAULT_PROTECTED_FILE = "protected_artists.txt"
MATCH_CACHE_SIZE = 4096
"""Names remembered by ``ProtectedArtists.match`` (a release's artist recurs on every track)."""
ISRC_YEAR_START = 5
"""Offset of the two year digits in a 12-character ISRC (CC XXX YY NNNNN)."""
ISRC_DESIGNATION_START = 7
"""Offset of the five-digit designation code."""
ISRC_BODY_DIGITS = 7
"""Year and designation digits together."""


def _spec(
    severity: str, code: str, message: str, location: str | None, **evidence: Any
) -> FindingSpec:
    return FindingSpec(
        source=SOURCE,
        severity=severity,
        code=code,
        message=message,
        location=location or None,
        evidence=evidence,
    )


def _loc(record: ddex.SoundRecording | ddex.Release | None) -> str | None:
    return str(record.loc) if record is not None and record.loc.path else None


def _party_ids(party: ddex.Party | None) -> set[str]:
    if party is None:
        return set()
    values = [party.isni, party.dpid, *(p.value for p in party.proprietary_ids)]
    return {normalise_id(v) for v in values if v}


@dataclass(frozen=True)
class _Candidate:
    name: str
    ids: frozenset[str]
    featured: bool


def _artist_candidates(
    recording: ddex.SoundRecording, release: ddex.Release | None, message: ddex.Message
) -> list[_Candidate]:
    """Every display-artist name of the track and its release, with the party ids behind it."""
    out: dict[str, _Candidate] = {}
    artists = [*recording.display_artists, *(release.display_artists if release else ())]
    for artist in artists:
        if not artist.name:
            continue
        party = message.party(artist.party_reference) if artist.party_reference else None
        featured = any("featured" in role.casefold() for role in artist.roles)
        known = out.get(artist.name)
        ids = frozenset(_party_ids(party)) | (known.ids if known else frozenset())
        # Featured only when every credit of that name is a featured one.
        featured = featured if known is None else (featured and known.featured)
        out[artist.name] = _Candidate(artist.name, ids, featured)
    every_id = frozenset().union(*(cand.ids for cand in out.values())) if out else frozenset()
    for combined in (recording.display_artist, release.display_artist if release else None):
        if combined and combined not in out:
            out[combined] = _Candidate(combined, every_id, featured=False)
    return list(out.values())


_MEMO: dict[tuple[int, str], tuple[ddex.Message, Any]] = {}
_MEMO_SIZE = 64
T = TypeVar("T")


def _per_message(message: ddex.Message, key: str, compute: Callable[[], T]) -> T:
    """Whole-message facts computed once for all its tracks, not once per track.

    Keyed by object identity (messages are large and frozen); the stored message is kept so
    the id cannot be reused while the entry lives.
    """
    slot = (id(message), key)
    hit = _MEMO.get(slot)
    if hit is not None and hit[0] is message:
        return cast(T, hit[1])  # stored by this function under `key` with the same compute
    if len(_MEMO) >= _MEMO_SIZE:
        _MEMO.clear()
    value = compute()
    _MEMO[slot] = (message, value)
    return value


def _release_for(recording: ddex.SoundRecording, message: ddex.Message) -> ddex.Release | None:
    """The main release holding the track, else any release holding it."""
    holding = [r for r in message.releases if recording.reference in r.track_references]
    return next((r for r in holding if r.is_main), holding[0] if holding else None)
