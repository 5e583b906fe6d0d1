"""Optional XSD validation against a local schema directory, never the network.

The 3.8.2 schema imports ``http://ddex.net/xml/avs/avs.xsd`` by URL; a Resolver maps any
http(s) schema URL onto a file of the same name in the local directory, and the parser
refuses the network outright, so validation works offline and cannot be steered elsewhere.
Compiling a DDEX schema takes a second or more, so compiled schemas are cached per file.
"""

from __future__ import annotations

import threading
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from lxml import etree

from ddex.errors import ErnReadError
from ddex.limits import DEFAULT_LIMITS, ReadLimits
from ddex.model import Finding, Loc
from ddex.read import parse_xml

if TYPE_CHECKING:
    from lxml.etree._docloader import _InputDocument  # the stubs' opaque resolver result

SCHEMA_FILE = "release-notification.xsd"
MAX_SCHEMA_FINDINGS = 50
"""Schema errors reported per message (more adds noise, not information)."""
REMOTE_SCHEMES = frozenset({"http", "https"})

_cache: dict[Path, etree.XMLSchema] = {}
_lock = threading.Lock()


class LocalSchemaResolver(etree.Resolver):
    """Resolve remote schema URLs to same-named files in the local schema folders."""

    def __init__(self, search_dirs: list[Path]) -> None:
        super().__init__()
        self.search_dirs = search_dirs

    def resolve(
        self, system_url: str | None, public_id: str | None, context: object
    ) -> _InputDocument | None:
        if system_url is None:
            return None
        parsed = urlparse(system_url)
        if parsed.scheme not in REMOTE_SCHEMES:
            return None
        name = PurePosixPath(parsed.path).name
        for folder in self.search_dirs:
            candidate = folder / name
            if candidate.is_file():
                return self.resolve_filename(str(candidate), context)
        raise ErnReadError(
            f"schema import {system_url} has no local copy named {name}",
            source=str(self.search_dirs[0]),
        )


def schema_path(xsd_dir: Path, version: str) -> Path | None:
    """The release-notification schema for ``version`` under ``xsd_dir`` (ernNNN/ or flat)."""
    code = version.replace(".", "")
    for candidate in (xsd_dir / f"ern{code}" / SCHEMA_FILE, xsd_dir / SCHEMA_FILE):
        if candidate.is_file():
            return candidate
    return None


def load_schema(path: Path, *, xsd_dir: Path) -> etree.XMLSchema:
    """Compile (once per process) the schema at ``path``, resolving imports locally."""
    path = path.resolve()
    with _lock:
        cached = _cache.get(path)
        if cached is not None:
            return cached
        parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
        parser.resolvers.add(LocalSchemaResolver([path.parent, xsd_dir.resolve()]))
        schema = etree.XMLSchema(etree.parse(str(path), parser))
        _cache[path] = schema
        return schema


def validate_xsd(
    data: bytes,
    *,
    xsd_dir: Path,
    version: str,
    source: str = "<bytes>",
    limits: ReadLimits | None = None,
) -> list[Finding]:
    """Schema findings for ``data`` against the ``version`` schema found in ``xsd_dir``.

    Raises ErnReadError when ``data`` is not readable XML (same hardening as read_message).
    """
    path = schema_path(Path(xsd_dir), version)
    if path is None:
        return [
            Finding(
                "warning",
                "xsd_not_available",
                f"no {SCHEMA_FILE} for ERN {version} under {xsd_dir}",
                Loc(str(xsd_dir)),
            )
        ]
    root = parse_xml(data, source=source, limits=limits or DEFAULT_LIMITS)
    schema = load_schema(path, xsd_dir=Path(xsd_dir))
    if schema.validate(root.getroottree()):
        return []
    findings = []
    errors = list(schema.error_log)
    for entry in errors[:MAX_SCHEMA_FINDINGS]:
        findings.append(
            Finding("error", "xsd_invalid", entry.message, Loc(entry.path or "", entry.line))
        )
    if len(errors) > MAX_SCHEMA_FINDINGS:
        findings.append(
            Finding(
                "info",
                "xsd_findings_truncated",
                f"{len(errors) - MAX_SCHEMA_FINDINGS} more schema errors not shown",
                Loc(""),
            )
        )
    return findings
