"""Metadata signals: what the ERN itself says about spam, fraud and impersonation.

Pure functions over the ``ddex`` records plus a small ``CatalogContext`` the pipeline fills from
the database (see ``catalog_context``), so every signal is testable on a crafted message and
cheap enough to run on every track. Each signal returns ``FindingSpec`` records (source
``metadata``) with a stable code (``spam_*`` for spam, fraud and impersonation, ``ai_*`` for
AI-disclosure mismatches), a sentence a moderator can act on, and the evidence behind it.
Thresholds live in ``metadata_constants`` with their units and reasons.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import ddex
from ddex.identifiers import check_isrc
from ddex.model import AI_ALL, AI_NONE
from integrity.detection import metadata_constants as c
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

# ---------------------------------------------------------------------------------------------
# text folding


_LETTER_FOLDS = str.maketrans(
    {"ø": "o", "đ": "d", "ł": "l", "æ": "ae", "œ": "oe", "þ": "th", "ð": "d", "ı": "i", "ħ": "h"}
)
# Cyrillic and Greek letters that render like Latin ones (lower case: folding casefolds first).
_CONFUSABLES = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "ѕ": "s",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "ԁ": "d",
        "ԛ": "q",
        "ԝ": "w",
        "ɡ": "g",
        "ɑ": "a",
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
        "ζ": "z",
    }
)
# Leet and look-alike symbols, and letters that are confused with each other (l, 1, i, |, !).
_SKELETON = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "l": "i",
        "|": "i",
        "!": "i",
        "3": "e",
        "4": "a",
        "@": "a",
        "5": "s",
        "$": "s",
        "7": "t",
        "+": "t",
        "8": "b",
        "9": "g",
        "6": "b",
        "2": "z",
        "€": "e",
        "£": "l",
    }
)
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_AND = re.compile(r"\s*[&+]\s*")


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold(text: str) -> str:
    """Compare-ready text: NFKC, case-folded, accents stripped, punctuation → single spaces.

    "Beyoncé", "BEYONCE" and "beyonce" fold alike; "&" and "+" read as "and".
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _AND.sub(" and ", text)
    text = _strip_accents(text).translate(_LETTER_FOLDS)
    return _NON_ALNUM.sub(" ", text).strip()


def skeleton(text: str) -> str:
    """``fold`` after mapping look-alikes: Cyrillic/Greek letters, leet digits and symbols.

    Both sides of a comparison go through it, so "T4ylor Sw1ft", "Taylor Swlft" and a
    Cyrillic "Тaylor" all reduce to the skeleton of "Taylor Swift".
    """
    text = unicodedata.normalize("NFKC", text).casefold().translate(_CONFUSABLES)
    text = _strip_accents(text).translate(_LETTER_FOLDS)
    text = _AND.sub(" and ", text).translate(_SKELETON)
    text = _NON_ALNUM.sub(" ", text).strip()
    return text.replace("rn", "m").replace("vv", "w")


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (a swap of neighbours costs one), capped at limit+1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                value = min(value, previous2[j - 2] + 1)
            current[j] = value
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return min(previous[-1], limit + 1)


def allowed_edits(length: int) -> int:
    """Edits tolerated for a protected name of ``length`` folded characters."""
    if length < c.NEAR_MATCH_MIN_CHARS:
        return 0
    return min(c.NEAR_MATCH_MAX_EDITS, max(1, length // c.NEAR_MATCH_CHARS_PER_EDIT))


# ---------------------------------------------------------------------------------------------
# protected artists


def normalise_id(value: str) -> str:
    """Identifiers compare without spaces, hyphens or case ("0000 0001 2345 6789")."""
    return re.sub(r"[^0-9A-Z]", "", value.upper())


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


# ---------------------------------------------------------------------------------------------
# catalog context


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


# ---------------------------------------------------------------------------------------------
# helpers


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


# ---------------------------------------------------------------------------------------------
# impersonation


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


# ---------------------------------------------------------------------------------------------
# stuffed titles and names

_URL = re.compile(
    r"(?:https?://|www\.)\S+|\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:"
    + "|".join(sorted(c.URL_TLDS))
    + r")\b(?:/\S*)?",
    re.IGNORECASE,
)
_HASHTAG = re.compile(r"(?<![\w&])#[^\W\d_][\w]*")
_HANDLE = re.compile(r"(?<![\w.])@[A-Za-z0-9_]{2,}")
_TITLE_PATTERNS = (
    (_URL, "spam_title_url", "a web address", "urls"),
    (_HASHTAG, "spam_title_hashtag", "hashtags", "hashtags"),
    (_HANDLE, "spam_title_handle", "social-media handles", "handles"),
)
"""(pattern, code, what a moderator reads, evidence key) of the pattern-based title checks."""
_EMOJI_JOINERS = {"\u200d", "\ufe0f", "\ufe0e", " "}


def _is_emoji(ch: str) -> bool:
    code = ord(ch)
    return (
        0x1F000 <= code <= 0x1FAFF
        or 0x2600 <= code <= 0x27BF
        or 0x2B00 <= code <= 0x2BFF
        or (unicodedata.category(ch) == "So" and code > 0x2000)
    )


def emoji_stats(text: str) -> tuple[int, int]:
    """(emoji in all, longest run of emoji ignoring spaces and joiners)."""
    total = longest = run = 0
    for ch in text:
        if _is_emoji(ch):
            total += 1
            run += 1
            longest = max(longest, run)
        elif ch not in _EMOJI_JOINERS:
            run = 0
    return total, longest


def _is_periodic(tokens: Sequence[str]) -> bool:
    """A phrase sung again ("I Know I Know I Know", "Monday Monday Monday")."""
    n = len(tokens)
    return any(
        n % period == 0 and tuple(tokens) == tuple(tokens[:period]) * (n // period)
        for period in range(1, n // 2 + 1)
    )


_BRACKETED = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_RAW_TOKEN = re.compile(r"#?[^\W_]+", re.UNICODE)


def repeated_keywords(text: str) -> dict[str, int]:
    """Keywords (≥ KEYWORD_MIN_CHARS letters) repeated in a way that looks like stuffing."""
    body = _BRACKETED.sub(" ", text)  # versions: "(Live At The Phoenix: 2005)", "[Remix]"
    raw = [t.casefold() for t in _RAW_TOKEN.findall(body)]
    tokens = [fold(t) for t in raw]
    if not tokens or _is_periodic(tokens):
        return {}
    # A word sung twice in a row ("Monday Monday") is lyric; "Sleep #sleep" is a keyword again.
    kept = [t for i, t in enumerate(tokens) if i == 0 or raw[i] != raw[i - 1]]
    counts = Counter(t for t in kept if t.isalpha() and len(t) >= c.KEYWORD_MIN_CHARS)
    repeated = {t: n for t, n in counts.items() if n >= 2}
    if len(repeated) >= c.KEYWORD_REPEAT_DISTINCT or any(
        n >= c.KEYWORD_REPEAT_ONE for n in repeated.values()
    ):
        return repeated
    return {}


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"\s+", text.strip()) if any(ch.isalnum() for ch in w)]


def _is_all_caps(text: str) -> bool:
    words = [w for w in _words(text) if sum(ch.isalpha() for ch in w) >= 2]
    letters = [ch for ch in text if ch.isalpha() and ch.isascii()]
    return (
        len(words) >= c.ALL_CAPS_MIN_WORDS
        and len(letters) >= c.ALL_CAPS_MIN_LETTERS
        and all(ch.isupper() for ch in letters)
    )


def title_findings(
    title: str,
    *,
    label: str,
    location: str | None,
    protected: ProtectedArtists,
    own_artists: Iterable[str] = (),
) -> list[FindingSpec]:
    """URLs, hashtags, @handles, emoji runs, repeated keywords, famous names, length, caps."""
    specs: list[FindingSpec] = []
    for pattern, code, what, key in _TITLE_PATTERNS:
        hits = pattern.findall(title)
        if hits:
            specs.append(
                _spec(
                    "warning",
                    code,
                    f"{label} contains {what} ({' '.join(hits)})",
                    location,
                    title=title,
                    **{key: hits},
                )
            )
    total, run = emoji_stats(title)
    if run >= c.TITLE_EMOJI_RUN or total >= c.TITLE_EMOJI_TOTAL:
        specs.append(
            _spec(
                "warning",
                "spam_title_emoji",
                f"{label} is decorated with {total} emoji (longest run {run})",
                location,
                title=title,
                emoji=total,
                longest_run=run,
            )
        )
    repeated = repeated_keywords(title)
    if repeated:
        listed = ", ".join(f"{word!r}×{n}" for word, n in sorted(repeated.items()))
        specs.append(
            _spec(
                "warning",
                "spam_title_repeated_keywords",
                f"{label} repeats keywords ({listed})",
                location,
                title=title,
                repeated=repeated,
            )
        )
    own = {fold(name) for name in own_artists}
    for artist, featured in protected.in_text(title):
        if fold(artist.name) in own:
            continue
        code = "spam_featured_artist_unverified" if featured else "spam_title_famous_artist"
        how = "as a featured artist who is not credited" if featured else ""
        specs.append(
            _spec(
                "warning",
                code,
                f"{label} names protected artist {artist.name!r} {how}".rstrip()
                + " (not a display artist of this track)",
                location,
                title=title,
                protected_artist=artist.name,
                featured=featured,
            )
        )
    words = _words(title)
    if len(title) > c.TITLE_MAX_CHARS or len(words) > c.TITLE_MAX_WORDS:
        specs.append(
            _spec(
                "info",
                "spam_title_too_long",
                f"{label} is {len(title)} characters and {len(words)} words long",
                location,
                title=title,
                chars=len(title),
                words=len(words),
            )
        )
    if _is_all_caps(title):
        specs.append(
            _spec(
                "info", "spam_title_all_caps", f"{label} is all in capitals", location, title=title
            )
        )
    return specs


def artist_name_findings(name: str, *, location: str | None) -> list[FindingSpec]:
    """Artist names carrying URLs, hashtags, handles or emoji, or built from search keywords."""
    specs: list[FindingSpec] = []
    junk = {
        "urls": _URL.findall(name),
        "hashtags": _HASHTAG.findall(name),
        "handles": _HANDLE.findall(name),
    }
    total, _run = emoji_stats(name)
    present = {k: v for k, v in junk.items() if v}
    if present or total >= c.TITLE_EMOJI_RUN:
        parts = [f"{k} {' '.join(v)}" for k, v in present.items()]
        if total >= c.TITLE_EMOJI_RUN:
            parts.append(f"{total} emoji")
        specs.append(
            _spec(
                "warning",
                "spam_artist_name_stuffed",
                f"artist name {name!r} carries {'; '.join(parts)}",
                location,
                artist=name,
                emoji=total,
                **present,
            )
        )
    keywords = functional_keywords(name)
    if len(keywords) >= c.ARTIST_KEYWORD_MIN_HITS:
        specs.append(
            _spec(
                "warning",
                "spam_artist_name_keywords",
                f"artist name {name!r} is a list of search keywords ({', '.join(keywords)})",
                location,
                artist=name,
                keywords=keywords,
            )
        )
    return specs


def functional_keywords(*texts: str | None) -> list[str]:
    """Distinct functional-audio keywords (rain, white noise, sleep...) in the given texts."""
    folded = " " + " ".join(fold(t) for t in texts if t) + " "
    hits = [kw for kw in c.FUNCTIONAL_KEYWORDS if f" {kw} " in folded]
    # A phrase ("white noise") already counts its words once.
    phrases = [kw for kw in hits if " " in kw]
    return sorted(kw for kw in hits if " " in kw or not any(kw in p.split() for p in phrases))


# ---------------------------------------------------------------------------------------------
# generated names (word salad, random characters)

_DIGRAPHS = re.compile(r"tsch|sch|ch|sh|th|ph|ck|ng|gh|qu|wh|rh|sz|cz|zh|kh|dj|gn|ll|ss")
_VOWELS = frozenset("aeiouy")
_DOUBLED_LETTER = re.compile(r"(.)\1")
_REPEATED_LETTER = re.compile(r"(.)\1{%d,}" % (c.SALAD_REPEATED_CHAR - 1))  # noqa: UP031


def _consonant_run(word: str) -> int:
    longest = run = 0
    for ch in _DIGRAPHS.sub("C", word):
        if ch in _VOWELS:
            run = 0
        else:
            run += 1
            longest = max(longest, run)
    return longest


def _case_switches(token: str) -> int:
    """Upper/lower switches that CamelCase ("McClelland", "DubSetMedia") does not explain."""
    letters = [ch for ch in token if ch.isalpha()]
    switches = 0
    for i in range(1, len(letters)):
        if letters[i].isupper() != letters[i - 1].isupper():
            # Upper followed by lower starts a CamelCase word: not a switch.
            camel = letters[i - 1].isupper() and letters[i].islower()
            if not camel:
                switches += 1
    return switches


def junk_token_reasons(token: str) -> list[str]:
    """Why one token looks machine-made (empty when it looks like a word or a name)."""
    reasons: list[str] = []
    alternations = sum(1 for a, b in itertools.pairwise(token) if a.isdigit() != b.isdigit())
    if alternations >= c.SALAD_DIGIT_ALTERNATIONS and any(ch.isalpha() for ch in token):
        reasons.append("letters and digits interleaved")
    if _case_switches(token) >= c.SALAD_CASE_SWITCHES:
        reasons.append("random capitalisation")
    word = _strip_accents(unicodedata.normalize("NFKC", token).casefold()).translate(_LETTER_FOLDS)
    letters = "".join(ch for ch in word if "a" <= ch <= "z")
    if len(letters) < c.SALAD_MIN_TOKEN_CHARS or len(letters) < sum(ch.isalpha() for ch in word):
        return reasons  # short, or not (only) Latin script: nothing more to judge
    if _REPEATED_LETTER.search(letters):
        reasons.append("one letter repeated")
    if _consonant_run(letters) > c.SALAD_MAX_CONSONANT_RUN:
        reasons.append("unpronounceable consonant run")
    vowels = sum(ch in _VOWELS for ch in letters)
    # Upper case is an acronym (MGMT); a doubled letter is a sound word (Brrr, Psst, Hmmm).
    if vowels == 0 and not token.isupper() and not _DOUBLED_LETTER.search(letters):
        reasons.append("no vowel")
    elif (
        len(letters) >= c.SALAD_VOWEL_SHARE_MIN_CHARS
        and vowels / len(letters) < c.SALAD_MIN_VOWEL_SHARE
    ):
        reasons.append("too few vowels")
    rare = [letters[i : i + 2] for i in range(len(letters) - 1)]
    rare = [b for b in rare if b in c.SALAD_RARE_BIGRAMS]
    if len(rare) >= c.SALAD_RARE_BIGRAM_HITS:
        reasons.append(f"rare letter pairs {' '.join(rare)}")
    return reasons


def generated_name_evidence(name: str) -> dict[str, Any] | None:
    """Evidence that a name is random characters, or None when it reads like a real name.

    Dictionary-free: per-token letter statistics (vowel share, consonant runs, letter pairs
    that no Latin-script language uses, random case, digits interleaved), so it works the
    same on names from any language. Combinations of real words are left to the bulk and
    template signals, because no letter statistic tells them from a real band name.
    """
    tokens = [t for t in re.split(r"[\s,/&+_.\-:;()\[\]\"']+", name) if t]
    total = sum(sum(ch.isalnum() for ch in t) for t in tokens)
    if total == 0:
        return None
    junk = {t: junk_token_reasons(t) for t in tokens}
    junk = {t: r for t, r in junk.items() if r}
    junk_letters = sum(sum(ch.isalnum() for ch in t) for t in junk)
    share = junk_letters / total
    if not junk or share < c.SALAD_JUNK_LETTER_SHARE:
        return None
    return {"junk_tokens": junk, "junk_share": round(share, 3)}


def generated_name_findings(
    names: Iterable[str], *, kind: str, location: str | None
) -> list[FindingSpec]:
    """``spam_generated_artist_name`` / ``spam_generated_title`` for random-looking names."""
    specs = []
    for name in dict.fromkeys(names):
        evidence = generated_name_evidence(name)
        if evidence is None:
            continue
        reasons = sorted({r for rs in evidence["junk_tokens"].values() for r in rs})
        specs.append(
            _spec(
                "warning",
                f"spam_generated_{kind}",
                f"{kind.replace('_', ' ')} {name!r} looks machine-generated ({'; '.join(reasons)})",
                location,
                name=name,
                **evidence,
            )
        )
    return specs


# ---------------------------------------------------------------------------------------------
# duration gaming


def _recordings(message: ddex.Message) -> dict[str, ddex.SoundRecording]:
    return _per_message(
        message, "recordings", lambda: {s.reference: s for s in message.sound_recordings}
    )


def _is_ringtone(recording: ddex.SoundRecording, release: ddex.Release | None) -> bool:
    kinds = " ".join(k for k in (recording.type, release.type if release else None) if k)
    return any(marker in kinds.casefold() for marker in c.RINGTONE_MARKERS)


def _near_threshold(duration: float | None) -> bool:
    return duration is not None and c.ROYALTY_THRESHOLD_S <= duration <= c.NEAR_THRESHOLD_MAX_S


def duration_findings(
    recording: ddex.SoundRecording, release: ddex.Release | None, message: ddex.Message
) -> list[FindingSpec]:
    """Tracks cut just over 30 s, releases made of them, and functional noise under 2 min."""
    duration = recording.duration_s
    if duration is None or _is_ringtone(recording, release):
        return []
    location = _loc(recording)
    specs: list[FindingSpec] = []
    siblings = [
        s
        for ref in (release.track_references if release else ())
        if (s := _recordings(message).get(ref)) is not None
    ] or [recording]
    near = [s for s in siblings if _near_threshold(s.duration_s)]
    mostly = (
        len(siblings) >= c.RELEASE_NEAR_THRESHOLD_MIN_TRACKS
        and len(near) / len(siblings) > c.RELEASE_NEAR_THRESHOLD_SHARE
    )
    if _near_threshold(duration):
        alone = len(siblings) == 1
        severity = "warning" if alone or mostly else "info"
        specs.append(
            _spec(
                severity,
                "spam_duration_near_30s",
                f"track lasts {duration:.0f} s, just over the {c.ROYALTY_THRESHOLD_S:.0f}-s "
                "royalty threshold" + (" (the only track of its release)" if alone else ""),
                location,
                duration_s=duration,
                release_tracks=len(siblings),
                release_tracks_near_30s=len(near),
            )
        )
    if mostly:
        specs.append(
            _spec(
                "warning",
                "spam_release_mostly_near_30s",
                f"{len(near)} of the release's {len(siblings)} tracks last "
                f"{c.ROYALTY_THRESHOLD_S:.0f}-{c.NEAR_THRESHOLD_MAX_S:.0f} s",
                _loc(release),
                release_tracks=len(siblings),
                release_tracks_near_30s=len(near),
                durations_s=[s.duration_s for s in siblings],
            )
        )
    keywords = functional_keywords(
        recording.title, recording.display_artist, release.title if release else None
    )
    if duration < c.FUNCTIONAL_MIN_DURATION_S and len(keywords) >= c.FUNCTIONAL_MIN_HITS:
        specs.append(
            _spec(
                "warning",
                "spam_functional_short",
                f"functional audio ({', '.join(keywords)}) lasting {duration:.0f} s, under the "
                f"{c.FUNCTIONAL_MIN_DURATION_S:.0f} s such tracks need",
                location,
                duration_s=duration,
                keywords=keywords,
            )
        )
    return specs


# ---------------------------------------------------------------------------------------------
# identifiers


def _periodic_digits(digits: str, max_period: int) -> bool:
    n = len(digits)
    return any(
        (digits[:period] * (n // period + 1))[:n] == digits
        for period in range(1, min(max_period, n - 1) + 1)
    )


def _sequential(digits: str) -> bool:
    if len(digits) < c.PLACEHOLDER_MIN_SEQUENCE:
        return False
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(digits)}
    return steps in ({1}, {9})


def placeholder_reason(
    digits: str, *, check_digit: bool = False, max_period: int = c.PLACEHOLDER_MAX_PERIOD
) -> str | None:
    """Why a run of digits looks made up (repeated pattern, counting sequence), or None.

    With ``check_digit`` the last digit may break the pattern (UPC/EAN 123123123125);
    ``max_period`` 1 accepts only one digit repeated (short codes repeat by chance).
    """
    if not digits.isdigit():
        return None
    for candidate in (digits, digits[:-1]) if check_digit else (digits,):
        if len(set(candidate)) == 1:
            return f"one digit repeated ({candidate[0]})"
        if max_period > 1 and _periodic_digits(candidate, max_period):
            return "a short pattern repeated"
        if _sequential(candidate):
            return "a counting sequence"
    return None


def identifier_findings(
    recording: ddex.SoundRecording,
    release: ddex.Release | None,
    message: ddex.Message,
    context: CatalogContext,
) -> list[FindingSpec]:
    """Malformed or placeholder ISRCs, placeholder UPCs, ISRC/ICPN reuse across the catalog."""
    specs: list[FindingSpec] = []
    location = _loc(recording)
    if recording.isrc:
        check = check_isrc(recording.isrc)
        if not check.ok:
            specs.append(
                _spec(
                    "info",
                    "spam_isrc_malformed",
                    f"ISRC {recording.isrc!r} is not a valid ISRC ({check.detail})",
                    location,
                    isrc=recording.isrc,
                    status=check.status,
                )
            )
        value = check.value or ""
        digits = value[ISRC_YEAR_START:]  # year + designation code
        reason = (
            placeholder_reason(digits, max_period=1) if len(digits) == ISRC_BODY_DIGITS else None
        )
        if reason is None and value[ISRC_DESIGNATION_START:] == c.ISRC_PLACEHOLDER_DESIGNATION:
            reason = "designation code 00000"
        if reason:
            specs.append(
                _spec(
                    "warning",
                    "spam_isrc_placeholder",
                    f"ISRC {recording.isrc} looks like a placeholder: {reason}",
                    location,
                    isrc=recording.isrc,
                    reason=reason,
                )
            )
    specs.extend(_isrc_reuse(recording, context, location))
    if release is not None and release.ids.icpn:
        specs.extend(_icpn_findings(release, message, context))
    return specs


def _isrc_reuse(
    recording: ddex.SoundRecording, context: CatalogContext, location: str | None
) -> list[FindingSpec]:
    specs: list[FindingSpec] = []
    other_audio = [
        u
        for u in context.isrc_uses
        if (context.asset_sha256 and u.asset_sha256 and u.asset_sha256 != context.asset_sha256)
        or (
            not (context.asset_sha256 and u.asset_sha256)
            and context.declared_hash
            and u.declared_hash
            and u.declared_hash.lower() != context.declared_hash.lower()
        )
    ]
    if other_audio:
        specs.append(
            _spec(
                "warning",
                "spam_isrc_reused_different_audio",
                f"ISRC {recording.isrc} is already in the catalog with different audio",
                location,
                isrc=recording.isrc,
                other_track_ids=[u.track_id for u in other_audio],
                other_assets=sorted({u.asset_sha256 or u.declared_hash or "" for u in other_audio}),
                this_asset=context.asset_sha256 or context.declared_hash,
            )
        )
    other_senders = sorted(
        {u.sender for u in context.isrc_uses if u.sender and u.sender != context.sender}
    )
    if other_senders and context.sender:
        specs.append(
            _spec(
                "warning",
                "spam_isrc_reused_other_sender",
                f"ISRC {recording.isrc} is already in the catalog from another sender",
                location,
                isrc=recording.isrc,
                sender=context.sender,
                other_senders=other_senders,
            )
        )
    return specs


def _icpn_findings(
    release: ddex.Release, message: ddex.Message, context: CatalogContext
) -> list[FindingSpec]:
    icpn = release.ids.icpn or ""
    location = _loc(release)
    specs: list[FindingSpec] = []
    reason = placeholder_reason(icpn.strip(), check_digit=True)
    if reason:
        specs.append(
            _spec(
                "warning",
                "spam_upc_placeholder",
                f"release UPC/EAN {icpn} looks like a placeholder: {reason}",
                location,
                icpn=icpn,
                reason=reason,
            )
        )
    in_message = [
        r.reference for r in message.releases if r.ids.icpn and r.ids.icpn.strip() == icpn.strip()
    ]
    others = [u for u in context.icpn_uses if u.icpn.strip() == icpn.strip()]
    if len(in_message) > 1 or others:
        senders = sorted({u.sender for u in others if u.sender})
        where = []
        if len(in_message) > 1:
            where.append(f"{len(in_message)} releases of this message")
        if others:
            where.append("other releases in the catalog")
        specs.append(
            _spec(
                "warning",
                "spam_icpn_reused",
                f"UPC/EAN {icpn} is used by {' and '.join(where)}",
                location,
                icpn=icpn,
                releases_in_message=in_message,
                other_release_ids=[u.release_id for u in others],
                other_senders=senders,
                other_titles=[u.title for u in others if u.title],
            )
        )
    return specs


# ---------------------------------------------------------------------------------------------
# AI disclosure


def declared_contains_ai(
    recording: ddex.SoundRecording, release: ddex.Release | None = None
) -> str | None:
    """The track's ContainsAI, else its release's, else "Partly"/"All" if a contributor is AI."""
    if recording.ai.contains_ai is not None:
        return recording.ai.contains_ai
    contributions = {
        x.effective_ai_contribution for x in (*recording.ai.contributions, *recording.contributors)
    }
    for value in ("All", "Partly"):
        if value in contributions:
            return value
    return release.contains_ai if release is not None else None


def undeclared_synthetic_finding(
    declared: str | None,
    synthetic_score: float,
    *,
    threshold: float = c.AI_UNDECLARED_SYNTHETIC_THRESHOLD,
    location: str | None = None,
) -> FindingSpec | None:
    """``ai_undeclared_synthetic``: ContainsAI None or absent, yet the model says synthetic."""
    if synthetic_score < threshold or declared not in (None, AI_NONE):
        return None
    said = "declares ContainsAI=None" if declared == AI_NONE else "declares nothing about AI"
    return _spec(
        "warning",
        "ai_undeclared_synthetic",
        # The score itself goes to the evidence: the message (and so the finding's identity)
        # must not change when a rescan moves the score a little.
        f"the message {said}, but the synthetic-audio model scores it above {threshold:.2f}",
        location,
        declared_contains_ai=declared,
        synthetic_score=synthetic_score,
        threshold=threshold,
    )


def ai_disclosure_findings(
    recording: ddex.SoundRecording,
    release: ddex.Release | None,
    synthetic_score: float | None,
    *,
    threshold: float = c.AI_UNDECLARED_SYNTHETIC_THRESHOLD,
) -> list[FindingSpec]:
    """What the track declares about AI, and the mismatch with the synthetic model's score.

    A track declared fully AI-generated is noted (info) so the policy can keep it out of
    recommendations, as platforms do with honest AI disclosures.
    """
    declared = declared_contains_ai(recording, release)
    specs = []
    if declared == AI_ALL:
        specs.append(
            _spec(
                "info",
                "ai_declared_generated",
                "the message declares the recording fully AI-generated (ContainsAI=All)",
                _loc(recording),
                declared_contains_ai=declared,
            )
        )
    if synthetic_score is None:
        return specs
    spec = undeclared_synthetic_finding(
        declared,
        synthetic_score,
        threshold=threshold,
        location=_loc(recording),
    )
    return [*specs, spec] if spec else specs


# ---------------------------------------------------------------------------------------------
# sender velocity and bulk templates


def velocity_findings(context: CatalogContext) -> list[FindingSpec]:
    """Tracks per day from one sender above named thresholds, or far above its own history.

    Messages name the threshold, not the live count (that goes to the evidence), so the same
    observation keeps the same finding key while the counts move on a rescan.
    """
    specs: list[FindingSpec] = []
    day = context.sender_tracks_24h
    earlier_days = c.SENDER_HISTORY_DAYS - 1
    mean = max(context.sender_tracks_30d - day, 0) / earlier_days
    evidence = {
        "sender": context.sender,
        "tracks_24h": day,
        "tracks_30d": context.sender_tracks_30d,
        "daily_mean_before": round(mean, 2),
    }
    if day >= c.SENDER_TRACKS_24H_INFO:
        severity = "warning" if day >= c.SENDER_TRACKS_24H_WARNING else "info"
        limit = c.SENDER_TRACKS_24H_WARNING if severity == "warning" else c.SENDER_TRACKS_24H_INFO
        specs.append(
            _spec(
                severity,
                "spam_sender_velocity",
                f"sender {context.sender} delivered {limit} or more new tracks in 24 h",
                None,
                threshold=limit,
                **evidence,
            )
        )
    if day >= c.SENDER_SPIKE_MIN_TRACKS_24H and day >= c.SENDER_SPIKE_RATIO * max(mean, 1.0):
        specs.append(
            _spec(
                "warning",
                "spam_sender_velocity_spike",
                f"sender {context.sender} delivered {c.SENDER_SPIKE_RATIO:.0f}x or more its "
                f"daily mean of the previous {earlier_days} days in 24 h (counts in evidence)",
                None,
                ratio_threshold=c.SENDER_SPIKE_RATIO,
                **evidence,
            )
        )
    return specs


_TEMPLATE_DIGITS = re.compile(r"\d+")


def title_template(title: str) -> str:
    """A title with its numbers masked: "Rain Sounds 12" and "rain sounds 7" share one."""
    return _TEMPLATE_DIGITS.sub("#", fold(title))


def template_findings(recording: ddex.SoundRecording, message: ddex.Message) -> list[FindingSpec]:
    """Bulk titles from one template within a delivery ("Sleep Rain 1" … "Sleep Rain 200")."""
    if not recording.title:
        return []
    counts: Counter[str] = _per_message(
        message,
        "templates",
        lambda: Counter(title_template(t.title) for t in message.tracks if t.title),
    )
    titles = sum(counts.values())
    mine = title_template(recording.title)
    same = counts[mine]
    if same < c.TEMPLATE_MIN_TRACKS or same / titles < c.TEMPLATE_MIN_SHARE:
        return []
    return [
        _spec(
            "warning",
            "spam_bulk_template_titles",
            f"{same} of the delivery's {titles} tracks share the title template {mine!r}",
            _loc(recording),
            template=mine,
            tracks=same,
            delivery_tracks=titles,
        )
    ]


# ---------------------------------------------------------------------------------------------
# entry point


_MEMO: dict[tuple[int, str], tuple[ddex.Message, Any]] = {}
_MEMO_SIZE = 64


def _per_message(message: ddex.Message, key: str, compute: Callable[[], Any]) -> Any:
    """Whole-message facts computed once for all its tracks, not once per track.

    Keyed by object identity (messages are large and frozen); the stored message is kept so
    the id cannot be reused while the entry lives.
    """
    slot = (id(message), key)
    hit = _MEMO.get(slot)
    if hit is not None and hit[0] is message:
        return hit[1]
    if len(_MEMO) >= _MEMO_SIZE:
        _MEMO.clear()
    value = compute()
    _MEMO[slot] = (message, value)
    return value


def _release_for(recording: ddex.SoundRecording, message: ddex.Message) -> ddex.Release | None:
    """The main release holding the track, else any release holding it."""
    holding = [r for r in message.releases if recording.reference in r.track_references]
    return next((r for r in holding if r.is_main), holding[0] if holding else None)


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
