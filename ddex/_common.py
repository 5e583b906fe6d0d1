"""Mapping pieces that ERN 3.x and 4.x share: header, ids, deals, durations, small helpers.

Only the root element of an ERN message is namespaced, so every lookup below uses plain
local names, which keeps the lxml ``find`` calls on their fast path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from lxml import etree

from ddex.model import (
    AI_VALUES,
    Deal,
    Finding,
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
    Severity,
    SoundRecording,
    Title,
)

SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 60 * SECONDS_PER_MINUTE
SECONDS_PER_DAY = 24 * SECONDS_PER_HOUR
ISO_DURATION_RE = re.compile(
    r"P(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?"
)
USER_DEFINED = "UserDefined"
TRUE_TEXTS = frozenset({"true", "1"})
FALSE_TEXTS = frozenset({"false", "0"})
WORLDWIDE = "Worldwide"


def parse_iso_duration(text: str) -> float | None:
    """Seconds in an ISO 8601 duration such as PT3M30S or PT0H8M7.5S; None if malformed."""
    match = ISO_DURATION_RE.fullmatch(text.strip())
    if match is None or not any(match.groupdict().values()) or text.strip().endswith("T"):
        return None
    parts = match.groupdict()
    return (
        float(parts["d"] or 0) * SECONDS_PER_DAY
        + float(parts["h"] or 0) * SECONDS_PER_HOUR
        + float(parts["m"] or 0) * SECONDS_PER_MINUTE
        + float(parts["s"] or 0)
    )


class MapContext:
    """Per-message state of a mapping: the source name and the findings noticed so far."""

    def __init__(self, source: str, version: str) -> None:
        self.source = source
        self.version = version
        self.findings: list[Finding] = []

    def add(self, severity: Severity, code: str, message: str, loc: Loc) -> None:
        self.findings.append(Finding(severity, code, message, loc))


def text(el: etree._Element | None, path: str) -> str | None:
    """Stripped text of the first match of ``path`` under ``el``; None when absent or empty."""
    if el is None:
        return None
    value = el.findtext(path)
    if value is None:
        return None
    value = value.strip()
    return value or None


def own_text(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    value = el.text.strip()
    return value or None


def typed_value(el: etree._Element | None) -> str | None:
    """An allowed-value element's value, taking UserDefinedValue when the text is UserDefined."""
    value = own_text(el)
    if value == USER_DEFINED and el is not None:
        return el.get("UserDefinedValue") or value
    return value


def typed_text(el: etree._Element | None, path: str) -> str | None:
    return typed_value(el.find(path)) if el is not None else None


def texts(el: etree._Element, path: str) -> tuple[str, ...]:
    """Stripped, non-empty texts of every match of ``path``, in document order."""
    out = []
    for child in el.iterfind(path):
        value = typed_value(child)
        if value:
            out.append(value)
    return tuple(out)


def elements(el: etree._Element) -> Iterator[etree._Element]:
    """Child elements only (comments and processing instructions skipped)."""
    return el.iterchildren(tag=etree.Element)


def sequence_number(el: etree._Element) -> int | None:
    """The SequenceNumber attribute as an int, None when absent or not a number."""
    raw = el.get("SequenceNumber")
    return int(raw) if raw and raw.isdigit() else None


def pick_default(candidates: Iterable[etree._Element]) -> etree._Element | None:
    """The IsDefault / Worldwide candidate among repeated elements, else the first one."""
    first = None
    for cand in candidates:
        if cand.get("IsDefault") == "true":
            return cand
        if first is None:
            first = cand
    return first


def pick_territory(candidates: list[etree._Element]) -> etree._Element | None:
    """ERN 3 ...DetailsByTerritory: the Worldwide block, else the first."""
    for cand in candidates:
        if cand.findtext("TerritoryCode") == WORLDWIDE:
            return cand
    return candidates[0] if candidates else None


def parse_bool(ctx: MapContext, el: etree._Element, name: str, loc: Loc) -> bool | None:
    child = el.find(name)
    value = own_text(child)
    if value is None:
        return None
    lowered = value.lower()
    if lowered in TRUE_TEXTS:
        return True
    if lowered in FALSE_TEXTS:
        return False
    line = child.sourceline if child is not None else None
    ctx.add(
        "warning", "invalid_boolean", f"{name} is {value!r}, not true/false", loc.child(name, line)
    )
    return None


def parse_duration(
    ctx: MapContext, el: etree._Element, loc: Loc
) -> tuple[float | None, str | None]:
    """Duration in seconds and the text it came from; malformed text becomes a finding."""
    child = el.find("Duration")
    raw = own_text(child)
    if raw is None:
        return None, None
    seconds = parse_iso_duration(raw)
    if seconds is None:
        line = child.sourceline if child is not None else None
        ctx.add(
            "warning",
            "invalid_duration",
            f"Duration {raw!r} is not an ISO 8601 duration such as PT3M30S",
            loc.child("Duration", line),
        )
    return seconds, raw


def check_ai_value(ctx: MapContext, value: str | None, name: str, loc: Loc) -> str | None:
    """ContainsAI / AiContribution must be All, Partly or None; anything else is reported."""
    if value is None or value in AI_VALUES:
        return value
    ctx.add("error", "ai_invalid_value", f"{name} is {value!r}; expected All, Partly or None", loc)
    return value


def party_ref(el: etree._Element | None) -> PartyRef:
    if el is None:
        return PartyRef(None, None)
    dpid = text(el, "PartyId")
    if dpid is None:
        dpid = text(el, "PartyId/DPID")
    return PartyRef(dpid, text(el, "PartyName/FullName"))


def map_header(root: etree._Element) -> MessageHeader:
    header = root.find("MessageHeader")
    if header is None:
        empty = PartyRef(None, None)
        return MessageHeader(None, None, empty, (), None, None, Loc(f"/{_local(root)}"))
    return MessageHeader(
        message_id=text(header, "MessageId"),
        thread_id=text(header, "MessageThreadId"),
        sender=party_ref(header.find("MessageSender")),
        recipients=tuple(party_ref(r) for r in header.iterfind("MessageRecipient")),
        created=text(header, "MessageCreatedDateTime"),
        control_type=text(header, "MessageControlType"),
        loc=Loc(f"/{_local(root)}/MessageHeader", header.sourceline),
    )


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def proprietary_ids(el: etree._Element | None) -> tuple[ProprietaryId, ...]:
    if el is None:
        return ()
    out = []
    for pid in el.iterfind("ProprietaryId"):
        value = own_text(pid)
        if value:
            out.append(ProprietaryId(pid.get("Namespace"), value))
    return tuple(out)


def release_ids(release: etree._Element) -> ReleaseIds:
    ids = release.find("ReleaseId")
    if ids is None:
        return ReleaseIds()
    return ReleaseIds(
        grid=text(ids, "GRid"),
        icpn=text(ids, "ICPN"),
        catalog_number=text(ids, "CatalogNumber"),
        isrc=text(ids, "ISRC"),
        proprietary=proprietary_ids(ids),
    )


def titles_3(el: etree._Element) -> list[Title]:
    """ERN 3 Title / ReferenceTitle blocks (TitleText, SubTitle, TitleType attribute)."""
    out = []
    for title in el.iterfind("Title"):
        value = text(title, "TitleText")
        if value:
            out.append(
                Title(
                    value,
                    title.get("TitleType"),
                    text(title, "SubTitle"),
                    title.get("LanguageAndScriptCode"),
                )
            )
    return out


def display_title_3(reference_title: str | None, titles: list[Title]) -> str | None:
    for wanted in ("DisplayTitle", "FormalTitle"):
        for title in titles:
            if title.title_type == wanted:
                return title.text
    return reference_title or (titles[0].text if titles else None)


def map_purged(root: etree._Element, root_path: str) -> tuple[PurgedRelease, ...]:
    out = []
    for index, purged in enumerate(root.iterfind("PurgedRelease"), start=1):
        titles = titles_3(purged)
        title = display_title_3(text(purged, "DisplayTitleText"), titles)
        out.append(
            PurgedRelease(
                release_ids(purged),
                title,
                Loc(f"{root_path}/PurgedRelease[{index}]", purged.sourceline),
            )
        )
    return tuple(out)


def map_deals(root: etree._Element, root_path: str) -> tuple[tuple[Deal, ...], bool]:
    """Every ReleaseDeal/Deal reduced to one ``Deal`` per DealTerms (both major versions).

    UseType sits in Usage in ERN 3 and directly in DealTerms in ERN 4; iterating descendants
    covers both, and CueUseType has a different tag so it is never picked up.
    """
    deal_list = root.find("DealList")
    if deal_list is None:
        return (), False
    deals: list[Deal] = []
    for rd_index, release_deal in enumerate(deal_list.iterfind("ReleaseDeal"), start=1):
        refs = texts(release_deal, "DealReleaseReference")
        for d_index, deal in enumerate(release_deal.iterfind("Deal"), start=1):
            loc = Loc(
                f"{root_path}/DealList/ReleaseDeal[{rd_index}]/Deal[{d_index}]", deal.sourceline
            )
            for terms in deal.iterfind("DealTerms"):
                deals.append(_deal(refs, terms, loc))
    return tuple(deals), True


def _deal(refs: tuple[str, ...], terms: etree._Element, loc: Loc) -> Deal:
    period = terms.find("ValidityPeriod")
    start = end = None
    if period is not None:
        start = text(period, "StartDate") or text(period, "StartDateTime")
        end = text(period, "EndDate") or text(period, "EndDateTime")
    uses = tuple(u for u in (typed_value(x) for x in terms.iter("UseType")) if u)
    takedown = (text(terms, "TakeDown") or "").lower() in TRUE_TEXTS
    return Deal(
        release_references=refs,
        territories=texts(terms, "TerritoryCode"),
        excluded_territories=texts(terms, "ExcludedTerritoryCode"),
        use_types=uses,
        commercial_model_types=texts(terms, "CommercialModelType"),
        start=start,
        end=end,
        takedown=takedown,
        loc=loc,
    )


def group_references(release: etree._Element, tag: str = "ReleaseResourceReference") -> list[str]:
    """References (``tag``) in a release's ResourceGroups, in document (play) order."""
    refs = []
    for group in release.iterfind("ResourceGroup"):
        for ref in group.iter(tag):
            value = own_text(ref)
            if value:
                refs.append(value)
    return refs


def linked_references(release: etree._Element) -> list[str]:
    """Resources a group links to without playing them (cover art, booklets)."""
    return group_references(release, "LinkedReleaseResourceReference")


def iter_list(
    root: etree._Element, list_name: str, root_path: str
) -> Iterator[tuple[etree._Element, Loc]]:
    """Child elements of ResourceList / ReleaseList with their indexed path and line."""
    container = root.find(list_name)
    if container is None:
        return
    counts: dict[str, int] = {}
    for el in elements(container):
        kind = el.tag
        counts[kind] = counts.get(kind, 0) + 1
        yield el, Loc(f"{root_path}/{list_name}/{kind}[{counts[kind]}]", el.sourceline)


def build_message(
    root: etree._Element,
    ctx: MapContext,
    *,
    namespace: str,
    message_type: str,
    parts: MessageParts,
) -> Message:
    """Assemble a Message from version-specific parts plus the version-neutral sections."""
    root_path = f"/{message_type}"
    deals, has_deal_list = map_deals(root, root_path)
    return Message(
        version=ctx.version,
        namespace=namespace,
        message_type=message_type,
        header=map_header(root),
        source=ctx.source,
        parties=parts.parties,
        sound_recordings=tuple(parts.recordings),
        other_resources=tuple(parts.others),
        releases=tuple(parts.releases),
        deals=deals,
        has_deal_list=has_deal_list,
        purged_releases=map_purged(root, root_path),
        update_indicator=text(root, "UpdateIndicator"),
        findings=tuple(ctx.findings),
    )


@dataclass(slots=True)
class MessageParts:
    """What a version-specific mapping contributes to a Message."""

    recordings: list[SoundRecording] = field(default_factory=list)
    others: list[Resource] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    parties: tuple[Party, ...] = ()


def unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))
