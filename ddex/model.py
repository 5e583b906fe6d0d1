"""Typed, version-neutral, immutable records for ERN messages.

ERN 3.x and 4.x put the same facts in different places; the mappings in ``ern3`` and ``ern4``
reduce both to these records so that nothing downstream ever looks at XML paths. Every record
that can be the subject of a finding carries a ``Loc`` (element path and line).

``Message`` is a frozen dataclass. The records made in bulk (a Deal per territory and
commercial model, a Loc per element, recordings, releases, artists, titles) are
``typing.NamedTuple``: just as typed and immutable, but about six times cheaper to create
than a frozen dataclass, which the parse budget (within 4x of plain lxml) needs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Literal, NamedTuple

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}

AI_ALL = "All"
AI_PARTLY = "Partly"
AI_NONE = "None"
AI_VALUES = frozenset({AI_ALL, AI_PARTLY, AI_NONE})
GENERATIVE_AI = "GenerativeAI"
TEST_MESSAGE = "TestMessage"
NEW_RELEASE_MESSAGE = "NewReleaseMessage"
PURGE_RELEASE_MESSAGE = "PurgeReleaseMessage"
ISO_DATE_LENGTH = 10
"""Characters in an ISO 8601 calendar date (YYYY-MM-DD), used to compare date-times by day."""


class Loc(NamedTuple):
    """Where an element sits: a readable element path and its source line."""

    path: str
    line: int | None = None

    def child(self, name: str, line: int | None = None) -> Loc:
        return Loc(f"{self.path}/{name}", self.line if line is None else line)

    def __str__(self) -> str:
        return self.path if self.line is None else f"{self.path} (line {self.line})"


NO_LOC = Loc("")


class Finding(NamedTuple):
    """One validation result: data, not an exception, so a report can hold many."""

    severity: Severity
    code: str
    message: str
    loc: Loc = NO_LOC

    @property
    def location(self) -> str:
        return str(self.loc)

    @property
    def line(self) -> int | None:
        return self.loc.line


class PartyRef(NamedTuple):
    """A party named in the header: DDEX Party ID (DPID) and display name."""

    dpid: str | None
    name: str | None


class MessageHeader(NamedTuple):
    message_id: str | None
    thread_id: str | None
    sender: PartyRef
    recipients: tuple[PartyRef, ...]
    created: str | None
    control_type: str | None
    loc: Loc = NO_LOC

    @property
    def recipient(self) -> PartyRef | None:
        return self.recipients[0] if self.recipients else None

    @property
    def is_test_message(self) -> bool:
        """A TestMessage must never reach production state."""
        return self.control_type == TEST_MESSAGE


class ProprietaryId(NamedTuple):
    namespace: str | None
    value: str


class Party(NamedTuple):
    """An entry of the ERN 4 PartyList, referred to by ``reference`` (P...)."""

    reference: str
    name: str | None
    dpid: str | None = None
    isni: str | None = None
    proprietary_ids: tuple[ProprietaryId, ...] = ()
    loc: Loc = NO_LOC


class Title(NamedTuple):
    text: str
    title_type: str | None = None
    subtitle: str | None = None
    language: str | None = None


class Artist(NamedTuple):
    """A display artist: name (resolved through the PartyList in ERN 4) and roles."""

    name: str | None
    roles: tuple[str, ...] = ()
    party_reference: str | None = None
    sequence: int | None = None


class Contributor(NamedTuple):
    """A resource contributor; in ERN 4.3.1+ possibly a SpecialContributor (GenerativeAI)."""

    name: str | None
    roles: tuple[str, ...] = ()
    party_reference: str | None = None
    special: str | None = None
    ai_contribution: str | None = None
    indirect: bool = False
    sequence: int | None = None

    @property
    def is_generative_ai(self) -> bool:
        return self.special == GENERATIVE_AI

    @property
    def effective_ai_contribution(self) -> str | None:
        """AiContribution defaults to All for a GenerativeAI special contributor (schema rule)."""
        if self.ai_contribution is not None:
            return self.ai_contribution
        return AI_ALL if self.is_generative_ai else None


class AiDisclosure(NamedTuple):
    """What a resource or release declares about generative AI (ERN 4.3.1+)."""

    contains_ai: str | None = None
    contributions: tuple[Contributor, ...] = ()

    @property
    def declared(self) -> bool:
        return self.contains_ai is not None or bool(self.contributions)


NO_AI_DISCLOSURE = AiDisclosure()
"""Shared by every record that discloses nothing (ERN 3, most ERN 4): it is immutable."""


class HashSum(NamedTuple):
    algorithm: str | None
    value: str


class AudioFileRef(NamedTuple):
    """The delivered audio file: a URI (ERN 4) or a path and name (ERN 3), and its hash."""

    uri: str | None = None
    file_name: str | None = None
    file_path: str | None = None
    hash: HashSum | None = None

    @property
    def location(self) -> str | None:
        """The URI, or path joined with name, as the message states it."""
        if self.uri:
            return self.uri
        if self.file_name is None:
            return None
        if not self.file_path:
            return self.file_name
        sep = "" if self.file_path.endswith(("/", "\\")) else "/"
        return f"{self.file_path}{sep}{self.file_name}"


class SoundRecording(NamedTuple):
    reference: str
    type: str | None
    isrc: str | None
    title: str | None
    titles: tuple[Title, ...] = ()
    display_artist: str | None = None
    display_artists: tuple[Artist, ...] = ()
    contributors: tuple[Contributor, ...] = ()
    duration_s: float | None = None
    duration_text: str | None = None
    parental_warning: str | None = None
    file: AudioFileRef | None = None
    ai: AiDisclosure = NO_AI_DISCLOSURE
    has_vocal_performance: bool | None = None
    is_cover: bool | None = None
    is_instrumental: bool | None = None
    proprietary_ids: tuple[ProprietaryId, ...] = ()
    related_references: tuple[str, ...] = ()
    """Resources this one contains or draws on (e.g. the tracks of a DJ mix)."""
    is_supplemental: bool = False
    """Described for context only (IsSupplemental), not delivered as a track of its own."""
    loc: Loc = NO_LOC


class Resource(NamedTuple):
    """A non-audio resource (Image, Video, Text, MIDI...): kept for reference checks only."""

    reference: str
    kind: str
    type: str | None = None
    loc: Loc = NO_LOC


class ReleaseIds(NamedTuple):
    grid: str | None = None
    icpn: str | None = None
    catalog_number: str | None = None
    isrc: str | None = None
    proprietary: tuple[ProprietaryId, ...] = ()


class Release(NamedTuple):
    reference: str | None
    ids: ReleaseIds
    type: str | None
    title: str | None
    titles: tuple[Title, ...] = ()
    display_artist: str | None = None
    display_artists: tuple[Artist, ...] = ()
    label: str | None = None
    label_reference: str | None = None
    release_date: str | None = None
    original_release_date: str | None = None
    parental_warning: str | None = None
    genre: str | None = None
    resource_references: tuple[str, ...] = ()
    """Every resource the release refers to (tracks, images, videos), in message order."""
    primary_references: frozenset[str] = frozenset()
    """References marked PrimaryResource (ERN 3) or in the track list (ERN 4)."""
    track_references: tuple[str, ...] = ()
    """References of audio SoundRecordings, in play order."""
    is_main: bool = False
    is_compilation: bool | None = None
    contains_ai: str | None = None
    loc: Loc = NO_LOC


class Deal(NamedTuple):
    """One deal, flattened: which releases, where, for which uses, when, or a takedown."""

    release_references: tuple[str, ...]
    territories: tuple[str, ...] = ()
    excluded_territories: tuple[str, ...] = ()
    use_types: tuple[str, ...] = ()
    commercial_model_types: tuple[str, ...] = ()
    start: str | None = None
    end: str | None = None
    takedown: bool = False
    loc: Loc = NO_LOC

    def is_active(self, as_of: date) -> bool:
        """True when the deal makes the release available on ``as_of`` (ISO text compare)."""
        day = as_of.isoformat()
        if self.takedown:
            return False
        if self.start and self.start[:ISO_DATE_LENGTH] > day:
            return False
        return not (self.end and self.end[:ISO_DATE_LENGTH] < day)


AvailabilityReason = Literal["deal", "takedown", "expired", "not_started", "no_deal"]


class Availability(NamedTuple):
    """Whether a release may be offered in a territory for a use on a given day."""

    release_reference: str
    territory: str | None
    use_type: str | None
    available: bool
    reason: AvailabilityReason


class PurgedRelease(NamedTuple):
    ids: ReleaseIds
    title: str | None
    loc: Loc = NO_LOC


@dataclass(frozen=True, slots=True)
class Message:
    """A whole ERN message; ``findings`` holds what the mapping itself noticed."""

    version: str
    namespace: str
    message_type: str
    header: MessageHeader
    source: str = "<bytes>"
    parties: tuple[Party, ...] = ()
    sound_recordings: tuple[SoundRecording, ...] = ()
    other_resources: tuple[Resource, ...] = ()
    releases: tuple[Release, ...] = ()
    deals: tuple[Deal, ...] = ()
    has_deal_list: bool = False
    purged_releases: tuple[PurgedRelease, ...] = ()
    update_indicator: str | None = None
    findings: tuple[Finding, ...] = ()

    @property
    def major(self) -> int:
        return int(self.version.split(".", 1)[0])

    @property
    def is_test_message(self) -> bool:
        return self.header.is_test_message

    @property
    def tracks(self) -> tuple[SoundRecording, ...]:
        """The delivered audio tracks: SoundRecordings that are not merely supplemental.

        Videos and images are never tracks; supplemental recordings (the sources of a DJ
        mix, say) are described for context and carry no file of their own.
        """
        return tuple(s for s in self.sound_recordings if not s.is_supplemental)

    @property
    def main_release(self) -> Release | None:
        return next((r for r in self.releases if r.is_main), None)

    def sound_recording(self, reference: str) -> SoundRecording | None:
        return next((s for s in self.sound_recordings if s.reference == reference), None)

    def party(self, reference: str) -> Party | None:
        return next((p for p in self.parties if p.reference == reference), None)

    def deals_for(self, release_reference: str) -> Iterator[Deal]:
        return (d for d in self.deals if release_reference in d.release_references)

    def availability(self, *, as_of: date) -> list[Availability]:
        """Deals reduced to one row per release, territory and use on ``as_of``.

        ERN 3 signals takedowns with TakeDown=true; ERN 4 by withdrawing the deal or giving
        it a past EndDate. A release with no deal at all gets one ``no_deal`` row.
        """
        rows: list[Availability] = []
        by_release: dict[str, list[Deal]] = {}
        for deal in self.deals:
            for ref in deal.release_references:
                by_release.setdefault(ref, []).append(deal)
        for release in self.releases:
            ref = release.reference or ""
            deals = by_release.get(ref, [])
            if not deals:
                rows.append(Availability(ref, None, None, available=False, reason="no_deal"))
                continue
            for deal in deals:
                reason = _deal_reason(deal, as_of)
                for territory in deal.territories or (None,):
                    for use in deal.use_types or (None,):
                        rows.append(Availability(ref, territory, use, reason == "deal", reason))
        return rows


def _deal_reason(deal: Deal, as_of: date) -> AvailabilityReason:
    if deal.takedown:
        return "takedown"
    if deal.is_active(as_of):
        return "deal"
    day = as_of.isoformat()
    if deal.start and deal.start[:ISO_DATE_LENGTH] > day:
        return "not_started"
    return "expired"
