"""Hostile XML is refused quickly, with a clear reason, and never touches files or network.

The one-second bound is a security property (no input may stall a worker), not a
benchmark; the real figures are far lower.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

import ddex
from ddex.limits import BYTES_PER_MIB

REFUSAL_SECONDS = 1.0
NS = "http://ddex.net/xml/ern/43"
BIG_DOCUMENT_MIB = 50
NESTED_ELEMENTS = 10_000


def _refused(data: bytes, **kwargs: object) -> ddex.ErnReadError:
    started = time.perf_counter()
    with pytest.raises(ddex.ErnReadError) as caught:
        ddex.read_message(data, source="hostile.xml", **kwargs)
    assert time.perf_counter() - started < REFUSAL_SECONDS
    assert "hostile.xml" in str(caught.value)
    return caught.value


def _with_doctype(subset: str, body: str) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE ern:NewReleaseMessage [{subset}]>'
        f'<ern:NewReleaseMessage xmlns:ern="{NS}"><MessageHeader><MessageId>{body}'
        "</MessageId></MessageHeader></ern:NewReleaseMessage>"
    ).encode()


def test_external_entity_to_a_file_is_refused(tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    error = _refused(_with_doctype(f'<!ENTITY xxe SYSTEM "file://{secret}">', "&xxe;"))
    assert "DOCTYPE" in error.reason and "TOP-SECRET" not in str(error)


def test_external_entity_to_a_url_is_refused() -> None:
    error = _refused(_with_doctype('<!ENTITY xxe SYSTEM "http://127.0.0.1:9/x">', "&xxe;"))
    assert "DOCTYPE" in error.reason


def test_billion_laughs_is_refused() -> None:
    levels = ['<!ENTITY lol0 "lol">']
    levels += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    error = _refused(_with_doctype("".join(levels), "&lol9;"))
    assert "DOCTYPE" in error.reason


def test_doctype_after_a_long_comment_is_still_refused() -> None:
    """The pre-scan only reads the prolog; the parsed docinfo check catches the rest."""
    padding = "<!--" + "x" * (ddex.DEFAULT_LIMITS.max_bytes // 256) + "-->"
    data = b'<?xml version="1.0"?>' + padding.encode() + _with_doctype("", "x")[21:]
    assert "DOCTYPE" in _refused(data).reason


def test_a_50_mb_document_is_refused_before_parsing() -> None:
    head = f'<ern:NewReleaseMessage xmlns:ern="{NS}">'.encode()
    data = head + b" " * (BIG_DOCUMENT_MIB * BYTES_PER_MIB) + b"</ern:NewReleaseMessage>"
    error = _refused(data)
    assert "byte limit" in error.reason


def test_a_big_file_is_refused_before_reading(tmp_path) -> None:
    path = tmp_path / "big.xml"
    with path.open("wb") as handle:
        handle.truncate(BIG_DOCUMENT_MIB * BYTES_PER_MIB)
    started = time.perf_counter()
    with pytest.raises(ddex.ErnReadError, match="byte limit"):
        ddex.read_file(path)
    assert time.perf_counter() - started < REFUSAL_SECONDS


@pytest.mark.parametrize("depth", [NESTED_ELEMENTS, 300])
def test_deep_nesting_is_refused(depth: int) -> None:
    inner = "<x>" * depth + "</x>" * depth
    data = f'<ern:NewReleaseMessage xmlns:ern="{NS}">{inner}</ern:NewReleaseMessage>'.encode()
    error = _refused(data)
    assert "nest" in error.reason


def test_depth_limit_is_configurable() -> None:
    with pytest.raises(ValueError, match="libxml2"):
        ddex.ReadLimits(max_depth=1000)
    limits = ddex.ReadLimits(max_depth=2)
    deep = f'<ern:NewReleaseMessage xmlns:ern="{NS}"><a><b/></a></ern:NewReleaseMessage>'
    assert "2-level" in _refused(deep.encode(), limits=limits).reason
    shallow = f'<ern:NewReleaseMessage xmlns:ern="{NS}"><a/></ern:NewReleaseMessage>'
    assert ddex.read_message(shallow.encode(), limits=limits).version == "4.3"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not well-formed XML"),
        (b"this is not xml", "not well-formed XML"),
        (b"<NewReleaseMessage/>", "has no namespace"),
        (b'<x:NewReleaseMessage xmlns:x="http://example.com/ern/43"/>', "not an ERN namespace"),
        (b'<x:CatalogListMessage xmlns:x="http://ddex.net/xml/ern/43"/>', "not an ERN release"),
        (b'<x:NewReleaseMessage xmlns:x="http://ddex.net/xml/ern/44"/>', "unsupported ERN"),
    ],
)
def test_not_an_ern_message(data: bytes, reason: str) -> None:
    assert reason in _refused(data).reason


def test_wrong_input_type_is_a_type_error() -> None:
    read: Callable[..., object] = ddex.read_message
    with pytest.raises(TypeError):
        read("<xml/>")


def test_missing_file_is_an_ern_read_error(tmp_path) -> None:
    with pytest.raises(ddex.ErnReadError, match="cannot read file"):
        ddex.read_file(tmp_path / "absent.xml")
