"""AI disclosure: what the ERN declares against what the detectors found."""

from __future__ import annotations

import ddex
from ddex.model import AI_ALL, AI_NONE
from integrity.detection.metadata import constants as c
from integrity.detection.metadata._common import _loc, _spec
from integrity.findings import FindingSpec


def declared_contains_ai(
    recording: ddex.SoundRecording, release: ddex.Release | None = None
) -> str | None:
    """The track's ContainsAI, else its release's, else "Partly"/"All" if a contributor is AI."""
    if recording.ai.contains_ai is not None:
        return recording.ai.contains_ai
    contributions = {
        x.effective_ai_contribution for x in (*recording.ai.contributions, *recording.contributors)
    }
    for value in ("All", "Partly"):
        if value in contributions:
            return value
    return release.contains_ai if release is not None else None


def undeclared_synthetic_finding(
    declared: str | None,
    synthetic_score: float,
    *,
    threshold: float = c.AI_UNDECLARED_SYNTHETIC_THRESHOLD,
    location: str | None = None,
) -> FindingSpec | None:
    """``ai_undeclared_synthetic``: ContainsAI None or absent, yet the model says synthetic."""
    if synthetic_score < threshold or declared not in (None, AI_NONE):
        return None
    said = "declares ContainsAI=None" if declared == AI_NONE else "declares nothing about AI"
    return _spec(
        "warning",
        "ai_undeclared_synthetic",
        # The score itself goes to the evidence: the message (and so the finding's identity)
        # must not change when a rescan moves the score a little.
        f"the message {said}, but the synthetic-audio model scores it above {threshold:.2f}",
        location,
        declared_contains_ai=declared,
        synthetic_score=synthetic_score,
        threshold=threshold,
    )


def ai_disclosure_findings(
    recording: ddex.SoundRecording,
    release: ddex.Release | None,
    synthetic_score: float | None,
    *,
    threshold: float = c.AI_UNDECLARED_SYNTHETIC_THRESHOLD,
) -> list[FindingSpec]:
    """What the track declares about AI, and the mismatch with the synthetic model's score.

    A track declared fully AI-generated is noted (info) so the policy can keep it out of
    recommendations, as platforms do with honest AI disclosures.
    """
    declared = declared_contains_ai(recording, release)
    specs = []
    if declared == AI_ALL:
        specs.append(
            _spec(
                "info",
                "ai_declared_generated",
                "the message declares the recording fully AI-generated (ContainsAI=All)",
                _loc(recording),
                declared_contains_ai=declared,
            )
        )
    if synthetic_score is None:
        return specs
    spec = undeclared_synthetic_finding(
        declared,
        synthetic_score,
        threshold=threshold,
        location=_loc(recording),
    )
    return [*specs, spec] if spec else specs
