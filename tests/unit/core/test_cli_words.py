"""What the scan table and `ddex inspect` print, in words: reasons grouped by rule, a duplicate
named by the earlier track and how it differs, absent values never printed as Python's None."""

from __future__ import annotations

from integrity.cli.ddex_cmds import header_line, release_line
from integrity.cli.scan_cmds import duplicate_words, why_lines

DUPLICATE_MESSAGE = 'same recording as track 1 "Harbour Lights" by The Lanterns, played 4.0% faster'


def finding(code: str, message: str, severity: str = "warning", **evidence: object) -> dict:
    return {
        "severity": severity,
        "code": code,
        "source": "test",
        "location": None,
        "message": message,
        "evidence": evidence,
    }


def test_a_duplicate_says_of_which_track_and_how_it_differs():
    dup = finding(
        "duplicate_audio",
        DUPLICATE_MESSAGE,
        track_id=1,
        title="Harbour Lights",
        time_scale=1.0401,
        pitch_semitones=0.03,
    )
    track = {
        "reasons": [
            f"the same recording is in the catalog under other metadata: {DUPLICATE_MESSAGE}"
        ],
        "findings": [dup],
    }
    assert why_lines(track) == [
        "same recording as #1 Harbour Lights, 4 % faster [dim]\\[duplicate_audio][/]"
    ]
    assert duplicate_words(
        {"track_id": 7, "title": "X", "time_scale": 0.9, "pitch_semitones": -1.0}
    ) == ("same recording as #7 X, 10 % slower, pitch -1.0 st")
    assert duplicate_words({"track_id": 2, "title": None, "identical_file": True}) == (
        "same audio file as #2 (no title)"
    )


def test_reasons_of_one_rule_share_a_heading_and_stray_findings_follow():
    url = finding("spam_title_url", "track title contains a web address (a.example)")
    tag = finding("spam_title_hashtag", "track title contains hashtags (#x)")
    failed = finding("track_processing_failed", "x.mp3: corrupt", severity="error")
    info = finding("spam_duration_near_30s", "lasts 35 s", severity="info")
    track = {
        "reasons": [
            f"metadata looks like catalog spam: {url['message']}",
            f"metadata looks like catalog spam: {tag['message']}",
            "spam-like audio, above the review threshold (spam 0.60)",
        ],
        "findings": [url, tag, failed, info],
    }
    assert why_lines(track) == [
        "metadata looks like catalog spam:",
        "· track title contains a web address (a.example) [dim]\\[spam_title_url][/]",
        "· track title contains hashtags (#x) [dim]\\[spam_title_hashtag][/]",
        "spam-like audio, above the review threshold (spam 0.60)",
        "x.mp3: corrupt [dim]\\[track_processing_failed][/]",
    ]


def test_inspect_lines_never_print_none():
    document = {
        "version": "4.3",
        "message_type": "NewReleaseMessage",
        "message_id": None,
        "sender": {"dpid": None, "name": None},
        "control_type": None,
    }
    line = header_line(document)
    assert "None" not in line
    assert line == "ERN 4.3 NewReleaseMessage (no message id) from an unnamed sender"
    document["sender"] = {"dpid": "PADPIDA1", "name": None}
    document["control_type"] = "TestMessage"
    assert header_line(document).endswith("from (PADPIDA1), control type TestMessage")
    release = {"title": None, "display_artist": None, "type": None, "track_isrcs": [None]}
    assert release_line(release) == "release [bold](no title)[/], 1 track"
