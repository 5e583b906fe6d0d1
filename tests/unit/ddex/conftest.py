"""Builders for ERN 4.3.2 test messages.

No public message carries the AI-disclosure fields yet, so the tests write their own. The
builder follows the 4.3.2 schema's element order, so its output also validates against
xsd/ern432 (checked in test_ddex_xsd.py), which keeps the hand-written messages honest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

import pytest

NS_432 = "http://ddex.net/xml/ern/432"
SENDER_DPID = "PADPIDA2013042401U"
RECIPIENT_DPID = "PADPIDA2009101501Y"
DEFAULT_MD5 = "0123456789abcdef0123456789abcdef"


def _opt(tag: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{tag}>{escape(str(value))}</{tag}>"


def _contributor(spec: tuple[str, str | None, str | None]) -> str:
    who, role, ai = spec
    head = (
        f"<SpecialContributor>{who}</SpecialContributor>"
        if who == "GenerativeAI"
        else f"<ContributorPartyReference>{who}</ContributorPartyReference>"
    )
    role_xml = f"<Role><Value>{role}</Value></Role>" if role else ""
    return f"<Contributor>{head}{role_xml}{_opt('AiContribution', ai)}</Contributor>"


def _sound_recording(track: dict[str, Any]) -> str:
    ref = track.get("ref", "A1")
    file_xml = ""
    if track.get("file", f"audio/{ref}.flac"):
        file_xml = (
            "<TechnicalDetails>"
            f"<TechnicalResourceDetailsReference>T{ref}</TechnicalResourceDetailsReference>"
            "<DeliveryFile><Type>AudioFile</Type><File>"
            f"<URI>{track.get('file', f'audio/{ref}.flac')}</URI>"
            "<HashSum><Algorithm>MD5</Algorithm>"
            f"<HashSumValue>{track.get('md5', DEFAULT_MD5)}</HashSumValue></HashSum>"
            "</File></DeliveryFile></TechnicalDetails>"
        )
    contributors = track.get("contributors", [("PArtist", "Composer", None)])
    return (
        "<SoundRecording>"
        f"<ResourceReference>{ref}</ResourceReference>"
        "<Type>MusicalWorkSoundRecording</Type>"
        f"<SoundRecordingEdition><ResourceId>{_opt('ISRC', track.get('isrc', 'QZABC2500001'))}"
        f"</ResourceId>{file_xml}</SoundRecordingEdition>"
        f"<DisplayTitleText>{escape(track.get('title', 'Song'))}</DisplayTitleText>"
        f"<DisplayTitle><TitleText>{escape(track.get('title', 'Song'))}</TitleText></DisplayTitle>"
        f"<DisplayArtistName>{escape(track.get('artist', 'The Artist'))}</DisplayArtistName>"
        f"<DisplayArtist><ArtistPartyReference>{track.get('artist_ref', 'PArtist')}"
        "</ArtistPartyReference><DisplayArtistRole>MainArtist</DisplayArtistRole></DisplayArtist>"
        + "".join(_contributor(c) for c in contributors)
        + f"<Duration>{track.get('duration', 'PT3M30S')}</Duration>"
        "<ParentalWarningType>NotExplicit</ParentalWarningType>"
        + _opt("ContainsAI", track.get("contains_ai"))
        + _opt("IsCover", track.get("is_cover"))
        + _opt("HasVocalPerformance", track.get("has_vocal"))
        + "</SoundRecording>"
    )


def build_ern432(
    tracks: list[dict[str, Any]] | None = None,
    *,
    release_contains_ai: str | None = None,
    control_type: str = "LiveMessage",
    deal: str | None = "<StartDate>2020-01-01</StartDate>",
    namespace: str = NS_432,
    icpn: str = "4006381333931",
) -> bytes:
    """A small, schema-valid 4.3.2 album: the given tracks, a cover, one release, one deal."""
    tracks = tracks if tracks is not None else [{}]
    items = "".join(
        f"<ResourceGroupContentItem><SequenceNumber>{i}</SequenceNumber>"
        f"<ReleaseResourceReference>{t.get('ref', 'A1')}</ReleaseResourceReference>"
        "</ResourceGroupContentItem>"
        for i, t in enumerate(tracks, start=1)
    )
    deal_xml = ""
    if deal is not None:
        deal_xml = (
            "<DealList><ReleaseDeal><DealReleaseReference>R0</DealReleaseReference><Deal>"
            "<DealTerms><TerritoryCode>Worldwide</TerritoryCode>"
            f"<ValidityPeriod>{deal}</ValidityPeriod>"
            "<CommercialModelType>SubscriptionModel</CommercialModelType>"
            "<UseType>OnDemandStream</UseType></DealTerms></Deal></ReleaseDeal></DealList>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<ern:NewReleaseMessage xmlns:ern="{namespace}" ReleaseProfileVersionId="Audio" '
        'LanguageAndScriptCode="en" AvsVersionId="2025">'
        "<MessageHeader><MessageThreadId>T1</MessageThreadId><MessageId>M1</MessageId>"
        f"<MessageSender><PartyId>{SENDER_DPID}</PartyId><PartyName><FullName>Label Co"
        "</FullName></PartyName></MessageSender>"
        f"<MessageRecipient><PartyId>{RECIPIENT_DPID}</PartyId><PartyName><FullName>Platform"
        "</FullName></PartyName></MessageRecipient>"
        "<MessageCreatedDateTime>2025-06-01T12:00:00Z</MessageCreatedDateTime>"
        f"<MessageControlType>{control_type}</MessageControlType></MessageHeader>"
        "<PartyList>"
        "<Party><PartyReference>PArtist</PartyReference><PartyName><FullName>The Artist"
        "</FullName></PartyName></Party>"
        "<Party><PartyReference>PLabel</PartyReference><PartyName><FullName>Label Co"
        "</FullName></PartyName></Party>"
        "</PartyList>"
        "<ResourceList>"
        + "".join(_sound_recording(t) for t in tracks)
        + "<Image><ResourceReference>A99</ResourceReference><Type>FrontCoverImage</Type>"
        '<ResourceId><ProprietaryId Namespace="PADPIDA2013042401U">cover-1</ProprietaryId>'
        "</ResourceId></Image>"
        "</ResourceList>"
        "<ReleaseList><Release>"
        "<ReleaseReference>R0</ReleaseReference><ReleaseType>Album</ReleaseType>"
        f"<ReleaseId><ICPN>{icpn}</ICPN></ReleaseId>"
        "<DisplayTitleText>The Album</DisplayTitleText>"
        "<DisplayTitle><TitleText>The Album</TitleText></DisplayTitle>"
        "<DisplayArtistName>The Artist</DisplayArtistName>"
        "<DisplayArtist><ArtistPartyReference>PArtist</ArtistPartyReference>"
        "<DisplayArtistRole>MainArtist</DisplayArtistRole></DisplayArtist>"
        "<ReleaseLabelReference>PLabel</ReleaseLabelReference>"
        "<DisplayGenre><GenreText>Pop</GenreText></DisplayGenre>"
        "<ParentalWarningType>NotExplicit</ParentalWarningType>"
        "<IsMultiArtistCompilation>false</IsMultiArtistCompilation>"
        f"<ResourceGroup>{items}"
        "<LinkedReleaseResourceReference>A99</LinkedReleaseResourceReference></ResourceGroup>"
        + _opt("ContainsAI", release_contains_ai)
        + "</Release></ReleaseList>"
        + deal_xml
        + "</ern:NewReleaseMessage>"
    ).encode()


@pytest.fixture()
def ern432() -> Callable[..., bytes]:
    """``build_ern432(tracks, release_contains_ai=..., ...)``: a 4.3.2 message as bytes."""
    return build_ern432
