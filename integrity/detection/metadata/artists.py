"""Protected artists and impersonation: a display artist close to a protected one, no ids."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

import ddex
from integrity.detection.metadata import constants as c
from integrity.detection.metadata._common import (
    DEFAULT_PROTECTED_FILE,
    MATCH_CACHE_SIZE,
    _artist_candidates,
    _loc,
    _spec,
)
from integrity.detection.metadata.text import (
    allowed_edits,
    edit_distance,
    fold,
    normalise_id,
    skeleton,
)
from integrity.findings import FindingSpec


@dataclass(frozen=True)
class ProtectedArtist:
    """A famous artist and the ids (ISNI, DPID, proprietary) that prove a delivery is theirs."""

    name: str
    ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class _Entry:
    artist: ProtectedArtist
    folded: str
    skeleton: str
    tokens: tuple[str, ...]
    compact: str
    edits: int


@dataclass(frozen=True)
class ProtectedMatch:
    """How a name matched a protected artist: exact, look-alike, near (edits) or contained."""

    artist: ProtectedArtist
    kind: str
    distance: int = 0
    featured: bool = False


class ProtectedArtists:
    """The protected-artist list, pre-folded once so each lookup is a few dict hits."""

    def __init__(self, artists: Iterable[ProtectedArtist]) -> None:
        merged: dict[str, ProtectedArtist] = {}
        for artist in artists:
            key = fold(artist.name)
            if not key:
                continue
            known = merged.get(key)
            merged[key] = artist if known is None else replace(known, ids=known.ids | artist.ids)
        entries = []
        for key, artist in merged.items():
            skel = skeleton(artist.name)
            compact = skel.replace(" ", "")
            entries.append(
                _Entry(artist, key, skel, tuple(skel.split()), compact, allowed_edits(len(compact)))
            )
        self.entries: tuple[_Entry, ...] = tuple(entries)
        self._by_folded = {e.folded.replace(" ", ""): e for e in self.entries}
        self._by_skeleton = {e.compact: e for e in self.entries}
        self._by_size: dict[int, list[_Entry]] = {}
        # Near-match candidates by (words, length): a lookup reads only lengths within reach.
        self._by_shape: dict[tuple[int, int], list[_Entry]] = {}
        for entry in self.entries:
            self._by_size.setdefault(len(entry.tokens), []).append(entry)
            if entry.edits:
                shape = (len(entry.tokens), len(entry.compact))
                self._by_shape.setdefault(shape, []).append(entry)
        self._glued = [
            e
            for e in self.entries
            if len(e.tokens) > 1 and len(e.compact) >= c.CONTAINED_COMPACT_MIN_CHARS
        ]
        self._compact_by_size = {
            size: {e.compact: e for e in entries} for size, entries in self._by_size.items()
        }
        self._cache: dict[str, ProtectedMatch | None] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def match(self, name: str) -> ProtectedMatch | None:
        """The closest protected artist to a display-artist name, or None (memoised)."""
        if name not in self._cache:
            if len(self._cache) >= MATCH_CACHE_SIZE:
                self._cache.clear()
            self._cache[name] = self._match(name)
        return self._cache[name]

    def _match(self, name: str) -> ProtectedMatch | None:
        folded = fold(name).replace(" ", "")
        skel = skeleton(name)
        if not folded and not skel:
            return None
        entry = self._by_folded.get(folded)
        if entry is not None:
            return ProtectedMatch(entry.artist, "exact")
        entry = self._by_skeleton.get(skel.replace(" ", ""))
        if entry is not None:
            return ProtectedMatch(entry.artist, "lookalike")
        near = self._near(skel.replace(" ", ""), len(skel.split()))
        if near is not None:
            return near
        return self._contained(skel.split())

    def _near(self, compact: str, size: int) -> ProtectedMatch | None:
        best: ProtectedMatch | None = None
        reach = c.NEAR_MATCH_MAX_EDITS
        for length in range(len(compact) - reach, len(compact) + reach + 1):
            for entry in self._by_shape.get((size, length), ()):
                limit = entry.edits
                if abs(length - len(compact)) > limit:
                    continue
                distance = edit_distance(compact, entry.compact, limit)
                if distance <= limit and (best is None or distance < best.distance):
                    best = ProtectedMatch(entry.artist, "near", distance)
        return best

    def _contained(self, tokens: list[str]) -> ProtectedMatch | None:
        """A protected name inside a longer one: "Taylor Swift x Lo-Fi", "TaylorSwiftLofi"."""
        for size in sorted(self._by_size, reverse=True):
            if size >= len(tokens):
                continue
            for start in range(len(tokens) - size + 1):
                window = tokens[start : start + size]
                compact = "".join(window)
                entry = self._by_skeleton.get(compact)
                distance = 0
                if entry is None:
                    near = self._near(compact, size)
                    if near is None:
                        continue
                    entry = self._entry(near.artist)
                    distance = near.distance
                before = tokens[start - 1] if start > 0 else ""
                after = tokens[start + size] if start + size < len(tokens) else ""
                joined = before in c.JOINING_WORDS or after in c.JOINING_WORDS
                if size == 1 and not joined and len(compact) < c.CONTAINED_SINGLE_WORD_MIN_CHARS:
                    continue
                featured = before in c.FEATURE_MARKERS
                return ProtectedMatch(entry.artist, "contained", distance, featured)
        glued = "".join(tokens)
        for entry in self._glued:
            if entry.compact in glued and entry.compact != glued:
                return ProtectedMatch(entry.artist, "contained")
        return None

    def _entry(self, artist: ProtectedArtist) -> _Entry:
        return self._by_folded[fold(artist.name).replace(" ", "")]

    def in_text(self, text: str) -> list[tuple[ProtectedArtist, bool]]:
        """Protected names written inside free text (a title), with "after feat./ft./x" flags.

        Exact skeleton matches only: titles are too varied for edit distance to stay precise.
        """
        tokens = skeleton(text).split()
        found: dict[str, tuple[ProtectedArtist, bool]] = {}
        for size, names in self._compact_by_size.items():
            for start in range(len(tokens) - size + 1):
                compact = "".join(tokens[start : start + size])
                entry = names.get(compact)
                if entry is None:
                    continue
                if size == 1 and len(compact) < c.TITLE_SINGLE_WORD_MIN_CHARS:
                    continue
                featured = start > 0 and tokens[start - 1] in c.FEATURE_MARKERS
                found.setdefault(entry.artist.name, (entry.artist, featured))
        return list(found.values())


def parse_protected_artists(text: str) -> list[ProtectedArtist]:
    """Lines "Name" or "Name | id, id, ..."; blank lines and "#" comments are skipped.

    Ids are compared without spaces or hyphens, so an ISNI may be written in groups of four.
    """
    artists = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, ids = line.partition("|")
        if name.strip():
            artists.append(
                ProtectedArtist(
                    name.strip(),
                    frozenset(normalise_id(i) for i in re.split(r"[,;]", ids) if i.strip()),
                )
            )
    return artists


@lru_cache(maxsize=8)
def load_protected_artists(operator_file: Path | None = None) -> ProtectedArtists:
    """The shipped default list plus the operator's file (its ids complete matching names).

    Cached per path: the list is read once per process, not per track.
    """
    shipped = resources.files("integrity.detection").joinpath("data", DEFAULT_PROTECTED_FILE)
    artists = parse_protected_artists(shipped.read_text(encoding="utf-8"))
    if operator_file is not None:
        artists += parse_protected_artists(Path(operator_file).read_text(encoding="utf-8"))
    return ProtectedArtists(artists)


def impersonation_findings(
    recording: ddex.SoundRecording,
    release: ddex.Release | None,
    message: ddex.Message,
    protected: ProtectedArtists,
) -> list[FindingSpec]:
    """Display artists that are, or look like, a protected artist without that artist's ids.

    The sender's DPID counts as an id too: a label listed as entitled to an artist may
    deliver them. A look-alike spelling is reported even with ids, because a spoofed name
    with a real-looking ISNI is still a spoof.
    """
    sender_id = {normalise_id(message.header.sender.dpid)} if message.header.sender.dpid else set()
    location = _loc(recording)
    specs: list[FindingSpec] = []
    reported: set[str] = set()
    for cand in _artist_candidates(recording, release, message):
        match = protected.match(cand.name)
        if match is None or match.artist.name in reported:
            continue
        ids = set(cand.ids)
        if match.artist.ids & (ids | sender_id):
            continue
        reported.add(match.artist.name)
        evidence = {
            "display_artist": cand.name,
            "protected_artist": match.artist.name,
            "match": match.kind,
            "distance": match.distance,
            "party_ids": sorted(ids),
            "protected_ids_known": bool(match.artist.ids),
        }
        if match.kind == "exact" and ids and not match.artist.ids:
            specs.append(
                _spec(
                    "info",
                    "spam_artist_protected_name_unverified",
                    f"display artist {cand.name!r} is the protected artist "
                    f"{match.artist.name!r}; its party ids cannot be checked against a "
                    "known list",
                    location,
                    **evidence,
                )
            )
            continue
        featured = cand.featured or match.featured
        code = "spam_featured_artist_unverified" if featured else "spam_artist_impersonation"
        what = {
            "exact": "is the name of",
            "lookalike": "is a look-alike spelling of",
            "near": f"is {match.distance} edit(s) away from",
            "contained": "borrows the name of",
        }[match.kind]
        why = (
            "with party ids that do not match that artist's"
            if ids and match.artist.ids
            else "with no matching party id or ISNI"
            if ids
            else "with no party id or ISNI"
        )
        role = "featured artist" if featured else "display artist"
        specs.append(
            _spec(
                "warning",
                code,
                f"{role} {cand.name!r} {what} protected artist {match.artist.name!r}, {why}",
                location,
                **evidence,
            )
        )
    return specs
