"""The JSON contract of ``integrity ddex inspect --json`` (issue 2); other tools depend on it.

Keys and shapes here change only together with the README's description of the contract.
Choices the issue leaves open: ``ids.proprietary`` is the first ProprietaryId value (or
null); ``releases`` lists NewReleaseMessage releases in message order (the main release of
ERN 4 first, as written) and, for a PurgeReleaseMessage, the purged releases; ``tracks`` are
``Message.tracks`` (audio SoundRecordings, not supplemental ones); each ``ai_contributions``
entry is {contributor, special_contributor, roles, ai_contribution}, the last being the
effective value (All for a GenerativeAI special contributor that states none).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ddex.model import Finding, Message, PurgedRelease, Release, ReleaseIds, SoundRecording


def _ids(ids: ReleaseIds) -> dict[str, str | None]:
    return {
        "grid": ids.grid,
        "icpn": ids.icpn,
        "catalog_number": ids.catalog_number,
        "proprietary": ids.proprietary[0].value if ids.proprietary else None,
    }


def _release(release: Release, isrcs: dict[str, str | None]) -> dict[str, Any]:
    return {
        "ids": _ids(release.ids),
        "title": release.title,
        "display_artist": release.display_artist,
        "type": release.type,
        "track_isrcs": [isrcs.get(ref) for ref in release.track_references],
    }


def _purged(purged: PurgedRelease) -> dict[str, Any]:
    return {
        "ids": _ids(purged.ids),
        "title": purged.title,
        "display_artist": None,
        "type": None,
        "track_isrcs": [],
    }


def _track(track: SoundRecording) -> dict[str, Any]:
    file = track.file
    hash_sum = file.hash if file is not None else None
    return {
        "reference": track.reference,
        "isrc": track.isrc,
        "title": track.title,
        "display_artist": track.display_artist,
        "duration_s": track.duration_s,
        "file": file.location if file is not None else None,
        "hash": (
            {"algorithm": hash_sum.algorithm, "value": hash_sum.value}
            if hash_sum is not None
            else None
        ),
        "contains_ai": track.ai.contains_ai,
        "ai_contributions": [
            {
                "contributor": c.name or c.party_reference,
                "special_contributor": c.special,
                "roles": list(c.roles),
                "ai_contribution": c.effective_ai_contribution,
            }
            for c in track.ai.contributions
        ],
    }


def finding_json(finding: Finding) -> dict[str, str]:
    return {
        "severity": finding.severity,
        "code": finding.code,
        "location": finding.location,
        "message": finding.message,
    }


def to_inspect_json(message: Message, findings: Iterable[Finding]) -> dict[str, Any]:
    """The inspect object: version, header, releases, tracks and the given findings."""
    isrcs = {t.reference: t.isrc for t in message.sound_recordings}
    releases = [_release(r, isrcs) for r in message.releases]
    releases.extend(_purged(p) for p in message.purged_releases)
    return {
        "version": message.version,
        "message_type": message.message_type,
        "message_id": message.header.message_id,
        "sender": {"dpid": message.header.sender.dpid, "name": message.header.sender.name},
        "control_type": message.header.control_type,
        "releases": releases,
        "tracks": [_track(t) for t in message.tracks],
        "findings": [finding_json(f) for f in findings],
    }
