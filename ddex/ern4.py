"""ERN 4.x (4.1, 4.1.1, 4.2, 4.3, 4.3.1, 4.3.2) to the neutral model.

ERN 4 names parties once in a PartyList and refers to them (P... references); 4.3 moved
ISRC and files into SoundRecordingEdition; 4.3.1 added the AI-disclosure fields.
"""

from __future__ import annotations

from lxml import etree

from ddex._common import (
    MapContext,
    MessageParts,
    build_message,
    check_ai_value,
    group_references,
    iter_list,
    linked_references,
    own_text,
    parse_bool,
    parse_duration,
    pick_default,
    proprietary_ids,
    release_ids,
    sequence_number,
    text,
    texts,
    typed_text,
    typed_value,
    unique,
)
from ddex.model import (
    AiDisclosure,
    Artist,
    AudioFileRef,
    Contributor,
    HashSum,
    Loc,
    Message,
    Party,
    Release,
    Resource,
    SoundRecording,
    Title,
)

AI_FIELDS_SINCE = (4, 3, 1)
"""First ERN version whose schema defines ContainsAI / AiContribution / SpecialContributor."""
AUDIO_FILE_TYPES = frozenset({"AudioFile"})
TRACK_RELEASE = "TrackRelease"
VIDEO_MARKER = "Video"


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def map_message(
    root: etree._Element, *, version: str, namespace: str, message_type: str, source: str
) -> Message:
    ctx = MapContext(source, version)
    root_path = f"/{message_type}"
    parts = MessageParts(parties=_parties(root, root_path))
    names = {p.reference: p.name for p in parts.parties}
    for el, loc in iter_list(root, "ResourceList", root_path):
        rtype = typed_text(el, "Type")
        if el.tag == "SoundRecording" and VIDEO_MARKER not in (rtype or ""):
            parts.recordings.append(_sound_recording(ctx, el, loc, names))
        else:
            reference = text(el, "ResourceReference") or ""
            parts.others.append(Resource(reference, el.tag, rtype, loc))
    recording_refs = {r.reference for r in parts.recordings}
    for el, loc in iter_list(root, "ReleaseList", root_path):
        if el.tag in ("Release", TRACK_RELEASE):
            parts.releases.append(_release(ctx, el, loc, names, recording_refs))
    _flag_ai_fields(ctx, parts.recordings, parts.releases)
    return build_message(root, ctx, namespace=namespace, message_type=message_type, parts=parts)


def _flag_ai_fields(
    ctx: MapContext, recordings: list[SoundRecording], releases: list[Release]
) -> None:
    """AI-disclosure fields in a version whose schema lacks them: kept, but noted."""
    if _version_tuple(ctx.version) >= AI_FIELDS_SINCE:
        return
    for item in [*recordings, *releases]:
        declared = item.ai.declared if isinstance(item, SoundRecording) else item.contains_ai
        if declared:
            ctx.add(
                "info",
                "ai_fields_unsupported_version",
                f"AI-disclosure fields appear in ERN {ctx.version}; they are defined from 4.3.1",
                item.loc,
            )


def _parties(root: etree._Element, root_path: str) -> tuple[Party, ...]:
    party_list = root.find("PartyList")
    if party_list is None:
        return ()
    out = []
    for index, party in enumerate(party_list.iterfind("Party"), start=1):
        name_el = pick_default(party.iterfind("PartyName"))
        ids = party.find("PartyId")
        out.append(
            Party(
                reference=text(party, "PartyReference") or "",
                name=text(name_el, "FullName"),
                dpid=text(ids, "DPID"),
                isni=text(ids, "ISNI"),
                proprietary_ids=proprietary_ids(ids),
                loc=Loc(f"{root_path}/PartyList/Party[{index}]", party.sourceline),
            )
        )
    return tuple(out)


def _titles(el: etree._Element) -> tuple[str | None, tuple[Title, ...]]:
    """Display title (DisplayTitleText, IsDefault preferred) and every DisplayTitle."""
    titles = []
    for title in el.iterfind("DisplayTitle"):
        value = text(title, "TitleText")
        if value:
            titles.append(
                Title(
                    value,
                    "DisplayTitle",
                    text(title, "SubTitle"),
                    title.get("LanguageAndScriptCode"),
                )
            )
    main = own_text(pick_default(el.iterfind("DisplayTitleText")))
    if main is None and titles:
        main = titles[0].text
    return main, tuple(titles)


def _artists(el: etree._Element, names: dict[str, str | None]) -> tuple[Artist, ...]:
    out = []
    for artist in el.iterfind("DisplayArtist"):
        ref = text(artist, "ArtistPartyReference")
        special = text(artist, "SpecialDisplayArtist")
        out.append(
            Artist(
                name=names.get(ref) if ref else special,
                roles=texts(artist, "DisplayArtistRole"),
                party_reference=ref,
                sequence=sequence_number(artist),
            )
        )
    return tuple(out)


def _display_artist(el: etree._Element, artists: tuple[Artist, ...]) -> str | None:
    name = own_text(pick_default(el.iterfind("DisplayArtistName")))
    if name:
        return name
    found = [a.name for a in artists if a.name]
    return ", ".join(found) if found else None


def _contributors(
    ctx: MapContext, el: etree._Element, names: dict[str, str | None], loc: Loc
) -> tuple[Contributor, ...]:
    out = []
    for index, contributor in enumerate(el.iterfind("Contributor"), start=1):
        ref = text(contributor, "ContributorPartyReference")
        special = typed_text(contributor, "SpecialContributor")
        c_loc = loc.child(f"Contributor[{index}]", contributor.sourceline)
        ai = check_ai_value(ctx, text(contributor, "AiContribution"), "AiContribution", c_loc)
        out.append(
            Contributor(
                name=names.get(ref) if ref else special,
                roles=_roles(contributor),
                party_reference=ref,
                special=special,
                ai_contribution=ai,
                sequence=sequence_number(contributor),
            )
        )
    return tuple(out)


def _roles(contributor: etree._Element) -> tuple[str, ...]:
    """Contributor roles: plain text up to 4.3, ``Role/Value`` from 4.3.1."""
    out = []
    for role in contributor.iterfind("Role"):
        value_el = role.find("Value")
        value = typed_value(value_el if value_el is not None else role)
        if value:
            out.append(value)
    return tuple(out)


def _file_ref(file_el: etree._Element) -> AudioFileRef:
    hash_el = file_el.find("HashSum")
    hash_sum = None
    if hash_el is not None:
        value = text(hash_el, "HashSumValue")
        if value:
            hash_sum = HashSum(typed_text(hash_el, "Algorithm"), value)
    return AudioFileRef(
        uri=text(file_el, "URI"),
        file_name=text(file_el, "FileName"),
        file_path=text(file_el, "FilePath"),
        hash=hash_sum,
    )


def _audio_file(el: etree._Element) -> AudioFileRef | None:
    """First full (non-preview) audio file: 4.3 DeliveryFile, 4.1/4.2 TechnicalDetails/File."""
    fallback = None
    for edition in [el, *el.iterfind("SoundRecordingEdition")]:
        for technical in edition.iterfind("TechnicalDetails"):
            is_preview = (text(technical, "IsPreview") or "").lower() == "true"
            candidates = []
            for delivery in technical.iterfind("DeliveryFile"):
                dtype = typed_text(delivery, "Type")
                if dtype is None or dtype in AUDIO_FILE_TYPES:
                    candidates.extend(delivery.iterfind("File"))
            candidates.extend(technical.iterfind("File"))
            for file_el in candidates:
                ref = _file_ref(file_el)
                if not is_preview:
                    return ref
                fallback = fallback or ref
    return fallback


def _isrc(el: etree._Element) -> tuple[str | None, etree._Element | None]:
    ids = el.find("ResourceId")
    if ids is not None and text(ids, "ISRC"):
        return text(ids, "ISRC"), ids
    for edition in el.iterfind("SoundRecordingEdition"):
        ed_ids = edition.find("ResourceId")
        if ed_ids is not None and (ids is None or text(ed_ids, "ISRC")):
            ids = ed_ids
            if text(ed_ids, "ISRC"):
                break
    return text(ids, "ISRC"), ids


def _sound_recording(
    ctx: MapContext, el: etree._Element, loc: Loc, names: dict[str, str | None]
) -> SoundRecording:
    title, titles = _titles(el)
    artists = _artists(el, names)
    contributors = _contributors(ctx, el, names, loc)
    duration, duration_text = parse_duration(ctx, el, loc)
    isrc, ids = _isrc(el)
    contains = check_ai_value(ctx, text(el, "ContainsAI"), "ContainsAI", loc.child("ContainsAI"))
    ai_contributors = tuple(c for c in contributors if c.effective_ai_contribution is not None)
    return SoundRecording(
        reference=text(el, "ResourceReference") or "",
        type=typed_text(el, "Type"),
        isrc=isrc,
        title=title,
        titles=titles,
        display_artist=_display_artist(el, artists),
        display_artists=artists,
        contributors=contributors,
        duration_s=duration,
        duration_text=duration_text,
        parental_warning=typed_value(pick_default(el.iterfind("ParentalWarningType"))),
        file=_audio_file(el),
        ai=AiDisclosure(contains, ai_contributors),
        has_vocal_performance=parse_bool(ctx, el, "HasVocalPerformance", loc),
        is_cover=parse_bool(ctx, el, "IsCover", loc),
        is_instrumental=parse_bool(ctx, el, "IsInstrumental", loc),
        proprietary_ids=proprietary_ids(ids),
        related_references=texts(el, "RelatedResource/ResourceRelatedResourceReference"),
        is_supplemental=el.get("IsSupplemental") == "true",
        loc=loc,
    )


def _release(
    ctx: MapContext,
    el: etree._Element,
    loc: Loc,
    names: dict[str, str | None],
    recording_refs: set[str],
) -> Release:
    title, titles = _titles(el)
    artists = _artists(el, names)
    direct = [v for v in (own_text(r) for r in el.iterfind("ReleaseResourceReference")) if v]
    ordered = unique([*group_references(el), *direct])
    label_ref = own_text(pick_default(el.iterfind("ReleaseLabelReference")))
    compilation = text(el, "IsMultiArtistCompilation")
    is_main = el.tag == "Release"
    contains = check_ai_value(ctx, text(el, "ContainsAI"), "ContainsAI", loc.child("ContainsAI"))
    return Release(
        reference=text(el, "ReleaseReference"),
        ids=release_ids(el),
        type=typed_text(el, "ReleaseType") or (None if is_main else TRACK_RELEASE),
        title=title,
        titles=titles,
        display_artist=_display_artist(el, artists),
        display_artists=artists,
        label=names.get(label_ref) if label_ref else None,
        label_reference=label_ref,
        release_date=text(el, "ReleaseDate"),
        original_release_date=text(el, "OriginalReleaseDate"),
        parental_warning=typed_value(pick_default(el.iterfind("ParentalWarningType"))),
        genre=text(el, "Genre/GenreText") or text(el, "DisplayGenre/GenreText"),
        resource_references=unique([*ordered, *linked_references(el)]),
        primary_references=frozenset(ordered),
        track_references=tuple(r for r in ordered if r in recording_refs),
        is_main=is_main,
        is_compilation=None if compilation is None else compilation.lower() == "true",
        contains_ai=contains,
        loc=loc,
    )
