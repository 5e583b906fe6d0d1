"""Real ERN messages from ../shared/ddex/samples: every one parses, and hand-read values match.

The expected values below were read from the XML files by eye, not produced by the parser.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

import ddex
from tests.conftest import DDEX_SAMPLES_DIR

SAMPLE_FILES = sorted(DDEX_SAMPLES_DIR.glob("ern*/*.xml"))
EDGE_DIR = DDEX_SAMPLES_DIR / "edge-cases"


def _read(relative: str) -> ddex.Message:
    return ddex.read_file(DDEX_SAMPLES_DIR / relative)


def test_the_sample_folders_are_present() -> None:
    assert len(SAMPLE_FILES) >= 35


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_sample_parses_validates_and_serialises(path) -> None:
    message, findings = ddex.inspect(path.read_bytes(), source=str(path))
    assert message.version in ddex.SUPPORTED_VERSIONS
    assert f"ern/{path.parent.name[3:]}" in message.namespace or path.parent.name == "ern341"
    document = json.loads(json.dumps(ddex.to_inspect_json(message, findings)))
    assert document["message_type"] in {"NewReleaseMessage", "PurgeReleaseMessage"}
    assert all(f["severity"] in {"error", "warning", "info"} for f in document["findings"])


def test_382_album_hand_verified() -> None:
    message = _read("ern382/dedex_001_audioalbum_complete.xml")
    assert (message.version, message.message_type) == ("3.8.2", "NewReleaseMessage")
    assert message.header.sender.dpid == "DPID_OF_THE_SENDER"
    assert message.header.message_id is None
    assert message.header.created == "2012-12-11T15:50:00+00:00"
    tracks = message.tracks
    assert [t.isrc for t in tracks] == [f"CASE0000000{i}" for i in range(1, 7)]
    assert [t.title for t in tracks] == [
        "Can you feel ...the Monkey Claw!",
        "Red top mountain, blown sky high",
        "Seige of Antioch",
        "Warhammer",
        "Iron Horse",
        "Yes... I can feel the Monkey Claw!",
    ]
    # PT13M31S, PT6M6S, PT21M9S, PT2M45S, PT4M54S, PT12M21S
    assert [t.duration_s for t in tracks] == [811.0, 366.0, 1269.0, 165.0, 294.0, 741.0]
    assert [t.file.location for t in tracks if t.file] == [
        f"A1UCASE0000000401X_01_0{i}.wav" for i in range(1, 7)
    ]
    first = tracks[0]
    assert [a.name for a in first.display_artists] == ["Monkey Claw", "Second Artist"]
    assert first.display_artists[0].roles == ("MainArtist",)
    assert tracks[1].display_artist == "Monkey Claw"
    assert [(c.name, c.roles, c.indirect) for c in first.contributors] == [
        ("Steve Albino", ("Producer",), False),
        ("Bob Black", ("Composer",), True),
    ]
    assert first.parental_warning == "NotExplicit"

    main = message.main_release
    assert main is not None and main.reference == "R0"
    assert main.ids.grid == "A1UCASE0000000401X"
    assert (main.title, main.type, main.display_artist) == (
        "A Monkey Claw in a Velvet Glove",
        "Album",
        "Monkey Claw",
    )
    assert (main.label, main.genre) == ("Iron Crown Music", "Metal")
    assert (main.release_date, main.original_release_date) == ("2010-01-01", "2010-10-01")
    assert main.track_references == ("A1", "A2", "A3", "A4", "A5", "A6")
    assert "A7" in main.resource_references  # the cover image, not a track
    assert [r.type for r in message.releases[1:]] == ["TrackRelease"] * 6


def test_382_album_json_contract() -> None:
    message = _read("ern382/dedex_001_audioalbum_complete.xml")
    document = ddex.to_inspect_json(message, ddex.validate(message))
    assert document["version"] == "3.8.2"
    assert document["releases"][0]["track_isrcs"] == [f"CASE0000000{i}" for i in range(1, 7)]
    assert document["releases"][0]["ids"] == {
        "grid": "A1UCASE0000000401X",
        "icpn": None,
        "catalog_number": None,
        "proprietary": None,
    }
    assert document["tracks"][3] == {
        "reference": "A4",
        "isrc": "CASE00000004",
        "title": "Warhammer",
        "display_artist": "Monkey Claw",
        "duration_s": 165.0,
        "file": "A1UCASE0000000401X_01_04.wav",
        "hash": None,
        "contains_ai": None,
        "ai_contributions": [],
    }


def test_43_audio_hand_verified() -> None:
    message = _read("ern43/1_Audio.xml")
    assert message.version == "4.3"
    header = message.header
    assert (header.message_id, header.thread_id) == ("Test1.1", "Test1")
    assert (header.sender.dpid, header.sender.name) == ("PADPIDA2013042401U", "UniversalMusicGroup")
    assert header.recipient is not None and header.recipient.name == "Sony DADC"
    assert len(message.tracks) == 21
    first, second, last = message.tracks[0], message.tracks[1], message.tracks[-1]
    assert (first.isrc, first.title, first.display_artist) == (
        "JPTO09404900",
        "Yume no Lullaby",
        "Saeko Shu",
    )
    assert first.duration_s == 148.0  # PT2M28S
    assert first.file is not None and first.file.uri == "0094631432057_01_001.wav"
    assert first.display_artists[0].party_reference == "PSaekoShu"
    assert [(c.name, c.roles) for c in first.contributors] == [("Saeko Shu", ("Artist",))]
    assert (second.isrc, second.duration_s) == ("JPTO09404910", 102.0)  # PT1M42S
    assert second.title == "Yume no Hajimari - Kaze no Okuri Mono (Introduction)"
    assert (last.reference, last.isrc, last.duration_s) == ("A21", "JPTO09332830", 226.0)
    assert last.title == "Kitto Shiawase (NHK Minna no Uta)"
    assert last.file is not None and last.file.location == "0094631432057_01_021.wav"

    main = message.main_release
    assert main is not None
    assert (main.ids.icpn, main.title, main.type) == ("00094631432057", "Yume no Hajmari", "Album")
    assert (main.label, main.genre) == ("EMI MUSIC JAPAN INC.", "J-Pop")
    assert main.track_references == tuple(f"A{i}" for i in range(1, 22))
    assert len(message.releases) == 22
    track_release = message.releases[1]
    assert (track_release.type, track_release.track_references) == ("TrackRelease", ("A1",))
    assert track_release.ids.proprietary[0].value == "00094631432057_JPTO09404900_R1"


def test_43_audio_availability_from_deals() -> None:
    message = _read("ern43/1_Audio.xml")
    rows = message.availability(as_of=date(2020, 1, 1))
    album = {(r.territory, r.use_type) for r in rows if r.release_reference == "R0"}
    assert album == {("JP", "PermanentDownload"), ("JP", "ConditionalDownload")}
    assert all(r.available and r.reason == "deal" for r in rows)
    before = message.availability(as_of=date(2000, 1, 1))
    assert {r.reason for r in before} == {"not_started"}


def test_42_single_hand_verified() -> None:
    message = _read("ern42/4_SimpleAudioSingle.xml")
    assert message.version == "4.2"
    assert (message.header.message_id, message.header.control_type) == ("W83814161", "LiveMessage")
    assert (message.header.sender.name, message.header.created) == (
        "Warner Music Group",
        "2017-04-25T15:00:29.947Z",
    )
    (track,) = message.tracks
    assert (track.reference, track.isrc, track.title) == ("A1", "GBAYC1700598", "RIOPY: I Love You")
    assert track.display_artist == "RIOPY"
    assert track.duration_s == pytest.approx(263.583)  # PT4M23.583S
    assert track.file is not None
    assert track.file.uri == "resources/190295810726_00001_LL.flac"
    assert track.file.hash == ddex.HashSum("MD5", "db7dd2f3bb9b322646e3f4d7b65b47ab")
    (release,) = message.releases
    assert (release.type, release.ids.grid, release.label) == (
        "SingleResourceRelease",
        "A10302B0003989564F",
        "Warner Classics",
    )
    assert release.track_references == ("A1",)


def test_42_album_matches_43_album() -> None:
    """4.2 keeps ISRC and File directly on SoundRecording; 4.3 moved them into editions."""
    v42, v43 = _read("ern42/1_Audio.xml"), _read("ern43/1_Audio.xml")
    assert [(t.isrc, t.title, t.duration_s) for t in v42.tracks] == [
        (t.isrc, t.title, t.duration_s) for t in v43.tracks
    ]
    assert [t.file.uri for t in v42.tracks if t.file] == [t.file.uri for t in v43.tracks if t.file]


@pytest.mark.parametrize(
    "relative",
    [
        "ern43/2_Video.xml",
        "ern42/2_Video.xml",
        "ern411/2_Video.xml",
        "ern43/5_SimpleVideoSingle.xml",
        "ern341/VideoAlbum_10.xml",
    ],
)
def test_video_only_messages_have_no_tracks(relative: str) -> None:
    message = _read(relative)
    assert message.tracks == ()
    assert any(r.kind == "Video" for r in message.other_resources)
    assert ddex.to_inspect_json(message, [])["tracks"] == []


def test_mixed_media_reports_only_sound_recordings() -> None:
    message = _read("ern43/3_MixedMedia.xml")
    assert len(message.tracks) == 14
    assert sum(r.kind == "Video" for r in message.other_resources) == 3
    video_refs = {r.reference for r in message.other_resources}
    assert not video_refs & {t.reference for t in message.tracks}


def test_dj_mix_sources_are_supplemental_not_tracks() -> None:
    message = _read("ern43/8_DjMix.xml")
    assert [t.reference for t in message.tracks] == ["A1"]
    assert len(message.sound_recordings) == 9
    codes = {f.code for f in ddex.validate(message)}
    assert "unused_resource" not in codes  # the mix's sources are used through RelatedResource


def test_purge_release_message_and_test_flag() -> None:
    message = _read("ern382/dedex_017_purged_release.xml")
    assert message.message_type == "PurgeReleaseMessage"
    assert message.is_test_message
    (purged,) = message.purged_releases
    assert (purged.ids.grid, purged.ids.icpn, purged.ids.catalog_number, purged.title) == (
        "AxxxxxxxxxxxZ",
        "7665431654967",
        "46567987654",
        "Whoa",
    )
    assert "test_message" in {f.code for f in ddex.validate(message)}
    document = ddex.to_inspect_json(message, [])
    assert document["control_type"] == "TestMessage"
    assert document["releases"][0]["title"] == "Whoa"


def test_utf8_artist_names_and_file_path() -> None:
    message = _read("ern382/dedex_016_utf8_artists.xml")
    first = message.tracks[0]
    assert first.file is not None
    assert first.file.location == "resources/763331950658_01_01.mp3"
    assert first.file.hash == ddex.HashSum("MD5", "d351fb62ac2f10dcb8cbf298b106ca12")
    assert any(not name.isascii() for t in message.tracks for name in [t.display_artist or ""])


def test_legacy_35_message_reads_with_an_info_finding() -> None:
    message = _read("ern341/AudioSingle_10.xml")
    assert message.version == "3.5"
    assert message.tracks[0].isrc == "CASE00000001"
    assert any(f.code == "legacy_version" and f.severity == "info" for f in message.findings)


EDGE_ERRORS = {
    "002_erroneous_xml.xml": ("not well-formed XML", 157),
    "003_version_not_supported.xml": ("unsupported ERN version '113'", 11),
    "004_xmlns_ern_missing.xml": ("missing namespace declaration", 10),
}
EDGE_FINDINGS = {
    "005_not_valid_xsd.xml": {"missing_deal"},
    "006_zero_sound_recordings.xml": {"no_sound_recordings", "dangling_resource_reference"},
    "007_zero_image.xml": {"dangling_resource_reference", "no_front_cover_image"},
    "008_one_image_not_front.xml": {"no_front_cover_image"},
    "009_no_main_release.xml": {"no_main_release"},
    "010_no_album_release.xml": {"release_type_track_count_mismatch"},
    "011_one_resource_unused.xml": {"unused_resource"},
    "012_missing_isrc.xml": {"missing_isrc", "unused_resource"},
    "013_isrc_empty_string.xml": {"missing_isrc"},
    "014_missing_deal.xml": {"missing_deal"},
}


def test_every_edge_case_is_covered() -> None:
    assert {p.name for p in EDGE_DIR.glob("*.xml")} == set(EDGE_ERRORS) | set(EDGE_FINDINGS)


@pytest.mark.parametrize("name", sorted(EDGE_ERRORS))
def test_edge_case_unreadable_gives_clear_error(name: str) -> None:
    reason, line = EDGE_ERRORS[name]
    path = EDGE_DIR / name
    with pytest.raises(ddex.ErnReadError) as caught:
        ddex.read_file(path)
    assert reason in caught.value.reason
    assert caught.value.line == line
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("name", sorted(EDGE_FINDINGS))
def test_edge_case_gives_expected_findings(name: str) -> None:
    message = ddex.read_file(EDGE_DIR / name)
    codes = {f.code for f in ddex.validate(message)}
    assert EDGE_FINDINGS[name] <= codes


def test_edge_case_findings_are_specific() -> None:
    """The findings point at the right thing, not just the right kind of thing."""
    unused = ddex.validate(ddex.read_file(EDGE_DIR / "011_one_resource_unused.xml"))
    (finding,) = [f for f in unused if f.code == "unused_resource"]
    assert "A2" in finding.message and finding.location.startswith("/NewReleaseMessage/Resource")
    missing = ddex.validate(ddex.read_file(EDGE_DIR / "012_missing_isrc.xml"))
    (isrc,) = [f for f in missing if f.code == "missing_isrc"]
    assert (isrc.severity, "A4" in isrc.message) == ("error", True)
    assert isrc.line == 219  # the <SoundRecording> that lacks the SoundRecordingId
    deal = ddex.validate(ddex.read_file(EDGE_DIR / "014_missing_deal.xml"))
    assert [f.message for f in deal if f.code == "missing_deal"] == [
        "release R9 has no deal, so it is not available"
    ]
    dangling = ddex.validate(ddex.read_file(EDGE_DIR / "007_zero_image.xml"))
    assert ["A7" in f.message for f in dangling if f.code == "dangling_resource_reference"] == [
        True
    ]
