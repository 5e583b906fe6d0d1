"""ISRC, UPC/EAN (GS1 mod-10), GRid and DPID (ISO 7064 Mod 37,36) with known values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ddex import parse_iso_duration
from ddex.identifiers import (
    GRID_ALPHABET,
    check_dpid,
    check_grid,
    check_gtin,
    check_isrc,
    gs1_check_digit,
    mod37_36_check_char,
)

ALNUM = st.sampled_from(GRID_ALPHABET)


@pytest.mark.parametrize(
    "isrc",
    [
        "USRC17607839",
        "GBAYC1700598",
        "JPTO09404900",
        "QZABC2500001",
        "UKAAA0000001",
        "ZZXYZ2412345",
        "CPABC2400001",
        "DGABC2400001",
    ],
)
def test_isrc_known_good(isrc: str) -> None:
    assert check_isrc(isrc).status == "ok"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("US-RC1-76-07839", "normalised"),
        ("usrc17607839", "normalised"),
        ("ISRC US-RC1-76-07839", "normalised"),
        ("XX1234567890", "bad_country"),
        ("USRC1760783", "bad_format"),
        ("USRC176078399", "bad_format"),
        ("US_RC17607839", "bad_format"),
        ("1SRC17607839", "bad_format"),
        ("", "bad_format"),
    ],
)
def test_isrc_known_bad_or_loose(raw: str, status: str) -> None:
    assert check_isrc(raw).status == status


def test_hyphenated_isrc_normalises_to_twelve_characters() -> None:
    assert check_isrc("US-RC1-76-07839").value == "USRC17607839"


@pytest.mark.parametrize(
    "gtin",
    [
        "00094631432057",
        "04988006110809",
        "190295810726",
        "036000291452",
        "4006381333931",
        "96385074",
    ],
)
def test_gtin_known_good(gtin: str) -> None:
    assert check_gtin(gtin).status == "ok"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("123123123123", "bad_check_digit"),
        ("036000291453", "bad_check_digit"),
        ("12345", "bad_format"),
        ("03600029145X", "bad_format"),
        ("０３６０００２９１４５２", "bad_format"),
    ],
)
def test_gtin_known_bad(raw: str, status: str) -> None:
    assert check_gtin(raw).status == status


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_gtin_with_computed_check_digit_is_valid(body: str) -> None:
    assert check_gtin(body + str(gs1_check_digit(body))).ok


@given(st.text(alphabet="0123456789", min_size=12, max_size=12), st.integers(1, 9))
def test_gtin_single_digit_error_is_caught(body: str, shift: int) -> None:
    good = body + str(gs1_check_digit(body))
    bad = str((int(good[0]) + shift) % 10) + good[1:]
    assert check_gtin(bad).status == "bad_check_digit"


def test_grid_known_good_and_bad() -> None:
    assert check_grid("A12425GABC1234002M").status == "ok"  # the GRid handbook's example
    assert check_grid("A1-2425G-ABC1234002-M").status == "ok"
    assert check_grid("A1UCASE0000000401X").status == "bad_check_digit"  # a DDEX sample's
    assert check_grid("B12425GABC1234002M").status == "bad_format"
    assert check_grid("A12425GABC1234002").status == "bad_format"


@given(st.lists(ALNUM, min_size=16, max_size=16).map("".join))
def test_grid_with_computed_check_char_is_valid(body: str) -> None:
    grid = "A1" + body[:15]
    assert check_grid(grid + mod37_36_check_char(grid)).ok


@given(st.lists(ALNUM, min_size=15, max_size=15).map("".join), st.integers(0, 16), ALNUM)
def test_mod37_36_catches_every_single_substitution(body: str, index: int, char: str) -> None:
    code = "A1" + body
    code += mod37_36_check_char(code)
    altered = code[:index] + char + code[index + 1 :]
    if altered != code:
        assert check_grid(altered).status in {"bad_check_digit", "bad_format"}


@pytest.mark.parametrize(
    "dpid", ["PADPIDA2013042401U", "PADPIDA2009101501Y", "PADPIDA2007062701B", "PADPIDA2007050901U"]
)
def test_dpid_known_good(dpid: str) -> None:
    assert check_dpid(dpid).status == "ok"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("PADPIDA2013042401V", "bad_check_digit"),
        ("DPID_OF_THE_SENDER", "bad_format"),
        ("PADPIDA2012999999", "bad_format"),
    ],
)
def test_dpid_known_bad(raw: str, status: str) -> None:
    assert check_dpid(raw).status == status


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT3M30S", 210.0),
        ("PT0H8M7S", 487.0),
        ("PT4M23.583S", 263.583),
        ("PT1H", 3600.0),
        ("P1DT1S", 86401.0),
        ("PT0S", 0.0),
    ],
)
def test_iso_durations(text: str, seconds: float) -> None:
    assert parse_iso_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["Invalid date", "", "P", "PT", "3:30", "PT3M30", "-PT1S"])
def test_invalid_iso_durations(text: str) -> None:
    assert parse_iso_duration(text) is None
