"""Stuffed titles and names (URLs, hashtags, handles, repeats) and generated word salad."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from integrity.detection.metadata import constants as c
from integrity.detection.metadata._common import _spec
from integrity.detection.metadata.artists import ProtectedArtists
from integrity.detection.metadata.text import _LETTER_FOLDS, _strip_accents, fold
from integrity.findings import FindingSpec

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
