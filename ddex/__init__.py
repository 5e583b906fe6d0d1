"""ddex: read and validate DDEX ERN messages (standalone; never imports ``integrity``).

Reading and validating are two steps, because a message with problems is still a message:

* ``read_message(data, source=..., limits=...)`` / ``read_file(path)`` parse hardened XML,
  detect the version from the root namespace (ERN 3.8.x, older 3.x where the paths agree,
  4.1-4.3.2) and map it onto the frozen records of ``ddex.model``. They raise
  ``ErnReadError`` only when the input is not a readable ERN message (not XML, hostile XML,
  missing or unsupported namespace, not a release message). Problems seen while mapping
  (e.g. ``<Duration>Invalid date</Duration>``) are kept in ``Message.findings``.
* ``validate(message)`` returns every finding: the mapping's plus the semantic rules'
  (identifiers, references, deals, artists, AI disclosure), errors first.
* ``inspect(data)`` does both and returns ``(message, findings)``.
* ``validate_xsd(data, xsd_dir=..., version=...)`` adds optional schema findings, resolving
  imported schema URLs to local files.
* ``to_inspect_json(message, findings)`` is the JSON contract of ``integrity ddex inspect``.

Findings carry a stable snake_case ``code`` (all listed in ``FINDING_CODES``; AI-disclosure
codes start with ``ai_``), a severity (error / warning / info), a location (element path and
line) and a message.
"""

from __future__ import annotations

from ddex._common import parse_iso_duration
from ddex.codes import FINDING_CODES
from ddex.contract import to_inspect_json
from ddex.errors import ErnReadError
from ddex.limits import DEFAULT_LIMITS, ReadLimits
from ddex.model import (
    AiDisclosure,
    Artist,
    AudioFileRef,
    Availability,
    Contributor,
    Deal,
    Finding,
    HashSum,
    Loc,
    Message,
    MessageHeader,
    Party,
    PartyRef,
    ProprietaryId,
    PurgedRelease,
    Release,
    ReleaseIds,
    Resource,
    SoundRecording,
    Title,
)
from ddex.read import VERSIONS, read_file, read_message
from ddex.validate import validate
from ddex.xsd import validate_xsd


def inspect(
    data: bytes, *, source: str = "<bytes>", limits: ReadLimits | None = None
) -> tuple[Message, list[Finding]]:
    """Read and validate in one call; raises ErnReadError like ``read_message``."""
    message = read_message(data, source=source, limits=limits)
    return message, validate(message)


SUPPORTED_VERSIONS = tuple(VERSIONS.values())

__all__ = [
    "DEFAULT_LIMITS",
    "FINDING_CODES",
    "SUPPORTED_VERSIONS",
    "AiDisclosure",
    "Artist",
    "AudioFileRef",
    "Availability",
    "Contributor",
    "Deal",
    "ErnReadError",
    "Finding",
    "HashSum",
    "Loc",
    "Message",
    "MessageHeader",
    "Party",
    "PartyRef",
    "ProprietaryId",
    "PurgedRelease",
    "ReadLimits",
    "Release",
    "ReleaseIds",
    "Resource",
    "SoundRecording",
    "Title",
    "inspect",
    "parse_iso_duration",
    "read_file",
    "read_message",
    "to_inspect_json",
    "validate",
    "validate_xsd",
]
