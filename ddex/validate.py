"""Semantic rules over the model: every problem becomes a Finding, never an exception.

``validate(message)`` returns the mapping findings already on the message plus the rule
findings, sorted by severity and line, so one call gives the complete picture. Severities:
``error`` means the delivery cannot be ingested as stated (dangling references, a recording
without an ISRC, contradictory AI disclosure); ``warning`` means it can, but something is
wrong or suspicious (bad check digits, which even DDEX's samples have); ``info`` is context.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from ddex.identifiers import IdCheck, check_dpid, check_grid, check_gtin, check_isrc
from ddex.model import (
    AI_ALL,
    AI_NONE,
    AI_PARTLY,
    NEW_RELEASE_MESSAGE,
    SEVERITY_ORDER,
    Finding,
    HashSum,
    Loc,
    Message,
    Release,
    Resource,
    Severity,
    SoundRecording,
)

SINGLE_RESOURCE_RELEASE_TYPES = frozenset(
    {"TrackRelease", "SingleResourceRelease", "VideoTrackRelease", "RingtoneRelease"}
)
"""Release types that carry exactly one primary resource."""
FRONT_COVER = "FrontCoverImage"
IMAGE = "Image"
AUDIO_VISUAL_KINDS = frozenset({"Video", "MIDI"})
VARIOUS_ARTISTS = frozenset({"various artists", "various", "va"})
HASH_HEX_LENGTHS: dict[str, int] = {
    "MD5": 32,
    "SHA1": 40,
    "SHA-1": 40,
    "SHA256": 64,
    "SHA-256": 64,
    "SHA512": 128,
    "SHA-512": 128,
}
"""Hex digits in a hash value per algorithm."""
HEX_RE = re.compile(r"[0-9A-Fa-f]+")
AI_CLAIMS = frozenset({AI_ALL, AI_PARTLY})

Rule = Callable[[Message], Iterator[Finding]]


def _f(severity: Severity, code: str, message: str, loc: Loc) -> Finding:
    return Finding(severity, code, message, loc)


def _header(message: Message) -> Iterator[Finding]:
    header = message.header
    if header.is_test_message:
        yield _f(
            "warning",
            "test_message",
            "MessageControlType is TestMessage: never ingest into production state",
            header.loc.child("MessageControlType"),
        )
    if not header.message_id:
        yield _f("warning", "missing_message_id", "MessageId is empty", header.loc)
    dpid = header.sender.dpid
    if not dpid:
        yield _f("warning", "missing_sender_dpid", "MessageSender has no PartyId", header.loc)
        return
    yield from _id_findings(
        "dpid", "sender DPID", dpid, check_dpid, header.loc.child("MessageSender")
    )


def _id_findings(
    code: str, label: str, value: str, check: Callable[[str], IdCheck], loc: Loc
) -> Iterator[Finding]:
    """``{code}_invalid_format`` / ``{code}_bad_check_digit`` warnings for one identifier."""
    result = check(value)
    if result.status == "bad_format":
        message = f"{label} {value!r} is malformed: {result.detail}"
        yield _f("warning", f"{code}_invalid_format", message, loc)
    elif result.status == "bad_check_digit":
        yield _f("warning", f"{code}_bad_check_digit", f"{label} {value}: {result.detail}", loc)


def _isrc_findings(
    recording: SoundRecording, result: IdCheck | None, primary: bool
) -> Iterator[Finding]:
    loc = recording.loc.child("ISRC")
    if not recording.isrc or result is None:
        severity: Severity = "error" if primary else "warning"
        role = "a primary resource of a release" if primary else "a recording"
        if recording.is_supplemental:
            severity, role = "info", "supplemental, described for context"
        yield _f(
            severity,
            "missing_isrc",
            f"SoundRecording {recording.reference} ({role}) has no ISRC",
            loc,
        )
        return
    if result.status == "bad_format":
        yield _f(
            "error",
            "isrc_invalid_format",
            f"ISRC {recording.isrc!r} is malformed: {result.detail}",
            loc,
        )
    elif result.status == "bad_country":
        yield _f("warning", "isrc_unknown_country", f"ISRC {recording.isrc}: {result.detail}", loc)
    elif result.status == "normalised":
        yield _f("info", "isrc_not_normalised", f"ISRC {result.detail}", loc)


def _recordings(message: Message) -> Iterator[Finding]:
    primary: set[str] = set()
    for release in message.releases:
        primary.update(release.primary_references)
    checks = {r.reference: check_isrc(r.isrc) for r in message.sound_recordings if r.isrc}
    seen: Counter[str] = Counter(
        checks[r.reference].value or r.isrc for r in message.sound_recordings if r.isrc
    )
    for recording in message.sound_recordings:
        result = checks.get(recording.reference)
        yield from _isrc_findings(recording, result, recording.reference in primary)
        normal = result.value if result is not None else None
        if normal and seen[normal] > 1:
            yield _f(
                "warning",
                "duplicate_isrc",
                f"ISRC {normal} is used by {seen[normal]} SoundRecordings in this message",
                recording.loc.child("ISRC"),
            )
        if not recording.title:
            yield _f(
                "warning",
                "missing_title",
                f"SoundRecording {recording.reference} has no title",
                recording.loc,
            )
        if not recording.display_artist:
            yield _f(
                "warning",
                "missing_display_artist",
                f"SoundRecording {recording.reference} has no display artist",
                recording.loc,
            )
        if recording.file is None and not recording.is_supplemental:
            yield _f(
                "info",
                "missing_file_reference",
                f"SoundRecording {recording.reference} names no audio file",
                recording.loc,
            )
        elif recording.file is not None and recording.file.hash is not None:
            yield from _hash(recording, recording.file.hash)


def _hash(recording: SoundRecording, hash_sum: HashSum) -> Iterator[Finding]:
    algorithm = (hash_sum.algorithm or "").upper()
    expected = HASH_HEX_LENGTHS.get(algorithm)
    if expected is None:
        yield _f(
            "info",
            "hash_algorithm_unknown",
            f"hash algorithm {hash_sum.algorithm!r} cannot be checked",
            recording.loc.child("HashSum"),
        )
    elif len(hash_sum.value) != expected or not HEX_RE.fullmatch(hash_sum.value):
        yield _f(
            "warning",
            "hash_value_malformed",
            f"{algorithm} value {hash_sum.value!r} is not {expected} hex digits",
            recording.loc.child("HashSum"),
        )


def _release_ids(release: Release) -> Iterator[Finding]:
    ids = release.ids
    if ids.icpn:
        loc = release.loc.child("ReleaseId/ICPN")
        yield from _id_findings("icpn", "ICPN", ids.icpn, check_gtin, loc)
    if ids.grid:
        yield from _id_findings(
            "grid", "GRid", ids.grid, check_grid, release.loc.child("ReleaseId/GRid")
        )


def _releases(message: Message) -> Iterator[Finding]:
    if message.message_type != NEW_RELEASE_MESSAGE:
        return
    root = Loc(f"/{message.message_type}")
    if not message.releases:
        yield _f("error", "no_releases", "the message has no Release", root)
        return
    if message.main_release is None:
        yield _f(
            "warning",
            "no_main_release",
            "no release is marked as the main release (IsMainRelease / Release element)",
            root.child("ReleaseList"),
        )
    if not message.sound_recordings:
        audiovisual = any(r.kind in AUDIO_VISUAL_KINDS for r in message.other_resources)
        yield _f(
            "info" if audiovisual else "warning",
            "no_sound_recordings",
            "the message has no audio SoundRecording",
            root.child("ResourceList"),
        )
    known = {r.reference for r in message.sound_recordings}
    known.update(r.reference for r in message.other_resources)
    used: set[str] = set()
    for release in message.releases:
        yield from _release_ids(release)
        used.update(release.resource_references)
        for ref in release.resource_references:
            if ref not in known:
                yield _f(
                    "error",
                    "dangling_resource_reference",
                    f"release {release.reference} refers to resource {ref}, which the "
                    "ResourceList does not contain",
                    release.loc,
                )
        if not release.resource_references:
            yield _f(
                "error",
                "empty_release",
                f"release {release.reference} refers to no resource",
                release.loc,
            )
        primary = [r for r in release.primary_references if r in known]
        if release.type in SINGLE_RESOURCE_RELEASE_TYPES and len(primary) > 1:
            yield _f(
                "warning",
                "release_type_track_count_mismatch",
                f"release {release.reference} is a {release.type} but has "
                f"{len(primary)} primary resources",
                release.loc.child("ReleaseType"),
            )
    for recording in message.sound_recordings:
        if recording.reference in used:
            used.update(recording.related_references)
    resources: list[SoundRecording | Resource] = [
        *message.sound_recordings,
        *message.other_resources,
    ]
    for resource in resources:
        if resource.reference not in used:
            yield _f(
                "warning",
                "unused_resource",
                f"resource {resource.reference} is not used by any release",
                resource.loc,
            )
    covers = {
        r.reference for r in message.other_resources if r.kind == IMAGE and r.type == FRONT_COVER
    }
    if message.sound_recordings and not covers & used:
        yield _f(
            "warning",
            "no_front_cover_image",
            "no release refers to a FrontCoverImage",
            root.child("ResourceList"),
        )


def _names(release_or_track: Release | SoundRecording) -> set[str]:
    names = {a.name.casefold() for a in release_or_track.display_artists if a.name}
    if release_or_track.display_artist:
        names.add(release_or_track.display_artist.casefold())
    return names


def _artist_consistency(message: Message) -> Iterator[Finding]:
    """A track of a single-artist release should share a display artist with the release."""
    reported: set[tuple[str, str]] = set()
    tracks = {r.reference: r for r in message.sound_recordings}
    for release in message.releases:
        release_names = _names(release)
        if release.is_compilation or not release_names or release_names & VARIOUS_ARTISTS:
            continue
        for ref in release.track_references:
            track = tracks.get(ref)
            if track is None or (ref, release.display_artist or "") in reported:
                continue
            track_names = _names(track)
            if (
                track_names
                and not track_names & release_names
                and not any(r in t for r in release_names for t in track_names)
            ):
                reported.add((ref, release.display_artist or ""))
                yield _f(
                    "warning",
                    "display_artist_mismatch",
                    f"track {ref} is by {track.display_artist!r} but release "
                    f"{release.reference} is by {release.display_artist!r}",
                    track.loc,
                )


def _parties(message: Message) -> Iterator[Finding]:
    if message.major < 4:
        return
    known = {p.reference for p in message.parties}
    items: list[tuple[Loc, Iterable[str | None]]] = []
    for recording in message.sound_recordings:
        refs = [a.party_reference for a in recording.display_artists]
        refs += [c.party_reference for c in recording.contributors]
        items.append((recording.loc, refs))
    for release in message.releases:
        artist_refs = [a.party_reference for a in release.display_artists]
        items.append((release.loc, [*artist_refs, release.label_reference]))
    for loc, named in items:
        for ref in dict.fromkeys(named):
            if ref and ref not in known:
                yield _f(
                    "error",
                    "dangling_party_reference",
                    f"party reference {ref} is not in the PartyList",
                    loc,
                )


def _deals(message: Message) -> Iterator[Finding]:
    if message.message_type != NEW_RELEASE_MESSAGE or not message.releases:
        return
    root = Loc(f"/{message.message_type}")
    if not message.has_deal_list:
        yield _f(
            "warning",
            "missing_deal",
            "the message has no DealList, so no release may be made available",
            root,
        )
        return
    release_refs = {r.reference for r in message.releases}
    dealt: set[str] = set()
    for deal in message.deals:
        dealt.update(deal.release_references)
        for ref in deal.release_references:
            if ref not in release_refs:
                yield _f(
                    "error",
                    "dangling_deal_reference",
                    f"deal refers to release {ref}, which the ReleaseList lacks",
                    deal.loc,
                )
        if deal.takedown:
            yield _f(
                "info",
                "takedown",
                f"deal takes down release(s) {', '.join(deal.release_references)}",
                deal.loc,
            )
    for release in message.releases:
        if release.reference not in dealt:
            yield _f(
                "warning" if release.is_main else "info",
                "missing_deal",
                f"release {release.reference} has no deal, so it is not available",
                release.loc,
            )


def _ai_recording(recording: SoundRecording) -> Iterator[Finding]:
    contains = recording.ai.contains_ai
    for contributor in recording.contributors:
        who = contributor.name or contributor.party_reference or contributor.special or "?"
        effective = contributor.effective_ai_contribution
        if contains == AI_ALL and not contributor.is_generative_ai:
            yield _f(
                "error",
                "ai_all_with_human_contributor",
                f"{recording.reference} declares ContainsAI=All but lists contributor "
                f"{who!r}, who is not a GenerativeAI special contributor",
                recording.loc,
            )
        if contains == AI_NONE and effective in AI_CLAIMS:
            yield _f(
                "error",
                "ai_none_with_ai_contribution",
                f"{recording.reference} declares ContainsAI=None but contributor {who!r} "
                f"has AiContribution={effective}",
                recording.loc,
            )
        if contributor.ai_contribution == AI_ALL and not contributor.is_generative_ai:
            yield _f(
                "warning",
                "ai_contribution_all_by_non_ai_contributor",
                f"contributor {who!r} of {recording.reference} has AiContribution=All; "
                "only a GenerativeAI contributor can contribute All",
                recording.loc,
            )
    claims = [c for c in recording.ai.contributions if c.effective_ai_contribution in AI_CLAIMS]
    if contains is None and claims:
        yield _f(
            "warning",
            "ai_undeclared_contains_ai",
            f"{recording.reference} has AI contributions but no ContainsAI",
            recording.loc,
        )
    if contains == AI_ALL and not any(c.is_generative_ai for c in recording.contributors):
        yield _f(
            "info",
            "ai_all_without_generative_contributor",
            f"{recording.reference} declares ContainsAI=All but names no GenerativeAI contributor",
            recording.loc,
        )


def _ai(message: Message) -> Iterator[Finding]:
    for recording in message.sound_recordings:
        yield from _ai_recording(recording)
    tracks = {r.reference: r for r in message.sound_recordings}
    for release in message.releases:
        if release.contains_ai is None:
            continue
        for ref in release.track_references:
            track = tracks.get(ref)
            track_ai = track.ai.contains_ai if track is not None else None
            if track is None or track_ai is None:
                continue
            if release.contains_ai == AI_NONE and track_ai in AI_CLAIMS:
                yield _f(
                    "error",
                    "ai_release_track_mismatch",
                    f"release {release.reference} declares ContainsAI=None but track "
                    f"{ref} declares {track_ai}",
                    release.loc,
                )
            elif release.contains_ai == AI_ALL and track_ai != AI_ALL:
                yield _f(
                    "warning",
                    "ai_release_track_mismatch",
                    f"release {release.reference} declares ContainsAI=All but track "
                    f"{ref} declares {track_ai}",
                    release.loc,
                )
        claims = [
            t
            for t in (tracks.get(r) for r in release.track_references)
            if t is not None and t.ai.contains_ai in AI_CLAIMS
        ]
        if release.contains_ai == AI_PARTLY and not claims:
            yield _f(
                "info",
                "ai_partly_without_ai_track",
                f"release {release.reference} declares ContainsAI=Partly but no track "
                "declares AI content",
                release.loc,
            )


RULES: tuple[Rule, ...] = (
    _header,
    _recordings,
    _releases,
    _artist_consistency,
    _parties,
    _deals,
    _ai,
)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Errors first, then warnings, then info; within each, in source order."""
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.loc.line or 0))


def validate(message: Message) -> list[Finding]:
    """All findings for ``message``: those from the mapping plus every rule's."""
    findings = list(message.findings)
    for rule in RULES:
        findings.extend(rule(message))
    return sort_findings(findings)
