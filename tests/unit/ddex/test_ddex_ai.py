"""AI disclosure (ERN 4.3.1+): ContainsAI, AiContribution, SpecialContributor=GenerativeAI.

No public message carries these fields yet, so the messages are built by ``ern432``
(tests/unit/ddex/conftest.py), which follows the 4.3.2 schema.
"""

from __future__ import annotations

import pytest

import ddex

HUMAN = ("PArtist", "Composer", None)
GEN_AI = ("GenerativeAI", "Composer", None)


def _codes(data: bytes) -> dict[str, str]:
    return {f.code: f.severity for f in ddex.inspect(data)[1]}


def test_ai_fields_come_out_in_the_model(ern432) -> None:
    data = ern432(
        [
            {
                "ref": "A1",
                "contains_ai": "Partly",
                "contributors": [("PArtist", "Composer", "Partly"), GEN_AI],
                "has_vocal": True,
                "is_cover": False,
            },
            {"ref": "A2", "isrc": "QZABC2500002", "contains_ai": "None", "has_vocal": False},
        ],
        release_contains_ai="Partly",
    )
    message, findings = ddex.inspect(data)
    assert message.version == "4.3.2"
    first, second = message.tracks
    assert first.ai.contains_ai == "Partly"
    assert (first.has_vocal_performance, first.is_cover) == (True, False)
    human, machine = first.contributors
    assert (human.name, human.roles, human.ai_contribution) == (
        "The Artist",
        ("Composer",),
        "Partly",
    )
    assert machine.is_generative_ai and machine.special == "GenerativeAI"
    assert machine.ai_contribution is None and machine.effective_ai_contribution == "All"
    assert [c.special for c in first.ai.contributions] == [None, "GenerativeAI"]
    assert (second.ai.contains_ai, second.has_vocal_performance, second.ai.contributions) == (
        "None",
        False,
        (),
    )
    assert message.main_release is not None and message.main_release.contains_ai == "Partly"
    assert not [f for f in findings if f.code.startswith("ai_")]


def test_ai_fields_in_the_json_contract(ern432) -> None:
    data = ern432([{"contains_ai": "All", "contributors": [GEN_AI]}], release_contains_ai="All")
    message, findings = ddex.inspect(data)
    track = ddex.to_inspect_json(message, findings)["tracks"][0]
    assert track["contains_ai"] == "All"
    assert track["ai_contributions"] == [
        {
            "contributor": "GenerativeAI",
            "special_contributor": "GenerativeAI",
            "roles": ["Composer"],
            "ai_contribution": "All",
        }
    ]


def test_contains_all_allows_only_generative_ai_contributors(ern432) -> None:
    codes = _codes(ern432([{"contains_ai": "All", "contributors": [GEN_AI, HUMAN]}]))
    assert codes["ai_all_with_human_contributor"] == "error"


def test_contains_none_forbids_ai_contributions(ern432) -> None:
    partly = _codes(
        ern432([{"contains_ai": "None", "contributors": [("PArtist", "Composer", "Partly")]}])
    )
    assert partly["ai_none_with_ai_contribution"] == "error"
    generative = _codes(ern432([{"contains_ai": "None", "contributors": [GEN_AI]}]))
    assert generative["ai_none_with_ai_contribution"] == "error"


def test_release_none_but_track_partly(ern432) -> None:
    data = ern432(
        [{"contains_ai": "Partly", "contributors": [("PArtist", "Composer", "Partly")]}],
        release_contains_ai="None",
    )
    findings = [f for f in ddex.inspect(data)[1] if f.code == "ai_release_track_mismatch"]
    assert [(f.severity, "A1" in f.message) for f in findings] == [("error", True)]
    assert findings[0].location.startswith("/NewReleaseMessage/ReleaseList/Release[1]")


def test_release_all_but_track_none_is_a_warning(ern432) -> None:
    data = ern432([{"contains_ai": "None"}], release_contains_ai="All")
    assert _codes(data)["ai_release_track_mismatch"] == "warning"


def test_ai_contribution_without_contains_ai(ern432) -> None:
    data = ern432([{"contributors": [("PArtist", "Composer", "Partly")]}])
    assert _codes(data)["ai_undeclared_contains_ai"] == "warning"


def test_human_contributor_cannot_contribute_all(ern432) -> None:
    data = ern432([{"contains_ai": "Partly", "contributors": [("PArtist", "Composer", "All")]}])
    assert _codes(data)["ai_contribution_all_by_non_ai_contributor"] == "warning"


@pytest.mark.parametrize("value", ["Some", "all", "yes"])
def test_invalid_ai_value(ern432, value: str) -> None:
    message, findings = ddex.inspect(ern432([{"contains_ai": value}]))
    assert message.tracks[0].ai.contains_ai == value
    (finding,) = [f for f in findings if f.code == "ai_invalid_value"]
    assert finding.severity == "error" and value in finding.message


def test_ai_fields_in_a_version_without_them_are_noted(ern432) -> None:
    data = ern432(
        [{"contains_ai": "All", "contributors": [GEN_AI]}], namespace="http://ddex.net/xml/ern/43"
    )
    message = ddex.read_message(data)
    assert message.version == "4.3"
    assert message.tracks[0].ai.contains_ai == "All"
    assert "ai_fields_unsupported_version" in {f.code for f in message.findings}


def test_every_ai_code_starts_with_ai(ern432) -> None:
    data = ern432(
        [
            {"ref": "A1", "contains_ai": "All", "contributors": [HUMAN]},
            {"ref": "A2", "isrc": "QZABC2500002", "contains_ai": "None", "contributors": [GEN_AI]},
        ],
        release_contains_ai="None",
    )
    ai_words = ("ContainsAI", "AiContribution", "GenerativeAI")
    findings = ddex.inspect(data)[1]
    about_ai = [f for f in findings if any(w in f.message for w in ai_words)]
    assert len(about_ai) >= 3
    assert all(f.code.startswith("ai_") for f in about_ai)
