"""What an uploader may see of its own track: its decisions and public reasons, nothing more.

Moderators and admins see a track in full (`review.track_detail`). An uploader gets the same
document with what is not its own taken out, so a distributor can never learn another sender's
catalog or the moderation team's internals through its own tracks:
- findings that point at other catalog entries (duplicates, a reused ISRC or UPC) say "a track
  already in the catalog" instead of that track's id, title, artist, ISRC, sender or asset;
- moderator notes and moderator identities are replaced by the role that acted;
- audit evidence (finding lists, claimed tracks, internal ids) is left out of the history.
The document keeps its keys and their types, so one response schema describes both views.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from integrity.db.service_models import Sender
from integrity.service import review, security

OTHER_TRACK = "a track already in the catalog"
OTHER_RELEASE = "a release already in the catalog"

# How an upload relates to the catalog copy it matched, without naming that copy.
MATCH_EVIDENCE = frozenset(
    {"identical_file", "time_scale", "pitch_semitones", "matched_s", "query_offset_s"}
    | {"false_match_rate", "score"}
)
OWN_ISRC, OWN_ICPN = frozenset({"isrc"}), frozenset({"icpn", "releases_in_message"})
# Codes whose message and evidence describe another catalog entry → the public message, and the
# evidence keys that are about the uploader's own upload (for duplicates, "isrc" is the other's).
CATALOG_REFERENCES: dict[str, tuple[str, frozenset[str]]] = {
    "duplicate_audio": (f"the same recording as {OTHER_TRACK}", MATCH_EVIDENCE),
    "duplicate_audio_identical": (f"the same audio file as {OTHER_TRACK}", MATCH_EVIDENCE),
    "isrc_claimed_by_other_sender": (f"the ISRC is already claimed by {OTHER_TRACK}", OWN_ISRC),
    "spam_isrc_reused_other_sender": (f"the ISRC is already used by {OTHER_TRACK}", OWN_ISRC),
    "spam_isrc_reused_different_audio": (
        f"the ISRC is already used by {OTHER_TRACK} with different audio",
        OWN_ISRC,
    ),
    "spam_icpn_reused": (f"the UPC/EAN is already used by {OTHER_RELEASE}", OWN_ICPN),
}
# Never shown to an uploader in any finding's evidence, whatever its code.
PRIVATE_EVIDENCE_PREFIXES = ("other_", "claimed_by_")
PRIVATE_EVIDENCE_KEYS = frozenset({"sender", "sender_dpid", "track_id", "asset_sha256", "meta"})


def public_evidence(code: str, evidence: dict[str, Any]) -> dict[str, Any]:
    """The part of a finding's evidence that is about the uploader's own track only."""
    if not isinstance(evidence, dict):
        return {}
    if code in CATALOG_REFERENCES:
        public = CATALOG_REFERENCES[code][1]
        kept = {k: v for k, v in evidence.items() if k in public}
        return kept | {"other": OTHER_RELEASE if public is OWN_ICPN else OTHER_TRACK}
    return {
        k: v
        for k, v in evidence.items()
        if k not in PRIVATE_EVIDENCE_KEYS and not k.startswith(PRIVATE_EVIDENCE_PREFIXES)
    }


def public_finding(finding: dict[str, Any]) -> dict[str, Any]:
    """A finding as its uploader sees it."""
    code = str(finding.get("code", ""))
    message = CATALOG_REFERENCES[code][0] if code in CATALOG_REFERENCES else finding.get("message")
    evidence = public_evidence(code, finding.get("evidence") or {})
    return finding | {"message": message, "evidence": evidence}


def public_event(event: dict[str, Any]) -> dict[str, Any]:
    """An audit event of the uploader's track: what happened and why, not who or their notes."""
    return event | {"actor": event.get("role"), "note": None, "evidence": {}}


def uploader_track_detail(session: Session, *, track_id: int, sender: Sender) -> dict[str, Any]:
    """`review.track_detail` for the sender's own track (404 for anyone else's), disclosed."""
    review.own_track(session, track_id=track_id, sender=sender)
    detail = review.track_detail(session, track_id=track_id)
    findings = [public_finding(f) for f in detail["findings"]]
    moderation = detail["moderation"]
    if moderation is not None:
        moderation = moderation | {"actor": security.ROLE_MODERATOR}
    return detail | {
        "moderation": moderation,
        "findings": findings,
        "duplicates": [f["evidence"] for f in findings if f["code"].startswith("duplicate")],
        "history": [public_event(event) for event in detail["history"]],
    }
