"""ERN 3.x (3.8.1-3.8.3, and older 3.x where the paths agree) to the neutral model.

In ERN 3 artists and contributors are written inline, and most descriptive fields sit in
...DetailsByTerritory blocks; the Worldwide block is preferred, else the first one.
"""

from __future__ import annotations

from ddex._common import (
    Element,
    Kids,
    MapContext,
    MessageParts,
    build_message,
    display_title_3,
    first,
    group_references,
    iter_list,
    kids,
    linked_references,
    parse_bool,
    parse_duration,
    pick_territory,
    proprietary_ids,
    release_ids,
    sequence_number,
    sub,
    tag_of,
    text,
    texts,
    titles_3,
    typed_text,
    unique,
)
from ddex._text import own_text
from ddex.model import (
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
    root: Element, *, version: str, namespace: str, message_type: str, source: str
) -> Message:
    ctx = MapContext(source, version)
    root_path = f"/{message_type}"
    k = kids(root)
    parts = MessageParts()
    for el, loc in iter_list(k, "ResourceList", root_path):
        kind = tag_of(el)
        rk = kids(el)
        if kind == "SoundRecording":
            parts.recordings.append(_sound_recording(ctx, rk, loc))
        else:
            reference = text(rk, "ResourceReference") or ""
            type_el = RESOURCE_TYPE_ELEMENT.get(kind, f"{kind}Type")
            parts.others.append(Resource(reference, kind, typed_text(rk, type_el), loc))
    recording_refs = {r.reference for r in parts.recordings}
    for el, loc in iter_list(k, "ReleaseList", root_path):
        if tag_of(el) == "Release":
            parts.releases.append(_release(el, loc, recording_refs))
    return build_message(root, k, ctx, namespace=namespace, message_type=message_type, parts=parts)


def _artists(details: Kids) -> tuple[Artist, ...]:
    out = []
    for artist in details.get("DisplayArtist", ()):
        ak = kids(artist)
        out.append(
            Artist(
                name=text(sub(ak, "PartyName"), "FullName"),
                roles=texts(ak, "ArtistRole"),
                sequence=sequence_number(artist),
            )
        )
    return tuple(out)


def _display_artist(details: Kids, artists: tuple[Artist, ...]) -> str | None:
    name = text(details, "DisplayArtistName")
    if name:
        return name
    names = [a.name for a in artists if a.name]
    return ", ".join(names) if names else None


def _contributors(details: Kids) -> tuple[Contributor, ...]:
    out = []
    for tag, role_tag, indirect in (
        ("ResourceContributor", "ResourceContributorRole", False),
        ("IndirectResourceContributor", "IndirectResourceContributorRole", True),
    ):
        for contributor in details.get(tag, ()):
            ck = kids(contributor)
            out.append(
                Contributor(
                    name=text(sub(ck, "PartyName"), "FullName"),
                    roles=texts(ck, role_tag),
                    indirect=indirect,
                    sequence=sequence_number(contributor),
                )
            )
    return tuple(out)


def _audio_file(details: Kids) -> AudioFileRef | None:
    """The first non-preview file of TechnicalSoundRecordingDetails, with its hash sum."""
    fallback = None
    for technical in details.get("TechnicalSoundRecordingDetails", ()):
        tk = kids(technical)
        fk = sub(tk, "File")
        if not fk:
            continue
        hk = sub(fk, "HashSum")
        value = text(hk, "HashSum")
        hash_sum = HashSum(typed_text(hk, "HashSumAlgorithmType"), value) if value else None
        ref = AudioFileRef(
            uri=text(fk, "URL"),
            file_name=text(fk, "FileName"),
            file_path=text(fk, "FilePath"),
            hash=hash_sum,
        )
        if (text(tk, "IsPreview") or "").lower() != "true":
            return ref
        fallback = fallback or ref
    return fallback


def _sound_recording(ctx: MapContext, k: Kids, loc: Loc) -> SoundRecording:
    details = pick_territory(k.get("SoundRecordingDetailsByTerritory", []))
    titles = titles_3(details)
    artists = _artists(details)
    duration, duration_text = parse_duration(ctx, k, loc)
    ids = sub(k, "SoundRecordingId")
    return SoundRecording(
        reference=text(k, "ResourceReference") or "",
        type=typed_text(k, "SoundRecordingType"),
        isrc=text(ids, "ISRC"),
        title=display_title_3(text(sub(k, "ReferenceTitle"), "TitleText"), titles),
        titles=tuple(titles),
        display_artist=_display_artist(details, artists),
        display_artists=artists,
        contributors=_contributors(details),
        duration_s=duration,
        duration_text=duration_text,
        parental_warning=text(details, "ParentalWarningType"),
        file=_audio_file(details),
        is_instrumental=parse_bool(ctx, k, "IsInstrumental", loc),
        proprietary_ids=proprietary_ids(ids),
        loc=loc,
    )


def _release(el: Element, loc: Loc, recording_refs: set[str]) -> Release:
    k = kids(el)
    details = pick_territory(k.get("ReleaseDetailsByTerritory", []))
    titles = titles_3(details)
    artists = _artists(details)
    listed: list[str] = []
    primary: set[str] = set()
    ref_list = first(k, "ReleaseResourceReferenceList")
    if ref_list is not None:
        for ref in ref_list.iterchildren("ReleaseResourceReference"):
            value = own_text(ref)
            if value:
                listed.append(value)
                if ref.get("ReleaseResourceType", PRIMARY_RESOURCE) == PRIMARY_RESOURCE:
                    primary.add(value)
    ordered = unique([*group_references(details), *listed])
    all_refs = unique([*ordered, *linked_references(details)])
    compilation = text(details, "IsMultiArtistCompilation") or text(k, "IsMultiArtistCompilation")
    return Release(
        reference=text(k, "ReleaseReference"),
        ids=release_ids(k),
        type=typed_text(k, "ReleaseType"),
        title=display_title_3(text(sub(k, "ReferenceTitle"), "TitleText"), titles),
        titles=tuple(titles),
        display_artist=_display_artist(details, artists),
        display_artists=artists,
        label=text(details, "LabelName"),
        release_date=text(details, "ReleaseDate") or text(k, "GlobalReleaseDate"),
        original_release_date=text(details, "OriginalReleaseDate")
        or text(k, "GlobalOriginalReleaseDate"),
        parental_warning=text(details, "ParentalWarningType"),
        genre=text(sub(details, "Genre"), "GenreText"),
        resource_references=all_refs,
        primary_references=frozenset(primary),
        track_references=tuple(r for r in ordered if r in recording_refs),
        is_main=el.get("IsMainRelease") == "true",
        is_compilation=None if compilation is None else compilation.lower() == "true",
        loc=loc,
    )
