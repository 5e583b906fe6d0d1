"""ERN 4.x (4.1, 4.1.1, 4.2, 4.3, 4.3.1, 4.3.2) to the neutral model.

ERN 4 names parties once in a PartyList and refers to them (P... references); 4.3 moved
ISRC and files into SoundRecordingEdition; 4.3.1 added the AI-disclosure fields.
"""

from __future__ import annotations

from ddex._common import (
    Element,
    Kids,
    MapContext,
    MessageParts,
    build_message,
    check_ai_value,
    first,
    group_references,
    iter_list,
    kids,
    linked_references,
    parse_bool,
    parse_duration,
    pick_default,
    proprietary_ids,
    release_ids,
    sequence_number,
    sub,
    tag_of,
    text,
    texts,
    typed_text,
    unique,
)
from ddex._text import own_text, typed_value
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
    root: Element, *, version: str, namespace: str, message_type: str, source: str
) -> Message:
    ctx = MapContext(source, version)
    root_path = f"/{message_type}"
    k = kids(root)
    parts = MessageParts(parties=_parties(k, root_path))
    names = {p.reference: p.name for p in parts.parties}
    for el, loc in iter_list(k, "ResourceList", root_path):
        rk = kids(el)
        rtype = typed_text(rk, "Type")
        tag = tag_of(el)
        if tag == "SoundRecording" and VIDEO_MARKER not in (rtype or ""):
            parts.recordings.append(_sound_recording(ctx, el, rk, loc, names))
        else:
            reference = text(rk, "ResourceReference") or ""
            parts.others.append(Resource(reference, tag, rtype, loc))
    recording_refs = {r.reference for r in parts.recordings}
    for el, loc in iter_list(k, "ReleaseList", root_path):
        if tag_of(el) in ("Release", TRACK_RELEASE):
            parts.releases.append(_release(ctx, el, loc, names, recording_refs))
    _flag_ai_fields(ctx, parts.recordings, parts.releases)
    return build_message(root, k, ctx, namespace=namespace, message_type=message_type, parts=parts)


def _flag_ai_fields(
    ctx: MapContext, recordings: list[SoundRecording], releases: list[Release]
) -> None:
    """AI-disclosure fields in a version whose schema lacks them: kept, but noted."""
    if _version_tuple(ctx.version) >= AI_FIELDS_SINCE:
        return
    items: list[SoundRecording | Release] = [*recordings, *releases]
    for item in items:
        declared = item.ai.declared if isinstance(item, SoundRecording) else item.contains_ai
        if declared:
            ctx.add(
                "info",
                "ai_fields_unsupported_version",
                f"AI-disclosure fields appear in ERN {ctx.version}; they are defined from 4.3.1",
                item.loc,
            )


def _parties(k: Kids, root_path: str) -> tuple[Party, ...]:
    party_list = first(k, "PartyList")
    if party_list is None:
        return ()
    out = []
    for index, party in enumerate(party_list.iterchildren("Party"), start=1):
        pk = kids(party)
        ids = sub(pk, "PartyId")
        out.append(
            Party(
                reference=text(pk, "PartyReference") or "",
                name=text(kids(pick_default(pk.get("PartyName", ()))), "FullName"),
                dpid=text(ids, "DPID"),
                isni=text(ids, "ISNI"),
                proprietary_ids=proprietary_ids(ids),
                loc=Loc(f"{root_path}/PartyList/Party[{index}]", party.sourceline),
            )
        )
    return tuple(out)


def _titles(k: Kids) -> tuple[str | None, tuple[Title, ...]]:
    """Display title (DisplayTitleText, IsDefault preferred) and every DisplayTitle."""
    titles = []
    for title in k.get("DisplayTitle", ()):
        tk = kids(title)
        value = text(tk, "TitleText")
        if value:
            titles.append(
                Title(
                    value, "DisplayTitle", text(tk, "SubTitle"), title.get("LanguageAndScriptCode")
                )
            )
    main = own_text(pick_default(k.get("DisplayTitleText", ())))
    if main is None and titles:
        main = titles[0].text
    return main, tuple(titles)


def _artists(k: Kids, names: dict[str, str | None]) -> tuple[Artist, ...]:
    out = []
    for artist in k.get("DisplayArtist", ()):
        ak = kids(artist)
        ref = text(ak, "ArtistPartyReference")
        out.append(
            Artist(
                name=names.get(ref) if ref else text(ak, "SpecialDisplayArtist"),
                roles=texts(ak, "DisplayArtistRole"),
                party_reference=ref,
                sequence=sequence_number(artist),
            )
        )
    return tuple(out)


def _display_artist(k: Kids, artists: tuple[Artist, ...]) -> str | None:
    name = own_text(pick_default(k.get("DisplayArtistName", ())))
    if name:
        return name
    found = [a.name for a in artists if a.name]
    return ", ".join(found) if found else None


def _contributors(
    ctx: MapContext, k: Kids, names: dict[str, str | None], loc: Loc
) -> tuple[Contributor, ...]:
    out = []
    for index, contributor in enumerate(k.get("Contributor", ()), start=1):
        ck = kids(contributor)
        ref = text(ck, "ContributorPartyReference")
        special = typed_text(ck, "SpecialContributor")
        ai = text(ck, "AiContribution")
        if ai is not None:
            c_loc = loc.child(f"Contributor[{index}]", contributor.sourceline)
            check_ai_value(ctx, ai, "AiContribution", c_loc)
        out.append(
            Contributor(
                name=names.get(ref) if ref else special,
                roles=_roles(ck),
                party_reference=ref,
                special=special,
                ai_contribution=ai,
                sequence=sequence_number(contributor),
            )
        )
    return tuple(out)


def _roles(ck: Kids) -> tuple[str, ...]:
    """Contributor roles: plain text up to 4.3, ``Role/Value`` from 4.3.1."""
    out = []
    for role in ck.get("Role", ()):
        value_el = next(role.iterchildren("Value"), None)
        value = typed_value(value_el if value_el is not None else role)
        if value:
            out.append(value)
    return tuple(out)


def _file_ref(file_el: Element) -> AudioFileRef:
    fk = kids(file_el)
    hk = sub(fk, "HashSum")
    value = text(hk, "HashSumValue")
    return AudioFileRef(
        uri=text(fk, "URI"),
        file_name=text(fk, "FileName"),
        file_path=text(fk, "FilePath"),
        hash=HashSum(typed_text(hk, "Algorithm"), value) if value else None,
    )


def _audio_file(k: Kids, editions: list[Kids]) -> AudioFileRef | None:
    """First full (non-preview) audio file: 4.3 DeliveryFile, 4.1/4.2 TechnicalDetails/File."""
    fallback = None
    for holder in [k, *editions]:
        for technical in holder.get("TechnicalDetails", ()):
            tk = kids(technical)
            is_preview = (text(tk, "IsPreview") or "").lower() == "true"
            candidates: list[Element] = []
            for delivery in tk.get("DeliveryFile", ()):
                dk = kids(delivery)
                dtype = typed_text(dk, "Type")
                if dtype is None or dtype in AUDIO_FILE_TYPES:
                    candidates.extend(dk.get("File", ()))
            candidates.extend(tk.get("File", ()))
            for file_el in candidates:
                ref = _file_ref(file_el)
                if not is_preview:
                    return ref
                fallback = fallback or ref
    return fallback


def _isrc(k: Kids, editions: list[Kids]) -> tuple[str | None, Kids]:
    """ISRC from ResourceId (4.1/4.2) or the first SoundRecordingEdition that has one (4.3)."""
    candidates = [sub(k, "ResourceId"), *(sub(e, "ResourceId") for e in editions)]
    for ids in candidates:
        isrc = text(ids, "ISRC")
        if isrc:
            return isrc, ids
    return None, next((ids for ids in candidates if ids), {})


def _sound_recording(
    ctx: MapContext, el: Element, k: Kids, loc: Loc, names: dict[str, str | None]
) -> SoundRecording:
    title, titles = _titles(k)
    artists = _artists(k, names)
    contributors = _contributors(ctx, k, names, loc)
    duration, duration_text = parse_duration(ctx, k, loc)
    editions = [kids(e) for e in k.get("SoundRecordingEdition", ())]
    isrc, ids = _isrc(k, editions)
    contains = text(k, "ContainsAI")
    if contains is not None:
        check_ai_value(ctx, contains, "ContainsAI", loc.child("ContainsAI"))
    ai_contributors = tuple(c for c in contributors if c.effective_ai_contribution is not None)
    related = [kids(r) for r in k.get("RelatedResource", ())]
    return SoundRecording(
        reference=text(k, "ResourceReference") or "",
        type=typed_text(k, "Type"),
        isrc=isrc,
        title=title,
        titles=titles,
        display_artist=_display_artist(k, artists),
        display_artists=artists,
        contributors=contributors,
        duration_s=duration,
        duration_text=duration_text,
        parental_warning=typed_value(pick_default(k.get("ParentalWarningType", ()))),
        file=_audio_file(k, editions),
        ai=AiDisclosure(contains, ai_contributors),
        has_vocal_performance=parse_bool(ctx, k, "HasVocalPerformance", loc),
        is_cover=parse_bool(ctx, k, "IsCover", loc),
        is_instrumental=parse_bool(ctx, k, "IsInstrumental", loc),
        proprietary_ids=proprietary_ids(ids),
        related_references=tuple(
            v for v in (text(r, "ResourceRelatedResourceReference") for r in related) if v
        ),
        is_supplemental=el.get("IsSupplemental") == "true",
        loc=loc,
    )


def _release(
    ctx: MapContext,
    el: Element,
    loc: Loc,
    names: dict[str, str | None],
    recording_refs: set[str],
) -> Release:
    k = kids(el)
    title, titles = _titles(k)
    artists = _artists(k, names)
    direct = [v for v in map(own_text, k.get("ReleaseResourceReference", ())) if v]
    ordered = unique([*group_references(k), *direct])
    label_ref = own_text(pick_default(k.get("ReleaseLabelReference", ())))
    compilation = text(k, "IsMultiArtistCompilation")
    is_main = el.tag == "Release"
    contains = text(k, "ContainsAI")
    if contains is not None:
        check_ai_value(ctx, contains, "ContainsAI", loc.child("ContainsAI"))
    return Release(
        reference=text(k, "ReleaseReference"),
        ids=release_ids(k),
        type=typed_text(k, "ReleaseType") or (None if is_main else TRACK_RELEASE),
        title=title,
        titles=titles,
        display_artist=_display_artist(k, artists),
        display_artists=artists,
        label=names.get(label_ref) if label_ref else None,
        label_reference=label_ref,
        release_date=text(k, "ReleaseDate"),
        original_release_date=text(k, "OriginalReleaseDate"),
        parental_warning=typed_value(pick_default(k.get("ParentalWarningType", ()))),
        genre=text(sub(k, "Genre"), "GenreText") or text(sub(k, "DisplayGenre"), "GenreText"),
        resource_references=unique([*ordered, *linked_references(k)]),
        primary_references=frozenset(ordered),
        track_references=tuple(r for r in ordered if r in recording_refs),
        is_main=is_main,
        is_compilation=None if compilation is None else compilation.lower() == "true",
        contains_ai=contains,
        loc=loc,
    )
