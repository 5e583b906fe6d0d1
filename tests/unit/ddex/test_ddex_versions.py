"""Version detection from the root namespace, and the library's independence from integrity."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ddex

MINIMAL = (
    '<ern:{kind} xmlns:ern="http://ddex.net/xml/ern/{code}"><MessageHeader>'
    "<MessageId>M1</MessageId><MessageSender><PartyId>PADPIDA2013042401U</PartyId>"
    "</MessageSender></MessageHeader></ern:{kind}>"
)


@pytest.mark.parametrize(
    ("code", "version"),
    [
        ("381", "3.8.1"),
        ("382", "3.8.2"),
        ("383", "3.8.3"),
        ("341", "3.4.1"),
        ("35", "3.5"),
        ("41", "4.1"),
        ("411", "4.1.1"),
        ("42", "4.2"),
        ("43", "4.3"),
        ("431", "4.3.1"),
        ("432", "4.3.2"),
    ],
)
@pytest.mark.parametrize("kind", ["NewReleaseMessage", "PurgeReleaseMessage"])
def test_version_comes_from_the_namespace(code: str, version: str, kind: str) -> None:
    message = ddex.read_message(MINIMAL.format(kind=kind, code=code).encode())
    assert (message.version, message.message_type) == (version, kind)
    assert message.header.message_id == "M1"
    assert message.namespace == f"http://ddex.net/xml/ern/{code}"


def test_the_same_body_maps_the_same_in_3x_and_4x_for_shared_fields() -> None:
    v3 = ddex.read_message(MINIMAL.format(kind="NewReleaseMessage", code="382").encode())
    v4 = ddex.read_message(MINIMAL.format(kind="NewReleaseMessage", code="43").encode())
    assert v3.header.sender == v4.header.sender == ddex.PartyRef("PADPIDA2013042401U", None)


@pytest.mark.parametrize("code", ["113", "34", "40", "44", "382/extra", ""])
def test_unknown_versions_are_refused_not_guessed(code: str) -> None:
    with pytest.raises(ddex.ErnReadError, match="unsupported ERN version"):
        ddex.read_message(MINIMAL.format(kind="NewReleaseMessage", code=code).encode())


def test_default_namespace_children_are_read_with_a_warning(ern432) -> None:
    """Some senders write xmlns="...ern/43" so children become qualified, against the schema."""
    prefixed = ern432()
    data = prefixed.replace(b"<ern:NewReleaseMessage xmlns:ern=", b"<NewReleaseMessage xmlns=")
    data = data.replace(b"</ern:NewReleaseMessage>", b"</NewReleaseMessage>")
    message, findings = ddex.inspect(data)
    assert [t.isrc for t in message.tracks] == [t.isrc for t in ddex.read_message(prefixed).tracks]
    assert message.header.message_id == "M1"
    assert [f.code for f in findings] == ["qualified_child_elements"]


def test_wrong_namespace_for_the_body_is_flagged(ern432) -> None:
    message = ddex.read_message(ern432(namespace="http://ddex.net/xml/ern/382"))
    assert message.version == "3.8.2"
    assert "structure_version_mismatch" in {f.code for f in message.findings}


def test_schema_version_attribute_disagreeing_with_namespace() -> None:
    data = MINIMAL.format(kind="NewReleaseMessage", code="43").replace(
        "<ern:NewReleaseMessage ", '<ern:NewReleaseMessage MessageSchemaVersionId="ern/382" '
    )
    findings = ddex.read_message(data.encode()).findings
    assert "schema_version_mismatch" in {f.code for f in findings}
    agreeing = data.replace('"ern/382"', '"/ern/43"')
    assert "schema_version_mismatch" not in {
        f.code for f in ddex.read_message(agreeing.encode()).findings
    }


def test_ddex_does_not_import_integrity() -> None:
    code = (
        "import sys, ddex, ddex.validate, ddex.xsd, ddex.contract; "
        "print([m for m in sys.modules if m.split('.')[0] == 'integrity'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
