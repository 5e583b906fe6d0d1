"""Metadata signals on the example deliveries, crafted ERN messages and the DDEX samples."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

import ddex
from integrity.catalog.policy import FindingFacts, Policy
from integrity.detection.metadata import (
    CatalogContext,
    IcpnUse,
    IsrcUse,
    ProtectedArtist,
    ProtectedArtists,
    ai_disclosure_findings,
    edit_distance,
    generated_name_evidence,
    load_protected_artists,
    metadata_findings,
    placeholder_reason,
    skeleton,
    title_findings,
    undeclared_synthetic_finding,
    velocity_findings,
)
from integrity.detection.metadata import constants as c
from tests.conftest import DDEX_SAMPLES_DIR, REPO_ROOT
from tests.unit.detection.metadata_ern import NS_432, SENDER_DPID, message

EXAMPLES = REPO_ROOT / "examples" / "deliveries"
SWIFT_ISNI = "0000000078519858"


def _codes(specs: list) -> dict[str, str]:
    """code → worst severity."""
    order = {"error": 0, "warning": 1, "info": 2}
    out: dict[str, str] = {}
    for spec in specs:
        if spec.code not in out or order[spec.severity] < order[out[spec.code]]:
            out[spec.code] = spec.severity
    return out


def _one_track(msg: ddex.Message, context: CatalogContext | None = None, **kwargs) -> dict:
    (track,) = msg.tracks
    return _codes(metadata_findings(track, msg, context, **kwargs))


def _artist(name: str, isni: str | None = None, **kwargs) -> ddex.Message:
    return message(
        [{"artist": name}], parties={"PArtist": (name, isni)}, release_artist=name, **kwargs
    )


# --- example deliveries -----------------------------------------------------------------------


def test_rain_sounds_single_is_spam_on_metadata_alone() -> None:
    msg = ddex.read_file(EXAMPLES / "rain-sounds-single" / "NewReleaseMessage.xml")
    (track,) = msg.tracks
    specs = metadata_findings(track, msg, track_id=7, release_id=3)
    codes = _codes(specs)
    for code in (
        "spam_title_url",
        "spam_title_hashtag",
        "spam_title_handle",
        "spam_title_repeated_keywords",
        "spam_duration_near_30s",
        "spam_functional_short",
        "spam_upc_placeholder",
        "spam_artist_name_keywords",
    ):
        assert codes[code] == "warning", code
    assert all(s.source == "metadata" and (s.track_id, s.release_id) == (7, 3) for s in specs)
    json.dumps([s.evidence for s in specs])  # stored in a JSON column
    upc = next(s for s in specs if s.code == "spam_upc_placeholder")
    assert upc.evidence["icpn"] == "123123123123"
    assert "placeholder" in upc.message
    hashtags = next(s for s in specs if s.code == "spam_title_hashtag")
    assert hashtags.evidence["hashtags"] == ["#sleep", "#rain", "#relax"]
    decision = Policy().decide(
        findings=[FindingFacts(s.code, s.severity, s.message) for s in specs], scores={}
    )
    assert decision.action == "review"


def test_night_ferry_album_has_no_spam_warning() -> None:
    msg = ddex.read_file(EXAMPLES / "night-ferry-album" / "NewReleaseMessage.xml")
    specs = [s for t in msg.tracks for s in metadata_findings(t, msg)]
    assert [s for s in specs if s.severity != "info"] == []
    # Its 35-s closing track is an interlude on a four-track album: noted, not escalated; its
    # honest ContainsAI=All declaration on "Paper Moons" is noted too.
    assert {s.code for s in specs} <= {"spam_duration_near_30s", "ai_declared_generated"}
    assert [s.track_id for s in specs if s.code == "ai_declared_generated"] == [None]


# --- impersonation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Taylor Swlft", "lookalike"),
        ("T4ylor Swift", "lookalike"),
        ("T\u0430ylor Swift", "lookalike"),  # Cyrillic а
        ("TAYLOR  SWIFT!", "exact"),
        ("Taylr Swift", "near"),
        ("Tayolr Swift", "near"),
        ("Taylor Swift x Lo-Fi", "contained"),
        ("TaylorSwiftLofi", "contained"),
        ("Beyonce", "exact"),
        ("Ed Sheeran Piano Covers", "contained"),
    ],
)
def test_impersonation_is_caught(name: str, kind: str) -> None:
    msg = _artist(name)
    (track,) = msg.tracks
    specs = [s for s in metadata_findings(track, msg) if s.code == "spam_artist_impersonation"]
    assert specs, name
    assert specs[0].severity == "warning"
    assert specs[0].evidence["match"] == kind
    assert specs[0].evidence["display_artist"] == name
    json.dumps(specs[0].evidence)


def test_real_artist_with_matching_isni_is_not_flagged() -> None:
    protected = ProtectedArtists([ProtectedArtist("Taylor Swift", frozenset({SWIFT_ISNI}))])
    context = CatalogContext(protected=protected)
    assert not [
        c for c in _one_track(_artist("Taylor Swift", SWIFT_ISNI), context) if "artist" in c
    ]
    # The same name with another ISNI, or none, is an impersonation.
    assert (
        _one_track(_artist("Taylor Swift", "0000000012345678"), context)[
            "spam_artist_impersonation"
        ]
        == "warning"
    )
    assert _one_track(_artist("Taylor Swift"), context)["spam_artist_impersonation"] == "warning"
    # A look-alike spelling stays suspicious even when it carries the real ISNI.
    assert _one_track(_artist("Taylor Swlft", SWIFT_ISNI), context) == {}  # ids prove it
    assert "spam_artist_impersonation" in _one_track(_artist("Taylor Swlft", "1"), context)


def test_sender_entitled_to_the_artist_is_not_flagged() -> None:
    protected = ProtectedArtists([ProtectedArtist("Taylor Swift", frozenset({SENDER_DPID}))])
    assert _one_track(_artist("Taylor Swift"), CatalogContext(protected=protected)) == {}


def test_exact_name_with_ids_but_no_known_ids_is_only_noted() -> None:
    codes = _one_track(_artist("Taylor Swift", SWIFT_ISNI))
    assert codes == {"spam_artist_protected_name_unverified": "info"}


def test_featured_famous_artist_without_ids() -> None:
    msg = message(
        [
            {
                "artist": "Mara Lindqvist feat. Ed Sheeran",
                "artists": [("PArtist", "MainArtist"), ("PFeat", "FeaturedArtist")],
            }
        ],
        parties={"PArtist": ("Mara Lindqvist", None), "PFeat": ("Ed Sheeran", None)},
    )
    codes = _one_track(msg)
    assert codes["spam_featured_artist_unverified"] == "warning"
    assert "spam_artist_impersonation" not in codes


def test_famous_names_in_titles() -> None:
    featured = _one_track(message([{"title": "Summer Nights (feat. Ed Sheeran)"}]))
    assert featured["spam_featured_artist_unverified"] == "warning"
    borrowed = _one_track(message([{"title": "Lullaby Renditions of Billie Eilish Vol. 2"}]))
    assert borrowed["spam_title_famous_artist"] == "warning"
    assert _one_track(message([{"title": "Walking With A Ghost"}])) == {}


@pytest.mark.parametrize(
    "name", ["Adela", "Mara Lindqvist", "Tegan and Sara", "Drake Bell", "Dean Paul", "Rihannon"]
)
def test_ordinary_names_are_not_impersonations(name: str) -> None:
    assert _one_track(_artist(name)) == {}


def test_look_alike_folding() -> None:
    assert skeleton("T4ylor $wift") == skeleton("Taylor Swift") == skeleton("Taylor Swlft")
    assert skeleton("\u0422\u0430ylor Swift") == skeleton("Taylor Swift")  # Cyrillic Т, а
    assert skeleton("Beyoncé") == skeleton("BEYONCE")
    assert edit_distance("tayiorswift", "taylrswift", 3) == 2
    assert edit_distance("abcd", "abdc", 2) == 1  # one swap
    assert edit_distance("a", "abcdef", 2) == 3  # capped at limit + 1


def test_protected_list_loads_default_and_operator_file(tmp_path: Path) -> None:
    default = load_protected_artists()
    assert len(default) >= 300
    assert load_protected_artists() is default  # cached
    extra = tmp_path / "protected.txt"
    extra.write_text("# ours\nTaylor Swift | 0000 0000 7851 9858, PADPIDA0000000001\nMara Moon\n")
    merged = load_protected_artists(extra)
    assert len(merged) == len(default) + 1
    swift = merged.match("Taylor Swift")
    assert swift is not None and swift.artist.ids == {SWIFT_ISNI, "PADPIDA0000000001"}
    assert merged.match("Mara M00n") is not None


def test_settings_name_the_operator_file(tmp_path: Path) -> None:
    from integrity.config import Settings

    settings = Settings(data_dir=tmp_path, protected_artists_file=tmp_path / "p.txt")
    assert settings.protected_artists_file == tmp_path / "p.txt"


# --- titles and names -----------------------------------------------------------------------


def _title_codes(title: str) -> dict[str, str]:
    return _codes(
        title_findings(
            title, label="track title", location=None, protected=load_protected_artists()
        )
    )


def test_stuffed_title_signals() -> None:
    assert _title_codes("Chill Beats 🔥🔥🔥 vibes") == {"spam_title_emoji": "warning"}
    assert _title_codes("Go to https://beats.example/now") == {"spam_title_url": "warning"}
    assert _title_codes("stream it on beatsforyou.com") == {"spam_title_url": "warning"}
    assert _title_codes("follow @lofi_girl") == {"spam_title_handle": "warning"}
    assert _title_codes("Study Music Focus Music Study Beats")["spam_title_repeated_keywords"]
    assert _title_codes("SLEEP MUSIC FOR DEEP RELAXATION") == {"spam_title_all_caps": "info"}
    long_title = " ".join(["calm"] + [f"word{i}" for i in range(c.TITLE_MAX_WORDS)])
    assert _title_codes(long_title)["spam_title_too_long"] == "info"


@pytest.mark.parametrize(
    "title",
    [
        "I Know I Know I Know",
        "Monday Monday Monday (Live At The Phoenix: 2005)",
        "New York, New York",
        "We're #1",
        "Can you feel ...the Monkey Claw!",
        'Vivaldi: Concerto For Violin And Strings In F Major, Op.8, No.3, RV 293 "L\'autunno". '
        "1 Allegro (Ballo, e canto de' villanelli)",
        "RIOPY: I Love You",
        "Love Me ❤",
    ],
)
def test_real_titles_are_not_stuffed(title: str) -> None:
    assert _title_codes(title) == {}


GENERATED = [
    "Xkqzvbt Prlmnq",
    "zxqvbnm",
    "aSdFgHjK",
    "x7k9q2z4",
    "Bmrtplk Qzxwv",
    "Kqzx Fjwp Lmnb",
    "Dream Xqjzpt",
    "fjdkslqpw",
]


@pytest.mark.parametrize("name", GENERATED)
def test_generated_names_are_caught(name: str) -> None:
    evidence = generated_name_evidence(name)
    assert evidence is not None and evidence["junk_share"] >= c.SALAD_JUNK_LETTER_SHARE


@pytest.mark.parametrize(
    "name", ["Brrr", "Psst", "MGMT", "Szczepański", "Angstschweiß", "DubSetMedia", "Blink-182"]
)
def test_real_words_are_not_generated(name: str) -> None:
    assert generated_name_evidence(name) is None


@functools.cache
def _sample_messages() -> tuple[ddex.Message, ...]:
    """Every readable DDEX sample (read in place, once per test session)."""
    out = []
    for path in sorted(DDEX_SAMPLES_DIR.rglob("*.xml")):
        try:
            out.append(ddex.read_file(path))
        except ddex.ErnReadError:
            continue
    return tuple(out)


def _sample_names_and_titles() -> tuple[set[str], set[str]]:
    names: set[str] = set()
    titles: set[str] = set()
    for msg in _sample_messages():
        for rec in msg.sound_recordings:
            titles.update(t for t in (rec.title, *(x.text for x in rec.titles)) if t)
            names.update(
                n
                for n in (
                    rec.display_artist,
                    *(a.name for a in rec.display_artists),
                    *(x.name for x in rec.contributors),
                )
                if n
            )
        for rel in msg.releases:
            titles.update(t for t in (rel.title, *(x.text for x in rel.titles)) if t)
            names.update(
                n
                for n in (rel.display_artist, rel.label, *(a.name for a in rel.display_artists))
                if n
            )
        names.update(p.name for p in msg.parties if p.name)
    return names, titles


def test_generated_name_false_positives_on_ddex_samples() -> None:
    names, titles = _sample_names_and_titles()
    assert len(names) > 100 and len(titles) > 200
    flagged_names = sorted(n for n in names if generated_name_evidence(n))
    flagged_titles = sorted(t for t in titles if generated_name_evidence(t))
    protected = [e.artist.name for e in load_protected_artists().entries]
    flagged_protected = sorted(n for n in protected if generated_name_evidence(n))
    print(
        f"\nword-salad false positives: names {len(flagged_names)}/{len(names)}, "
        f"titles {len(flagged_titles)}/{len(titles)}, "
        f"protected-list names {len(flagged_protected)}/{len(protected)}"
        f" {flagged_names + flagged_titles + flagged_protected}"
    )
    assert len(flagged_names) <= 2 and len(flagged_titles) <= 2 and len(flagged_protected) <= 2


def test_sample_artists_are_not_impersonations() -> None:
    names, _titles = _sample_names_and_titles()
    protected = load_protected_artists()
    matched = sorted(n for n in names if protected.match(n))
    print(f"\nprotected-artist matches among {len(names)} sample names: {matched}")
    assert matched == []


def test_metadata_findings_over_every_ddex_sample() -> None:
    """Counts per code over all sample tracks (sample data carries made-up UPCs and titles)."""
    counts: dict[str, int] = {}
    tracks = 0
    for msg in _sample_messages():
        for track in msg.tracks:
            tracks += 1
            for spec in metadata_findings(track, msg):
                json.dumps(spec.evidence)
                key = f"{spec.code}/{spec.severity}"
                counts[key] = counts.get(key, 0) + 1
    print(f"\nmetadata findings over {tracks} sample tracks: {dict(sorted(counts.items()))}")
    allowed = {
        "spam_bulk_template_titles",  # 014_missing_deal: "Track Title 1" ... "Track Title 9"
        "spam_upc_placeholder",  # 014_missing_deal: UPC 1199119911991
        "spam_isrc_placeholder",  # USRE10700700-style: designation 00000 or one digit repeated
        "spam_duration_near_30s",
    }
    assert {k.split("/")[0] for k in counts} <= allowed
    assert tracks > 100


# --- duration ---------------------------------------------------------------------------------


def test_release_mostly_near_30_seconds() -> None:
    tracks = [
        {"ref": f"A{i}", "isrc": f"GBAYC26000{i:02d}", "title": f"Piece {i}", "duration": d}
        for i, d in enumerate(["PT31S", "PT32S", "PT33S", "PT3M10S"], start=1)
    ]
    msg = message(tracks)
    specs = [s for t in msg.tracks for s in metadata_findings(t, msg)]
    per_code = {s.code for s in specs}
    assert "spam_release_mostly_near_30s" in per_code
    near = [s for s in specs if s.code == "spam_duration_near_30s"]
    assert len(near) == 3 and {s.severity for s in near} == {"warning"}


def test_ringtones_and_normal_tracks_are_not_duration_gaming() -> None:
    ringtone = message([{"duration": "PT30S"}], release_type="RingtoneRelease")
    assert "spam_duration_near_30s" not in _one_track(ringtone)
    assert "spam_duration_near_30s" not in _one_track(message([{"duration": "PT29S"}]))
    assert "spam_duration_near_30s" not in _one_track(message([{"duration": "PT36S"}]))


def test_functional_noise_under_two_minutes() -> None:
    short = message([{"title": "White Noise for Deep Sleep", "duration": "PT1M10S"}])
    assert _one_track(short)["spam_functional_short"] == "warning"
    long = message([{"title": "White Noise for Deep Sleep", "duration": "PT10M"}])
    assert "spam_functional_short" not in _one_track(long)
    one_word = message([{"title": "Rain", "duration": "PT1M50S"}])
    assert "spam_functional_short" not in _one_track(one_word)


# --- identifiers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("isrc", "flagged"),
    [
        ("USABC0000000", True),
        ("USABC7777777", True),
        ("USABC2600000", True),
        ("GBAYC2600001", False),
        ("USRE10700700", False),
    ],
)
def test_isrc_placeholders(isrc: str, flagged: bool) -> None:
    codes = _one_track(message([{"isrc": isrc}]))
    assert ("spam_isrc_placeholder" in codes) is flagged


def test_malformed_isrc_is_noted() -> None:
    assert _one_track(message([{"isrc": "NOT-AN-ISRC"}]))["spam_isrc_malformed"] == "info"


@pytest.mark.parametrize(
    ("icpn", "flagged"),
    [
        ("123123123123", True),
        ("000000000000", True),
        ("1234567890128", True),
        ("121212121212", True),
        ("4006381333931", False),
        ("093624970989", False),
    ],
)
def test_upc_placeholders(icpn: str, flagged: bool) -> None:
    assert ("spam_upc_placeholder" in _one_track(message(icpn=icpn))) is flagged
    assert (placeholder_reason(icpn, check_digit=True) is not None) is flagged


def test_reused_isrc_fires_from_context() -> None:
    msg = message()
    context = CatalogContext(
        sender="PADPIDA2014120301X",
        asset_sha256="a" * 64,
        isrc_uses=(IsrcUse(track_id=11, sender="PADPIDA0000000009", asset_sha256="b" * 64),),
    )
    (track,) = msg.tracks
    specs = metadata_findings(track, msg, context)
    codes = _codes(specs)
    assert codes["spam_isrc_reused_different_audio"] == "warning"
    assert codes["spam_isrc_reused_other_sender"] == "warning"
    audio = next(s for s in specs if s.code == "spam_isrc_reused_different_audio")
    assert audio.evidence["other_track_ids"] == [11]
    # Same audio from the same sender (a redelivery) is not reuse.
    same = CatalogContext(
        sender="S",
        asset_sha256="a" * 64,
        isrc_uses=(IsrcUse(track_id=11, sender="S", asset_sha256="a" * 64),),
    )
    assert _one_track(msg, same) == {}
    # Before the audio is analysed, declared hash sums decide.
    declared = CatalogContext(
        sender="S",
        declared_hash="md5:aa",
        isrc_uses=(IsrcUse(track_id=11, sender="S", asset_sha256=None, declared_hash="md5:bb"),),
    )
    assert "spam_isrc_reused_different_audio" in _one_track(msg, declared)


def test_reused_icpn_from_context_and_within_a_message() -> None:
    context = CatalogContext(
        sender="S", icpn_uses=(IcpnUse("4006381333931", 5, "OTHER", "Another Album"),)
    )
    codes = _one_track(message(), context)
    assert codes["spam_icpn_reused"] == "warning"
    twice = message(extra_release_icpn="4006381333931")
    assert _one_track(twice)["spam_icpn_reused"] == "warning"


# --- AI disclosure ------------------------------------------------------------------------------


def test_undeclared_synthetic() -> None:
    threshold = c.AI_UNDECLARED_SYNTHETIC_THRESHOLD
    absent = undeclared_synthetic_finding(None, 0.97)
    assert absent is not None and absent.code == "ai_undeclared_synthetic"
    assert absent.severity == "warning" and absent.evidence["declared_contains_ai"] is None
    declared_none = undeclared_synthetic_finding("None", threshold)
    assert declared_none is not None and "ContainsAI=None" in declared_none.message
    assert undeclared_synthetic_finding("Partly", 0.99) is None
    assert undeclared_synthetic_finding("All", 0.99) is None
    assert undeclared_synthetic_finding(None, threshold - 0.01) is None
    assert undeclared_synthetic_finding(None, 0.6, threshold=0.5) is not None


def test_ai_disclosure_on_crafted_432_messages() -> None:
    none_declared = message([{"contains_ai": "None"}], namespace=NS_432)
    (track,) = none_declared.tracks
    assert [s.code for s in ai_disclosure_findings(track, None, 0.95)] == [
        "ai_undeclared_synthetic"
    ]
    assert ai_disclosure_findings(track, None, None) == []
    partly = message([{"contains_ai": "Partly"}], namespace=NS_432)
    assert ai_disclosure_findings(partly.tracks[0], None, 0.99) == []
    codes = _one_track(none_declared, synthetic_score=0.99)
    assert codes == {"ai_undeclared_synthetic": "warning"}
    decision = Policy().decide(
        findings=[FindingFacts(code, severity, code) for code, severity in codes.items()],
        scores={},
    )
    assert decision.action == "review"


# --- velocity and templates ---------------------------------------------------------------------


def _ctx(day: int, month: int) -> CatalogContext:
    return CatalogContext(sender="S", sender_tracks_24h=day, sender_tracks_30d=month)


def test_sender_velocity_thresholds() -> None:
    history = 29 * 100  # a steady sender: 100 tracks a day
    assert velocity_findings(_ctx(c.SENDER_TRACKS_24H_INFO - 1, 499 + history)) == []
    info = _codes(velocity_findings(_ctx(c.SENDER_TRACKS_24H_INFO, 500 + history)))
    assert info == {"spam_sender_velocity": "info"}
    day = c.SENDER_TRACKS_24H_WARNING
    warn = _codes(velocity_findings(_ctx(day, day + 29 * 1000)))
    assert warn == {"spam_sender_velocity": "warning"}
    # A rescan with moved counts is the same observation: same finding key, new evidence.
    first, later = (velocity_findings(_ctx(n, n + 29 * 1000))[0] for n in (day, day + 70))
    assert first.key(1) == later.key(1) and first.evidence != later.evidence


def test_sender_velocity_spike_against_own_history() -> None:
    quiet = 29 * 5  # five tracks a day before
    assert _codes(velocity_findings(_ctx(150, 150 + quiet))) == {
        "spam_sender_velocity_spike": "warning"
    }
    assert velocity_findings(_ctx(c.SENDER_SPIKE_MIN_TRACKS_24H - 1, 99)) == []
    assert velocity_findings(_ctx(120, 120 + 29 * 20)) == []  # 6x its mean: busy, not a flood
    new_sender = velocity_findings(_ctx(c.SENDER_SPIKE_MIN_TRACKS_24H, 100))
    assert [s.code for s in new_sender] == ["spam_sender_velocity_spike"]
    assert new_sender[0].evidence["tracks_24h"] == c.SENDER_SPIKE_MIN_TRACKS_24H


def test_bulk_template_titles_in_one_delivery() -> None:
    bulk = message(
        [
            {"ref": f"A{i}", "isrc": f"GBAYC26000{i:02d}", "title": f"Deep Focus Beat {i}"}
            for i in range(1, 7)
        ]
    )
    specs = [s for t in bulk.tracks for s in metadata_findings(t, bulk)]
    template = [s for s in specs if s.code == "spam_bulk_template_titles"]
    assert len(template) == 6 and template[0].evidence["tracks"] == 6
    album = message(
        [
            {"ref": f"A{i}", "isrc": f"GBAYC26000{i:02d}", "title": title}
            for i, title in enumerate(
                ["Harbour Lights", "Cold Iron", "Night Ferry", "Paper Moons", "Reprise 1"],
                start=1,
            )
        ]
    )
    assert not [s for t in album.tracks for s in metadata_findings(t, album)]
