"""Text folding for name comparison: accents, confusable letters, leet, edit distance."""

from __future__ import annotations

import re
import unicodedata

from integrity.detection.metadata import constants as c

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


def normalise_id(value: str) -> str:
    """Identifiers compare without spaces, hyphens or case ("0000 0001 2345 6789")."""
    return re.sub(r"[^0-9A-Z]", "", value.upper())
