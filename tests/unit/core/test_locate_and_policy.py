"""Pure pieces of the pipeline: file resolution inside a delivery, discovery, the policy."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from integrity.catalog.assets import locate_audio_file
from integrity.catalog.policy import (
    MODEL_REVIEW_FPR_BUDGET,
    FindingFacts,
    ModelThresholds,
    Policy,
    PolicyError,
    load_policy,
    with_model_defaults,
)
from integrity.catalog.scan import ScanInputError, discover_deliveries


@pytest.fixture()
def delivery(tmp_path: Path) -> Path:
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "a.flac").write_bytes(b"x")
    (tmp_path / "top.mp3").write_bytes(b"x")
    (tmp_path.parent / "outside.mp3").write_bytes(b"x")
    return tmp_path


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("resources/a.flac", "resources/a.flac"),
        ("file:resources/a.flac", "resources/a.flac"),
        ("other/dir/top.mp3", "top.mp3"),  # uploads carry files by bare name
        ("resources\\a.flac", "resources/a.flac"),
    ],
)
def test_references_resolve_inside_the_delivery(delivery, reference, expected):
    assert locate_audio_file(delivery, reference).path == (delivery / expected).resolve()


@pytest.mark.parametrize(
    "reference",
    ["../outside.mp3", "/etc/passwd", "resources/../../outside.mp3", "https://evil.example/a.mp3"],
)
def test_references_never_escape_the_delivery(delivery, reference):
    located = locate_audio_file(delivery, reference)
    assert located.path is None
    assert located.problem


def test_symlinks_are_refused(delivery):
    (delivery / "link.mp3").symlink_to(delivery.parent / "outside.mp3")
    located = locate_audio_file(delivery, "link.mp3")
    assert located.path is None
    assert "regular file" in (located.problem or "")


def test_discovery_accepts_files_folders_and_folders_of_folders(tmp_path):
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "m.xml").write_text("<x/>")
    assert len(discover_deliveries([tmp_path])) == 2
    assert discover_deliveries([tmp_path / "one"])[0].message_filename == "m.xml"
    assert discover_deliveries([tmp_path / "one" / "m.xml"])[0].directory == tmp_path / "one"
    with pytest.raises(ScanInputError, match="no such file"):
        discover_deliveries([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScanInputError, match="no ERN message"):
        discover_deliveries([tmp_path / "empty"])


def test_default_policy_takes_the_strongest_action_and_keeps_every_reason():
    policy = Policy()
    assert policy.decide(findings=[], scores={}).action == "clear"
    decision = policy.decide(
        findings=[
            FindingFacts("audio_file_missing", "error", "file 'a.mp3' not found"),
            FindingFacts("ai_none_with_ai_contribution", "error", "ContainsAI=None but ..."),
        ],
        scores={},
    )
    assert decision.action == "review"
    assert decision.reasons == (
        "the audio file named in the message is missing: file 'a.mp3' not found",
        "the AI disclosure in the message is inconsistent: ContainsAI=None but ...",
    )
    # Informational AI notes do not send a track to review...
    note = FindingFacts("ai_note", "info", "x")
    assert policy.decide(findings=[note], scores={}).action == "clear"
    # ...but an honest "fully AI-generated" declaration keeps the track out of recommendations.
    declared = FindingFacts("ai_declared_generated", "info", "declared ContainsAI=All")
    assert policy.decide(findings=[declared], scores={}).action == "filter"


def test_policy_file_overrides_defaults(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(
        '[[finding]]\ncode = "duplicate_*"\naction = "block"\nreason = "re-upload"\n'
        '[[score]]\nscore = "synthetic"\nat_least = 0.9\naction = "filter"\nreason = "AI"\n'
    )
    policy = load_policy(path)
    duplicate = FindingFacts("duplicate_audio", "warning", "same recording as track 1")
    decision = policy.decide(findings=[duplicate], scores={"synthetic": 0.95})
    assert decision.action == "block"
    assert decision.reasons == ("re-upload: same recording as track 1", "AI (synthetic 0.95)")
    assert policy.decide(findings=[], scores={"synthetic": 0.5}).action == "clear"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[finding]]\ncode = "x"\naction = "nuke"\nreason = "r"\n', "action must be one of"),
        ('[[score]]\nscore = "s"\nat_least = 2\naction = "block"\nreason = "r"\n', "probability"),
        ('[[finding]]\naction = "block"\nreason = "r"\n', "'code' is required"),
        ("[[finding]\n", "policy.toml"),
    ],
)
def test_bad_policy_files_name_the_file_and_rule(tmp_path, text, message):
    path = tmp_path / "policy.toml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=message) as info:
        load_policy(path)
    assert str(path) in str(info.value)


def _measured(review: float, negatives: int, rate: float, upper: float) -> ModelThresholds:
    """Operating points as `integrity train fit` writes them (review = filter, measured)."""
    return ModelThresholds(
        review=review,
        filter=review,
        block=0.99,
        review_fpr=0.003,
        filter_fpr=0.003,
        negatives=negatives,
        review_fpr_measured=rate,
        review_fpr_upper=upper,
    )


def test_model_operating_points_become_default_score_rules():
    points = _measured(0.5, 1200, 0.0025, 0.0073)
    policy = with_model_defaults(Policy(), {"synthetic": points})
    assert policy.decide(findings=[], scores={"synthetic": 0.4}).action == "clear"
    review = policy.decide(findings=[], scores={"synthetic": 0.6})
    assert (review.action, review.models) == ("review", ("synthetic",))
    assert "0.25% of 1,200 held-out real recordings" in review.reasons[0]
    assert "at most 0.73% at 95 % confidence" in review.reasons[0]
    # A model score alone never filters or blocks, however high.
    assert policy.decide(findings=[], scores={"synthetic": 0.999}).action == "review"
    # An operating point whose measured FPR may exceed the budget sends nothing anywhere.
    loose = replace(points, review_fpr_upper=MODEL_REVIEW_FPR_BUDGET * 1.5)
    assert with_model_defaults(Policy(), {"synthetic": loose}).decide(
        findings=[], scores={"synthetic": 0.999}
    ).action == "clear"
    # Nor does one that was never measured (an old artifact without the measurement).
    unmeasured = replace(points, review_fpr_upper=math.nan)
    assert with_model_defaults(Policy(), {"synthetic": unmeasured}).decide(
        findings=[], scores={"synthetic": 0.999}
    ).action == "clear"


def test_a_policy_file_rule_for_a_model_replaces_its_defaults(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(
        '[[score]]\nscore = "synthetic"\nat_least = 0.7\naction = "review"\nreason = "AI?"\n'
    )
    points = _measured(0.1, 2000, 0.002, 0.005)
    policy = with_model_defaults(load_policy(path), {"synthetic": points, "spam": points})
    assert policy.decide(findings=[], scores={"synthetic": 0.5}).action == "clear"
    assert policy.decide(findings=[], scores={"synthetic": 0.95}).action == "review"
    assert policy.decide(findings=[], scores={"spam": 0.95}).action == "review"
