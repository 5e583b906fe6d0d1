"""Optional XSD validation against ../shared/ddex/xsd, with imported URLs resolved locally."""

from __future__ import annotations

import pytest
from lxml import etree

import ddex
from ddex.xsd import LocalSchemaResolver, schema_path
from tests.conftest import DDEX_SAMPLES_DIR, DDEX_XSD_DIR

ERN43_SAMPLES = sorted((DDEX_SAMPLES_DIR / "ern43").glob("*.xml"))


@pytest.mark.parametrize("path", ERN43_SAMPLES, ids=lambda p: p.name)
def test_43_samples_validate_against_the_43_schema(path) -> None:
    assert ddex.validate_xsd(path.read_bytes(), xsd_dir=DDEX_XSD_DIR, version="4.3") == []


def test_382_sample_validates_with_avs_resolved_locally() -> None:
    data = (DDEX_SAMPLES_DIR / "ern382" / "dedex_001_audioalbum_complete.xml").read_bytes()
    assert ddex.validate_xsd(data, xsd_dir=DDEX_XSD_DIR, version="3.8.2") == []


def test_resolver_maps_the_avs_url_to_the_local_file() -> None:
    resolver = LocalSchemaResolver([DDEX_XSD_DIR / "ern382"])
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(resolver)
    doc = etree.parse("http://ddex.net/xml/avs/avs.xsd", parser)
    assert doc.getroot().get("targetNamespace") == "http://ddex.net/xml/avs/avs"


def test_resolver_refuses_urls_without_a_local_copy() -> None:
    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(LocalSchemaResolver([DDEX_XSD_DIR / "ern382"]))
    with pytest.raises(ddex.ErnReadError, match="no local copy"):
        etree.parse("http://ddex.net/xml/elsewhere/unknown.xsd", parser)


def test_schema_invalid_edge_case_gives_schema_findings() -> None:
    data = (DDEX_SAMPLES_DIR / "edge-cases" / "005_not_valid_xsd.xml").read_bytes()
    findings = ddex.validate_xsd(data, xsd_dir=DDEX_XSD_DIR, version="3.8.2")
    assert [(f.severity, f.code) for f in findings] == [("error", "xsd_invalid")]
    assert "FakeTag" in findings[0].message
    assert findings[0].line == 31
    assert "SoundRecording[1]/FakeTag" in findings[0].location


def test_built_432_message_validates_against_the_432_schema(ern432) -> None:
    data = ern432(
        [
            {
                "contains_ai": "Partly",
                "contributors": [("GenerativeAI", "Composer", None)],
                "has_vocal": True,
                "is_cover": False,
            }
        ],
        release_contains_ai="Partly",
    )
    assert ddex.validate_xsd(data, xsd_dir=DDEX_XSD_DIR, version="4.3.2") == []


def test_missing_schema_is_a_finding_not_a_crash(tmp_path) -> None:
    data = (DDEX_SAMPLES_DIR / "ern42" / "1_Audio.xml").read_bytes()
    (finding,) = ddex.validate_xsd(data, xsd_dir=DDEX_XSD_DIR, version="4.2")
    assert finding.code == "xsd_not_available"
    assert schema_path(tmp_path, "4.3") is None


def test_unreadable_xml_is_an_ern_read_error() -> None:
    with pytest.raises(ddex.ErnReadError):
        ddex.validate_xsd(b"<broken", xsd_dir=DDEX_XSD_DIR, version="4.3")
