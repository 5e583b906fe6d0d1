"""ERN 3.x (3.8.1-3.8.3, and older 3.x where the paths agree) to the neutral model.

In ERN 3 artists and contributors are written inline, and most descriptive fields sit in
...DetailsByTerritory blocks; the Worldwide block is preferred, else the first one.
"""

from __future__ import annotations

from lxml import etree

from ddex._common import (
    MapContext,
    MessageParts,
    build_message,
    display_title_3,
    group_references,
    iter_list,
    linked_references,
    own_text,
    parse_bool,
    parse_duration,
    pick_territory,
    proprietary_ids,
    release_ids,
    sequence_number,
    text,
    texts,
    titles_3,
    typed_text,
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
    Release,
    Resource,
    SoundRecording,
)

PRIMARY_RESOURCE = "PrimaryResource"
RESOURCE_TYPE_ELEMENT = {
    "Image": "ImageType",
    "Video": "VideoType",
    "Text": "TextType",
    "MIDI": "MidiType",
    "SheetMusic": "SheetMusicType",
    "Software": "SoftwareType",
    "UserDefinedResource": "UserDefinedResourceType",
}


def map_message(
    root: etree._Element, *, version: str, namespace: str, message_type: str, source: str
) -> Message:
    ctx = MapContext(source, version)
    root_path = f"/{message_type}"
    parts = MessageParts()
    for el, loc in iter_list(root, "ResourceList", root_path):
        kind = el.tag
        if kind == "SoundRecording":
            parts.recordings.append(_sound_recording(ctx, el, loc))
        else:
            reference = text(el, "ResourceReference") or ""
            type_el = RESOURCE_TYPE_ELEMENT.get(kind, f"{kind}Type")
            parts.others.append(Resource(reference, kind, typed_text(el, type_el), loc))
    recording_refs = {r.reference for r in parts.recordings}
    for el, loc in iter_list(root, "ReleaseList", root_path):
        if el.tag == "Release":
            parts.releases.append(_release(el, loc, recording_refs))
    return build_message(root, ctx, namespace=namespace, message_type=message_type, parts=parts)


def _artists(details: etree._Element | None) -> tuple[Artist, ...]:
    if details is None:
        return ()
    out = []
    for artist in details.iterfind("DisplayArtist"):
        out.append(
            Artist(
                name=text(artist, "PartyName/FullName"),
                roles=texts(artist, "ArtistRole"),
                sequence=sequence_number(artist),
            )
        )
    return tuple(out)


def _display_artist(details: etree._Element | None, artists: tuple[Artist, ...]) -> str | None:
    name = text(details, "DisplayArtistName")
    if name:
        return name
    names = [a.name for a in artists if a.name]
    return ", ".join(names) if names else None


def _contributors(details: etree._Element | None) -> tuple[Contributor, ...]:
    if details is None:
        return ()
    out = []
    for contributor in details.iterfind("ResourceContributor"):
        out.append(
            Contributor(
                name=text(contributor, "PartyName/FullName"),
                roles=texts(contributor, "ResourceContributorRole"),
                sequence=sequence_number(contributor),
            )
        )
    for contributor in details.iterfind("IndirectResourceContributor"):
        out.append(
            Contributor(
                name=text(contributor, "PartyName/FullName"),
                roles=texts(contributor, "IndirectResourceContributorRole"),
                indirect=True,
                sequence=sequence_number(contributor),
            )
        )
    return tuple(out)


def _audio_file(details: etree._Element | None) -> AudioFileRef | None:
    """The first non-preview file of TechnicalSoundRecordingDetails, with its hash sum."""
    if details is None:
        return None
    fallback = None
    for technical in details.iterfind("TechnicalSoundRecordingDetails"):
        file_el = technical.find("File")
        if file_el is None:
            continue
        hash_el = file_el.find("HashSum")
        hash_sum = None
        if hash_el is not None:
            value = text(hash_el, "HashSum")
            if value:
                hash_sum = HashSum(typed_text(hash_el, "HashSumAlgorithmType"), value)
        ref = AudioFileRef(
            uri=text(file_el, "URL"),
            file_name=text(file_el, "FileName"),
            file_path=text(file_el, "FilePath"),
            hash=hash_sum,
        )
        if (text(technical, "IsPreview") or "").lower() != "true":
            return ref
        fallback = fallback or ref
    return fallback


def _sound_recording(ctx: MapContext, el: etree._Element, loc: Loc) -> SoundRecording:
    details = pick_territory(list(el.iterfind("SoundRecordingDetailsByTerritory")))
    titles = titles_3(details) if details is not None else []
    reference_title = text(el, "ReferenceTitle/TitleText")
    artists = _artists(details)
    duration, duration_text = parse_duration(ctx, el, loc)
    ids = el.find("SoundRecordingId")
    return SoundRecording(
        reference=text(el, "ResourceReference") or "",
        type=typed_text(el, "SoundRecordingType"),
        isrc=text(ids, "ISRC"),
        title=display_title_3(reference_title, titles),
        titles=tuple(titles),
        display_artist=_display_artist(details, artists),
        display_artists=artists,
        contributors=_contributors(details),
        duration_s=duration,
        duration_text=duration_text,
        parental_warning=text(details, "ParentalWarningType"),
        file=_audio_file(details),
        ai=AiDisclosure(),
        is_instrumental=parse_bool(ctx, el, "IsInstrumental", loc),
        proprietary_ids=proprietary_ids(ids),
        loc=loc,
    )


def _release(el: etree._Element, loc: Loc, recording_refs: set[str]) -> Release:
    details = pick_territory(list(el.iterfind("ReleaseDetailsByTerritory")))
    titles = titles_3(details) if details is not None else []
    artists = _artists(details)
    listed = []
    primary = set()
    ref_list = el.find("ReleaseResourceReferenceList")
    if ref_list is not None:
        for ref in ref_list.iterfind("ReleaseResourceReference"):
            value = own_text(ref)
            if value:
                listed.append(value)
                if ref.get("ReleaseResourceType", PRIMARY_RESOURCE) == PRIMARY_RESOURCE:
                    primary.add(value)
    grouped = group_references(details) if details is not None else []
    ordered = unique([*grouped, *listed])
    all_refs = unique([*ordered, *(linked_references(details) if details is not None else [])])
    genre = text(details, "Genre/GenreText")
    compilation = text(details, "IsMultiArtistCompilation") or text(el, "IsMultiArtistCompilation")
    return Release(
        reference=text(el, "ReleaseReference"),
        ids=release_ids(el),
        type=typed_text(el, "ReleaseType"),
        title=display_title_3(text(el, "ReferenceTitle/TitleText"), titles),
        titles=tuple(titles),
        display_artist=_display_artist(details, artists),
        display_artists=artists,
        label=text(details, "LabelName"),
        release_date=text(details, "ReleaseDate") or text(el, "GlobalReleaseDate"),
        original_release_date=text(details, "OriginalReleaseDate")
        or text(el, "GlobalOriginalReleaseDate"),
        parental_warning=text(details, "ParentalWarningType"),
        genre=genre,
        resource_references=all_refs,
        primary_references=frozenset(primary),
        track_references=tuple(r for r in ordered if r in recording_refs),
        is_main=el.get("IsMainRelease") == "true",
        is_compilation=None if compilation is None else compilation.lower() == "true",
        loc=loc,
    )
