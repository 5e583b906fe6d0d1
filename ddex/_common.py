"""Mapping pieces that ERN 3.x and 4.x share: header, ids, durations, lookups by tag.

Only the root element of an ERN message is namespaced, so children are looked up by plain
local names, grouped once per element (``kids``) rather than found path by path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from lxml import etree

from ddex._deals import map_deals
from ddex._text import FALSE_TEXTS, TRUE_TEXTS, own_text, typed_value
from ddex.model import (
    AI_VALUES,
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


Element = etree._Element
Kids = dict[str, list[Element]]
NO_KIDS: Kids = {}


def kids(el: Element | None) -> Kids:
    """An element's children grouped by tag, in one pass (the mapping's only tree access).

    lxml's ``find``/``findtext`` compile an ElementPath on every call, which dominated the
    mapping time; grouping each element's children once and answering every lookup from the
    dict keeps the whole mapping to a single walk over the parts of the tree it reads.
    Comments and processing instructions are left out.
    """
    if el is None:
        return NO_KIDS
    out: Kids = {}
    for child in el:
        tag = child.tag
        if not isinstance(tag, str):
            continue  # a comment or processing instruction (its tag is a factory function)
        same = out.get(tag)
        if same is None:
            out[tag] = [child]
        else:
            same.append(child)
    return out


def tag_of(el: Element) -> str:
    """An element's tag as text (lxml's types allow bytes and QName; parsed elements hold str)."""
    tag = el.tag
    return tag if isinstance(tag, str) else str(tag)


def first(k: Kids, tag: str) -> Element | None:
    found = k.get(tag)
    return found[0] if found else None


def sub(k: Kids, tag: str) -> Kids:
    """The children of the first ``tag`` child, grouped (empty when there is none)."""
    found = k.get(tag)
    return kids(found[0]) if found else NO_KIDS


def text(k: Kids, tag: str) -> str | None:
    """Stripped text of the first ``tag`` child; None when absent or empty."""
    found = k.get(tag)
    return own_text(found[0]) if found else None


def typed_text(k: Kids, tag: str) -> str | None:
    found = k.get(tag)
    return typed_value(found[0]) if found else None


def texts(k: Kids, tag: str) -> tuple[str, ...]:
    """Typed, non-empty values of every ``tag`` child, in document order."""
    out = []
    for child in k.get(tag, ()):
        value = typed_value(child)
        if value:
            out.append(value)
    return tuple(out)


def sequence_number(el: Element) -> int | None:
    """The SequenceNumber attribute as an int, None when absent or not a number."""
    raw = el.get("SequenceNumber")
    return int(raw) if raw and raw.isdigit() else None


def pick_default(candidates: Iterable[Element]) -> Element | None:
    """The IsDefault candidate among repeated elements, else the first one."""
    chosen = None
    for cand in candidates:
        if cand.get("IsDefault") == "true":
            return cand
        if chosen is None:
            chosen = cand
    return chosen


def pick_territory(candidates: list[Element]) -> Kids:
    """ERN 3 ...DetailsByTerritory: the Worldwide block, else the first (grouped)."""
    grouped = [kids(c) for c in candidates]
    for k in grouped:
        if text(k, "TerritoryCode") == WORLDWIDE:
            return k
    return grouped[0] if grouped else NO_KIDS


def parse_bool(ctx: MapContext, k: Kids, name: str, loc: Loc) -> bool | None:
    child = first(k, name)
    value = own_text(child)
    if value is None:
        return None
    lowered = value.lower()
    if lowered in TRUE_TEXTS:
        return True
    if lowered in FALSE_TEXTS:
        return False
    line = child.sourceline if child is not None else None
    message = f"{name} is {value!r}, not true/false"
    ctx.add("warning", "invalid_boolean", message, loc.child(name, line))
    return None


def parse_duration(ctx: MapContext, k: Kids, loc: Loc) -> tuple[float | None, str | None]:
    """Duration in seconds and the text it came from; malformed text becomes a finding."""
    child = first(k, "Duration")
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


def check_ai_value(ctx: MapContext, value: str, name: str, loc: Loc) -> None:
    """ContainsAI / AiContribution must be All, Partly or None; anything else is reported."""
    if value not in AI_VALUES:
        message = f"{name} is {value!r}; expected All, Partly or None"
        ctx.add("error", "ai_invalid_value", message, loc)


def party_ref(el: Element | None) -> PartyRef:
    k = kids(el)
    dpid = text(k, "PartyId") or text(sub(k, "PartyId"), "DPID")
    return PartyRef(dpid, text(sub(k, "PartyName"), "FullName"))


def map_header(root: Element, k: Kids) -> MessageHeader:
    header = first(k, "MessageHeader")
    root_name = etree.QName(root).localname
    if header is None:
        empty = PartyRef(None, None)
        return MessageHeader(None, None, empty, (), None, None, Loc(f"/{root_name}"))
    hk = kids(header)
    return MessageHeader(
        message_id=text(hk, "MessageId"),
        thread_id=text(hk, "MessageThreadId"),
        sender=party_ref(first(hk, "MessageSender")),
        recipients=tuple(party_ref(r) for r in hk.get("MessageRecipient", ())),
        created=text(hk, "MessageCreatedDateTime"),
        control_type=text(hk, "MessageControlType"),
        loc=Loc(f"/{root_name}/MessageHeader", header.sourceline),
    )


def proprietary_ids(k: Kids) -> tuple[ProprietaryId, ...]:
    out = []
    for pid in k.get("ProprietaryId", ()):
        value = own_text(pid)
        if value:
            out.append(ProprietaryId(pid.get("Namespace"), value))
    return tuple(out)


def release_ids(k: Kids) -> ReleaseIds:
    ids = sub(k, "ReleaseId")
    if not ids:
        return ReleaseIds()
    return ReleaseIds(
        grid=text(ids, "GRid"),
        icpn=text(ids, "ICPN"),
        catalog_number=text(ids, "CatalogNumber"),
        isrc=text(ids, "ISRC"),
        proprietary=proprietary_ids(ids),
    )


def titles_3(k: Kids) -> list[Title]:
    """ERN 3 Title blocks (TitleText, SubTitle, TitleType attribute)."""
    out = []
    for title in k.get("Title", ()):
        tk = kids(title)
        value = text(tk, "TitleText")
        if value:
            out.append(
                Title(
                    value,
                    title.get("TitleType"),
                    text(tk, "SubTitle"),
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


def map_purged(k: Kids, root_path: str) -> tuple[PurgedRelease, ...]:
    out = []
    for index, purged in enumerate(k.get("PurgedRelease", ()), start=1):
        pk = kids(purged)
        title = display_title_3(text(pk, "DisplayTitleText"), titles_3(pk))
        loc = Loc(f"{root_path}/PurgedRelease[{index}]", purged.sourceline)
        out.append(PurgedRelease(release_ids(pk), title, loc))
    return tuple(out)


def group_references(k: Kids, tag: str = "ReleaseResourceReference") -> list[str]:
    """References (``tag``) in a release's ResourceGroups, in document (play) order."""
    refs = []
    for group in k.get("ResourceGroup", ()):
        for ref in group.iter(tag):
            value = own_text(ref)
            if value:
                refs.append(value)
    return refs


def linked_references(k: Kids) -> list[str]:
    """Resources a group links to without playing them (cover art, booklets)."""
    return group_references(k, "LinkedReleaseResourceReference")


def iter_list(k: Kids, list_name: str, root_path: str) -> Iterator[tuple[Element, Loc]]:
    """Child elements of ResourceList / ReleaseList with their indexed path and line."""
    container = first(k, list_name)
    if container is None:
        return
    counts: dict[str, int] = {}
    for el in container.iterchildren(tag=etree.Element):
        kind = tag_of(el)
        counts[kind] = counts.get(kind, 0) + 1
        yield el, Loc(f"{root_path}/{list_name}/{kind}[{counts[kind]}]", el.sourceline)


def build_message(
    root: Element,
    k: Kids,
    ctx: MapContext,
    *,
    namespace: str,
    message_type: str,
    parts: MessageParts,
) -> Message:
    """Assemble a Message from version-specific parts plus the version-neutral sections."""
    root_path = f"/{message_type}"
    deals, has_deal_list = map_deals(first(k, "DealList"), root_path)
    return Message(
        version=ctx.version,
        namespace=namespace,
        message_type=message_type,
        header=map_header(root, k),
        source=ctx.source,
        parties=parts.parties,
        sound_recordings=tuple(parts.recordings),
        other_resources=tuple(parts.others),
        releases=tuple(parts.releases),
        deals=deals,
        has_deal_list=has_deal_list,
        purged_releases=map_purged(k, root_path),
        update_indicator=text(k, "UpdateIndicator"),
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
