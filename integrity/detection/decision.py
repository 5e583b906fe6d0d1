"""Audio-only decision: scores against each model's own operating points.

A stand-in for the policy module (integrity.policy), which will weigh metadata, duplicates and
sender history too; the signature (scores in, decision and reasons out) is what it replaces.
"""

from __future__ import annotations

from collections.abc import Mapping

from integrity.detection.registry import OperatingPoints, load_model

DECISIONS = ("clear", "review", "filter", "block")
LABELS = {"synthetic": "AI-generated audio", "spam": "spam audio"}


def decide_audio_only(
    scores: Mapping[str, float],
    operating_points: Mapping[str, OperatingPoints] | None = None,
) -> tuple[str, list[str]]:
    """Most severe of the per-model decisions, with a sentence per threshold crossed.

    review: score >= the model's review threshold (chosen for a 2 % false-positive rate on real
    audio); filter: >= the operating point (chosen for 0.3 %); block: >= the block probability
    as well. Thresholds come from the shipped models' calibration.json unless given.
    """
    decision = "clear"
    reasons: list[str] = []
    for name, p in scores.items():
        points = (operating_points or {}).get(name) or load_model(name).operating_points
        label = LABELS.get(name, name)
        if p >= points.block:
            level = "block"
            why = f"{label} score {p:.3f} is at or above the block threshold {points.block:.3f}"
        elif p >= points.filter:
            level = "filter"
            why = (
                f"{label} score {p:.3f} is at or above the operating point {points.filter:.3f} "
                f"(chosen for a {points.filter_fpr:.1%} false-positive rate on real audio)"
            )
        elif p >= points.review:
            level = "review"
            why = (
                f"{label} score {p:.3f} is at or above the review threshold {points.review:.3f} "
                f"(chosen for a {points.review_fpr:.1%} false-positive rate on real audio)"
            )
        else:
            continue
        reasons.append(why + ".")
        if DECISIONS.index(level) > DECISIONS.index(decision):
            decision = level
    return decision, reasons
