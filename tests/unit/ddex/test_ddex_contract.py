"""The inspect JSON contract of issue 2: exactly these keys, these types, JSON-serialisable."""

from __future__ import annotations

import json

import ddex
from tests.conftest import DDEX_SAMPLES_DIR, DDEX_XSD_DIR

TOP_KEYS = {
    "version",
    "message_type",
    "message_id",
    "sender",
    "control_type",
    "releases",
    "tracks",
    "findings",
}
RELEASE_KEYS = {"ids", "title", "display_artist", "type", "track_isrcs"}
ID_KEYS = {"grid", "icpn", "catalog_number", "proprietary"}
TRACK_KEYS = {
    "reference",
    "isrc",
    "title",
    "display_artist",
    "duration_s",
    "file",
    "hash",
    "contains_ai",
    "ai_contributions",
}
FINDING_KEYS = {"severity", "code", "location", "message"}


def test_contract_shape(ern432) -> None:
    data = ern432(
        [
            {"contains_ai": "Partly", "contributors": [("PArtist", "Composer", "Partly")]},
            {"ref": "A2", "isrc": None},
        ],
        release_contains_ai="Partly",
    )
    message, findings = ddex.inspect(data)
    document = json.loads(json.dumps(ddex.to_inspect_json(message, findings)))
    assert set(document) == TOP_KEYS
    assert document["version"] == "4.3.2"
    assert (document["message_type"], document["message_id"]) == ("NewReleaseMessage", "M1")
    assert document["sender"] == {"dpid": "PADPIDA2013042401U", "name": "Label Co"}
    assert document["control_type"] == "LiveMessage"
    (release,) = document["releases"]
    assert set(release) == RELEASE_KEYS and set(release["ids"]) == ID_KEYS
    assert release["track_isrcs"] == ["QZABC2500001", None]
    assert (release["title"], release["type"], release["display_artist"]) == (
        "The Album",
        "Album",
        "The Artist",
    )
    first, second = document["tracks"]
    assert set(first) == TRACK_KEYS
    assert first["hash"] == {"algorithm": "MD5", "value": "0123456789abcdef0123456789abcdef"}
    assert (first["file"], first["duration_s"], first["contains_ai"]) == (
        "audio/A1.flac",
        210.0,
        "Partly",
    )
    assert first["ai_contributions"][0]["ai_contribution"] == "Partly"
    assert second["isrc"] is None
    assert document["findings"]
    assert all(set(f) == FINDING_KEYS for f in document["findings"])
    codes = [f["code"] for f in document["findings"]]
    assert "missing_isrc" in codes
    assert all(c.isidentifier() and c == c.lower() for c in codes)


def test_every_emitted_code_is_listed(ern432) -> None:
    """Codes from every sample, every XSD failure and the AI rules are all in FINDING_CODES."""
    seen: set[str] = set()
    for path in sorted(DDEX_SAMPLES_DIR.glob("*/*.xml")):
        try:
            seen.update(f.code for f in ddex.inspect(path.read_bytes())[1])
        except ddex.ErnReadError:
            continue
    built = ern432(
        [
            {"ref": "A1", "contains_ai": "All", "contributors": [("PArtist", "Composer", "All")]},
            {
                "ref": "A2",
                "isrc": "QZ-ABC-25-00001",
                "contains_ai": "Bogus",
                "md5": "xyz",
                "duration": "Invalid date",
                "artist_ref": "PNobody",
            },
        ],
        release_contains_ai="None",
    )
    seen.update(f.code for f in ddex.inspect(built)[1])
    edge = (DDEX_SAMPLES_DIR / "edge-cases" / "005_not_valid_xsd.xml").read_bytes()
    seen.update(f.code for f in ddex.validate_xsd(edge, xsd_dir=DDEX_XSD_DIR, version="3.8.2"))
    assert len(seen) >= 25  # a floor: the test really exercises most rules
    assert seen <= set(ddex.FINDING_CODES)
    assert all(code.startswith("ai_") for code in seen if "ai" in code.split("_"))


def test_version_strings() -> None:
    assert {"3.8.2", "4.3", "4.3.2", "4.1.1"} <= set(ddex.SUPPORTED_VERSIONS)
