"""Small crafted ERN 4.3 / 4.3.2 messages for the metadata-signal tests (no files needed)."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

import ddex

NS_43 = "http://ddex.net/xml/ern/43"
NS_432 = "http://ddex.net/xml/ern/432"
SENDER_DPID = "PADPIDA2014120301X"


def _opt(tag: str, value: object) -> str:
    return "" if value is None else f"<{tag}>{escape(str(value))}</{tag}>"


def _party(ref: str, name: str, isni: str | None) -> str:
    ids = f"<PartyId><ISNI>{isni}</ISNI></PartyId>" if isni else ""
    return (
        f"<Party><PartyReference>{ref}</PartyReference>{ids}"
        f"<PartyName><FullName>{escape(name)}</FullName></PartyName></Party>"
    )


def _recording(track: dict[str, Any]) -> str:
    ref = track.get("ref", "A1")
    artists = track.get("artists", [("PArtist", "MainArtist")])
    artist_xml = "".join(
        f'<DisplayArtist SequenceNumber="{i}"><ArtistPartyReference>{party}'
        f"</ArtistPartyReference><DisplayArtistRole>{role}</DisplayArtistRole></DisplayArtist>"
        for i, (party, role) in enumerate(artists, start=1)
    )
    title = escape(track.get("title", "Harbour Lights"))
    return (
        "<SoundRecording>"
        f"<ResourceReference>{ref}</ResourceReference>"
        "<Type>MusicalWorkSoundRecording</Type>"
        f"<SoundRecordingEdition><ResourceId>{_opt('ISRC', track.get('isrc', 'GBAYC2600001'))}"
        "</ResourceId></SoundRecordingEdition>"
        f"<DisplayTitleText>{title}</DisplayTitleText>"
        f"<DisplayTitle><TitleText>{title}</TitleText></DisplayTitle>"
        f"<DisplayArtistName>{escape(track.get('artist', 'Mara Lindqvist'))}</DisplayArtistName>"
        + artist_xml
        + f"<Duration>{track.get('duration', 'PT3M30S')}</Duration>"
        "<ParentalWarningType>NotExplicit</ParentalWarningType>"
        + _opt("ContainsAI", track.get("contains_ai"))
        + "</SoundRecording>"
    )


def build_ern(
    tracks: list[dict[str, Any]] | None = None,
    *,
    parties: dict[str, tuple[str, str | None]] | None = None,
    release_title: str = "Northern Harbour",
    release_artist: str = "Mara Lindqvist",
    release_type: str = "Album",
    icpn: str | None = "4006381333931",
    extra_release_icpn: str | None = None,
    namespace: str = NS_43,
    sender_dpid: str = SENDER_DPID,
) -> bytes:
    """An ERN 4.3 NewReleaseMessage: parties (ref → name, ISNI), tracks, one release."""
    tracks = tracks if tracks is not None else [{}]
    parties = parties if parties is not None else {"PArtist": ("Mara Lindqvist", None)}
    items = "".join(
        f"<ResourceGroupContentItem><SequenceNumber>{i}</SequenceNumber>"
        f"<ReleaseResourceReference>{t.get('ref', 'A1')}</ReleaseResourceReference>"
        "</ResourceGroupContentItem>"
        for i, t in enumerate(tracks, start=1)
    )
    first_party = next(iter(parties))

    def release(ref: str, code: str | None) -> str:
        return (
            f"<Release><ReleaseReference>{ref}</ReleaseReference>"
            f"<ReleaseType>{release_type}</ReleaseType>"
            f"<ReleaseId>{_opt('ICPN', code)}</ReleaseId>"
            f"<DisplayTitleText>{escape(release_title)}</DisplayTitleText>"
            f"<DisplayTitle><TitleText>{escape(release_title)}</TitleText></DisplayTitle>"
            f"<DisplayArtistName>{escape(release_artist)}</DisplayArtistName>"
            f"<DisplayArtist><ArtistPartyReference>{first_party}</ArtistPartyReference>"
            "<DisplayArtistRole>MainArtist</DisplayArtistRole></DisplayArtist>"
            "<ParentalWarningType>NotExplicit</ParentalWarningType>"
            f"<ResourceGroup>{items}</ResourceGroup></Release>"
        )

    releases = release("R0", icpn)
    if extra_release_icpn is not None:
        releases += release("R1", extra_release_icpn)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<ern:NewReleaseMessage xmlns:ern="{namespace}" ReleaseProfileVersionId="Audio" '
        'LanguageAndScriptCode="en" AvsVersionId="3">'
        "<MessageHeader><MessageThreadId>T1</MessageThreadId><MessageId>M1</MessageId>"
        f"<MessageSender><PartyId>{sender_dpid}</PartyId><PartyName><FullName>Label Co"
        "</FullName></PartyName></MessageSender>"
        "<MessageRecipient><PartyId>PADPIDA2026112402C</PartyId><PartyName><FullName>Platform"
        "</FullName></PartyName></MessageRecipient>"
        "<MessageCreatedDateTime>2026-11-24T09:00:00Z</MessageCreatedDateTime>"
        "</MessageHeader>"
        "<PartyList>"
        + "".join(_party(ref, name, isni) for ref, (name, isni) in parties.items())
        + "</PartyList><ResourceList>"
        + "".join(_recording(t) for t in tracks)
        + "</ResourceList><ReleaseList>"
        + releases
        + "</ReleaseList></ern:NewReleaseMessage>"
    ).encode()


def message(*args: Any, **kwargs: Any) -> ddex.Message:
    """``build_ern`` parsed into the ddex model."""
    return ddex.read_message(build_ern(*args, **kwargs), source="<crafted>")
