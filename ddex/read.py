"""Safe parsing, version detection from the root namespace, and dispatch to a mapping.

Untrusted XML is refused before it can cost anything: the size is capped before parsing,
any DOCTYPE is refused (no DTD, no entities, so no XXE and no entity expansion), the network
is never touched, and nesting depth is capped: libxml2 itself stops at 256 levels during the
parse (huge_tree is off), and a tighter ReadLimits.max_depth is checked afterwards by one
compiled XPath evaluated in C.
"""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from functools import lru_cache
from os import PathLike
from pathlib import Path

from lxml import etree

from ddex import ern3, ern4
from ddex.errors import ErnReadError
from ddex.limits import DEFAULT_LIMITS, LIBXML2_MAX_DEPTH, PROLOG_SCAN_BYTES, ReadLimits
from ddex.model import NEW_RELEASE_MESSAGE, PURGE_RELEASE_MESSAGE, Finding, Loc, Message

ERN_NAMESPACE_PREFIX = "http://ddex.net/xml/ern/"
VERSIONS: dict[str, str] = {
    "341": "3.4.1",
    "35": "3.5",
    "351": "3.5.1",
    "36": "3.6",
    "37": "3.7",
    "371": "3.7.1",
    "38": "3.8",
    "381": "3.8.1",
    "382": "3.8.2",
    "383": "3.8.3",
    "41": "4.1",
    "411": "4.1.1",
    "42": "4.2",
    "43": "4.3",
    "431": "4.3.1",
    "432": "4.3.2",
}
"""Namespace suffix -> version. 3.8.x and 4.x are mapped in full; 3.4.1-3.7.1 share 3.8's
paths for everything the model holds and are read with an info finding."""
CURRENT_3X = (3, 8)
XPATH_CACHE_SIZE = 8
"""Compiled depth checks kept, one per distinct ReadLimits.max_depth in use."""
MESSAGE_TYPES = frozenset({NEW_RELEASE_MESSAGE, PURGE_RELEASE_MESSAGE})
DOCTYPE_RE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
LIBXML_DEPTH_ERROR = "Excessive depth"
UNDEFINED_PREFIX_ERROR = "Namespace prefix"

_local = threading.local()


def _parser() -> etree.XMLParser:
    """One hardened parser per thread (lxml parsers must not be shared across threads)."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
            dtd_validation=False,
            remove_comments=False,
        )
        _local.parser = parser
    return parser


@lru_cache(maxsize=XPATH_CACHE_SIZE)
def _too_deep(max_depth: int) -> etree.XPath:
    """XPath true when any element sits deeper than ``max_depth`` (evaluated in C)."""
    return etree.XPath("boolean(" + "/*" * (max_depth + 1) + ")")


def parse_xml(data: bytes, *, source: str, limits: ReadLimits) -> etree._Element:
    """Parse untrusted bytes into an element tree, or raise ErnReadError with the reason."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"ERN data must be bytes, not {type(data).__name__}")
    size = len(data)
    if size > limits.max_bytes:
        raise ErnReadError(
            f"message is {size} bytes, over the {limits.max_bytes}-byte limit", source=source
        )
    if DOCTYPE_RE.search(bytes(data[:PROLOG_SCAN_BYTES])):
        raise ErnReadError("DOCTYPE declarations are refused (no DTDs or entities)", source=source)
    try:
        root = etree.fromstring(bytes(data), _parser())
    except etree.XMLSyntaxError as exc:
        raise ErnReadError(_syntax_reason(exc), source=source, line=exc.lineno) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise ErnReadError("DOCTYPE declarations are refused (no DTDs or entities)", source=source)
    if limits.max_depth < LIBXML2_MAX_DEPTH and _too_deep(limits.max_depth)(root):
        raise ErnReadError(
            f"elements nest deeper than the {limits.max_depth}-level limit", source=source
        )
    return root


def _syntax_reason(exc: etree.XMLSyntaxError) -> str:
    message = str(exc.msg or exc)
    if LIBXML_DEPTH_ERROR in message:
        return f"elements nest deeper than the {LIBXML2_MAX_DEPTH}-level limit"
    if UNDEFINED_PREFIX_ERROR in message:
        return f"missing namespace declaration, so the ERN version is unknown: {message}"
    return f"not well-formed XML: {message}"


def detect_version(root: etree._Element, *, source: str) -> tuple[str, str, str]:
    """(version, namespace, message type) from the root element, never guessed."""
    qname = etree.QName(root)
    namespace, local = qname.namespace, qname.localname
    if not namespace:
        raise ErnReadError(
            f"root element {local} has no namespace, so the ERN version is unknown",
            source=source,
            line=root.sourceline,
        )
    if not namespace.startswith(ERN_NAMESPACE_PREFIX):
        raise ErnReadError(
            f"root namespace {namespace!r} is not an ERN namespace",
            source=source,
            line=root.sourceline,
        )
    code = namespace[len(ERN_NAMESPACE_PREFIX) :].strip("/")
    version = VERSIONS.get(code)
    if version is None:
        supported = ", ".join(VERSIONS.values())
        raise ErnReadError(
            f"unsupported ERN version {code!r} ({namespace}); supported: {supported}",
            source=source,
            line=root.sourceline,
        )
    if local not in MESSAGE_TYPES:
        raise ErnReadError(
            f"{local} is not an ERN release message (expected NewReleaseMessage or "
            "PurgeReleaseMessage)",
            source=source,
            line=root.sourceline,
        )
    return version, namespace, local


def read_message(
    data: bytes, *, source: str = "<bytes>", limits: ReadLimits | None = None
) -> Message:
    """Parse an ERN message; ``Message.findings`` holds what the mapping noticed.

    Raises ErnReadError when the bytes are not a readable ERN message.
    """
    root = parse_xml(data, source=source, limits=limits or DEFAULT_LIMITS)
    version, namespace, message_type = detect_version(root, source=source)
    notes: list[Finding] = []
    root_loc = Loc(f"/{message_type}", root.sourceline)
    if _children_qualified(root):
        _unqualify(root)
        notes.append(
            Finding(
                "warning",
                "qualified_child_elements",
                "child elements are in the ERN namespace (a default xmlns); the schema wants "
                "them unqualified. Read anyway by local name",
                root_loc,
            )
        )
    notes.extend(_version_consistency(root, version, message_type, root_loc))
    major_minor = tuple(int(p) for p in version.split(".")[:2])
    if major_minor[0] == CURRENT_3X[0] and major_minor < CURRENT_3X:
        notes.append(
            Finding(
                "info",
                "legacy_version",
                f"ERN {version} is read with the 3.8 mapping (the paths the model uses agree)",
                root_loc,
            )
        )
    mapper = ern3.map_message if version.startswith("3.") else ern4.map_message
    message = mapper(
        root, version=version, namespace=namespace, message_type=message_type, source=source
    )
    if notes:
        message = replace(message, findings=(*notes, *message.findings))
    return message


def _version_consistency(
    root: etree._Element, version: str, message_type: str, loc: Loc
) -> list[Finding]:
    """The namespace decides the version; say so when the message itself disagrees.

    A wrong namespace for the declared version is a real delivery fault: the attribute
    MessageSchemaVersionId names another version, or the body has the other major's shape
    (ERN 4 names parties once in a PartyList; ERN 3 has none).
    """
    out = []
    declared = root.get("MessageSchemaVersionId")
    code = version.replace(".", "")
    if declared:
        declared_code = declared.strip().strip("/").removeprefix("ern/").replace(".", "")
        if declared_code != code:
            out.append(
                Finding(
                    "warning",
                    "schema_version_mismatch",
                    f"MessageSchemaVersionId says {declared!r} but the namespace is ERN "
                    f"{version}; read as {version}",
                    loc,
                )
            )
    if message_type == NEW_RELEASE_MESSAGE:
        has_party_list = next(root.iterchildren("PartyList"), None) is not None
        if has_party_list != version.startswith("4."):
            shape = "an ERN 4 PartyList" if has_party_list else "no PartyList (ERN 3 shape)"
            out.append(
                Finding(
                    "warning",
                    "structure_version_mismatch",
                    f"the namespace says ERN {version} but the message has {shape}",
                    loc,
                )
            )
    return out


def _children_qualified(root: etree._Element) -> bool:
    """True when the first child element carries a namespace (ERN children have none)."""
    child = next(root.iterchildren(tag=etree.Element), None)
    return child is not None and str(child.tag).startswith("{")


def _unqualify(root: etree._Element) -> None:
    """Drop namespaces from every element below the root, so lookups by local name work."""
    for el in root.iterdescendants(tag=etree.Element):
        tag = el.tag
        if isinstance(tag, str) and tag.startswith("{"):
            el.tag = tag.split("}", 1)[1]


def read_file(path: str | PathLike[str], *, limits: ReadLimits | None = None) -> Message:
    """Read an ERN file; the size is checked before the file is read."""
    limits = limits or DEFAULT_LIMITS
    file_path = Path(path)
    source = str(file_path)
    try:
        size = file_path.stat().st_size
        if size > limits.max_bytes:
            raise ErnReadError(
                f"file is {size} bytes, over the {limits.max_bytes}-byte limit", source=source
            )
        with file_path.open("rb") as handle:
            data = handle.read(limits.max_bytes + 1)
    except OSError as exc:
        raise ErnReadError(f"cannot read file: {exc.strerror or exc}", source=source) from None
    return read_message(data, source=source, limits=limits)
