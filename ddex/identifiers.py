"""Checks for the identifiers ERN messages carry: ISRC, UPC/EAN (ICPN), GRid and DPID.

Each check returns an ``IdCheck`` rather than raising, because a bad identifier is a fact
about a delivery to report, and because even DDEX's own samples carry bad check digits.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

IdStatus = Literal["ok", "normalised", "bad_format", "bad_country", "bad_check_digit"]

ISRC_COUNTRY_LENGTH = 2
"""Characters of the ISRC country prefix (CC of CC-XXX-YY-NNNNN)."""
ISRC_RE = re.compile(r"[A-Z]{2}[A-Z0-9]{3}[0-9]{7}")
ISRC_LOOSE_RE = re.compile(r"(?:ISRC[\s:]*)?([A-Z]{2})-?([A-Z0-9]{3})-?([0-9]{2})-?([0-9]{5})")

_ISO_3166_ALPHA2_TEXT = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
    BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ
    DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP
    GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG
    KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML
    MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE
    PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL
    SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM
    US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
ISO_3166_ALPHA2 = frozenset(_ISO_3166_ALPHA2_TEXT.split())
"""ISO 3166-1 alpha-2 country codes."""

_ISRC_EXTRA_TEXT = "UK QM QN QT QZ ZZ CP DG FX CS YU CB GX ZB"
ISRC_EXTRA_PREFIXES = frozenset(_ISRC_EXTRA_TEXT.split())
"""ISRC prefixes outside ISO 3166-1 that agencies use: UK (British agency), QM/QN/QT/QZ
(extra US and other ranges), ZZ (International ISRC Agency), CP/DG (exceptionally reserved),
FX, CS, YU (historic registrations) and agency-allocated CB, GX, ZB."""

ISRC_PREFIXES = ISO_3166_ALPHA2 | ISRC_EXTRA_PREFIXES

GTIN_LENGTHS = frozenset({8, 12, 13, 14})
"""Digits in a GS1 GTIN: EAN-8, UPC-A, EAN-13, GTIN-14 (ICPN is a UPC or an EAN)."""
GTIN_ODD_WEIGHT = 3
GTIN_MODULUS = 10

GRID_LENGTH = 18
GRID_RE = re.compile(r"A1[0-9A-Z]{5}[0-9A-Z]{10}[0-9A-Z]")
GRID_MODULUS = 36
"""ISO 7064 Mod 37,36 works over the 36 characters 0-9 and A-Z."""
GRID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MOD37_36_FACTOR = 2
"""The hybrid system's doubling step (ISO 7064, clause on Mod 37,36)."""

DPID_RE = re.compile(r"PADPIDA[0-9A-Z]{10}[0-9A-Z]")
"""DDEX Party ID: PADPIDA, then 10 characters, then an ISO 7064 Mod 37,36 check character."""


class IdCheck(NamedTuple):
    """The outcome of one identifier check; ``value`` is the normalised form when known."""

    status: IdStatus
    value: str | None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "normalised")


def check_isrc(raw: str) -> IdCheck:
    """ISRC: CC XXX YY NNNNN, CC a country prefix; hyphenated or lower-case forms normalise."""
    text = raw.strip()
    if ISRC_RE.fullmatch(text):
        return _isrc_country(text, IdCheck("ok", text))
    loose = ISRC_LOOSE_RE.fullmatch(text.upper())
    if loose is None:
        return IdCheck("bad_format", None, "expected CC-XXX-YY-NNNNN (12 characters)")
    value = "".join(loose.groups())
    return _isrc_country(
        value, IdCheck("normalised", value, f"written as {text!r}; the ISRC is {value}")
    )


def _isrc_country(value: str, passed: IdCheck) -> IdCheck:
    country = value[:ISRC_COUNTRY_LENGTH]
    if country not in ISRC_PREFIXES:
        return IdCheck("bad_country", value, f"unknown country prefix {country!r}")
    return passed


def gs1_check_digit(body: str) -> int:
    """GS1 mod-10 check digit for the digits before it (weights 3,1,3... from the right)."""
    total = 0
    for position, char in enumerate(reversed(body)):
        weight = GTIN_ODD_WEIGHT if position % 2 == 0 else 1
        total += int(char) * weight
    return (GTIN_MODULUS - total % GTIN_MODULUS) % GTIN_MODULUS


def check_gtin(raw: str) -> IdCheck:
    """UPC/EAN (an ICPN): 8, 12, 13 or 14 digits with a GS1 mod-10 check digit."""
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) not in GTIN_LENGTHS:
        return IdCheck("bad_format", None, "expected 8, 12, 13 or 14 digits")
    expected = gs1_check_digit(text[:-1])
    if int(text[-1]) != expected:
        return IdCheck("bad_check_digit", text, f"check digit should be {expected}")
    return IdCheck("ok", text)


def mod37_36_check_char(body: str) -> str:
    """ISO 7064 Mod 37,36 (hybrid system) check character for ``body`` (0-9, A-Z)."""
    product = GRID_MODULUS
    for char in body:
        total = (product + GRID_ALPHABET.index(char)) % GRID_MODULUS
        total = total or GRID_MODULUS
        product = (total * MOD37_36_FACTOR) % (GRID_MODULUS + 1)
    return GRID_ALPHABET[(GRID_MODULUS + 1 - product) % GRID_MODULUS]


def mod37_36_valid(code: str) -> bool:
    """True when the last character of ``code`` is its ISO 7064 Mod 37,36 check character."""
    return mod37_36_check_char(code[:-1]) == code[-1]


def check_grid(raw: str) -> IdCheck:
    """GRid: A1 + 5-character issuer + 10-character release number + check character."""
    text = raw.strip().replace("-", "").upper()
    if len(text) != GRID_LENGTH or not GRID_RE.fullmatch(text):
        return IdCheck("bad_format", None, "expected A1 + 16 characters (18 in all)")
    if not mod37_36_valid(text):
        return IdCheck(
            "bad_check_digit", text, f"check character should be {mod37_36_check_char(text[:-1])}"
        )
    return IdCheck("ok", text)


def check_dpid(raw: str) -> IdCheck:
    """DPID: PADPIDA + 10 characters + an ISO 7064 Mod 37,36 check character."""
    text = raw.strip()
    if not DPID_RE.fullmatch(text):
        return IdCheck("bad_format", None, "expected PADPIDA + 11 characters")
    if not mod37_36_valid(text):
        return IdCheck(
            "bad_check_digit", text, f"check character should be {mod37_36_check_char(text[:-1])}"
        )
    return IdCheck("ok", text)
