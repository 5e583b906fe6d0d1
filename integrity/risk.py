"""How risky a track is, from its current findings: the one formula the review queue, the
console and the track view all read (a pure function of (code, severity, evidence) triples).

It is computed once per change, where findings or decisions change (`integrity.catalog.queue`
stores the result per queued track), never per request over the whole queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

SEVERITY_RISK: dict[str, float] = {"error": 1.0, "warning": 0.6, "info": 0.1}
FINDING_COUNT_RISK = 0.05  # each extra non-info finding adds this much risk...
MAX_RISK = 1.0  # ...up to this cap
RISK_DECIMALS = 4  # risk is rounded to this many decimals
INFO = "info"  # the severity that never counts towards risk
NOT_COUNTED_WEIGHT = -1.0  # an info finding is the top reason only when nothing else is there

Findings = Sequence[tuple[str, str, dict[str, Any]]]
"""A track's current findings as (code, severity, evidence), oldest first."""


def _score(evidence: Any) -> float | None:
    score = evidence.get("score") if isinstance(evidence, dict) else None
    return float(score) if isinstance(score, int | float) else None


def risk_of(findings: Findings) -> tuple[float, list[str]]:
    """Risk in [0, 1] and the reason codes, from a track's (code, severity, evidence)."""
    risk = 0.0
    reasons: list[str] = []
    counted = 0
    for code, severity, evidence in findings:
        if severity == INFO:
            continue
        counted += 1
        risk = max(risk, SEVERITY_RISK.get(severity, 0.0))
        score = _score(evidence)
        if score is not None:
            risk = max(risk, score)
        if code not in reasons:
            reasons.append(code)
    risk = min(MAX_RISK, risk + FINDING_COUNT_RISK * max(0, counted - 1))
    return round(risk, RISK_DECIMALS), reasons


class ReasonFamily(StrEnum):
    """Finding-code families a moderator filters the queue by."""

    DUPLICATE = "duplicate"
    SPAM = "spam"
    AI = "ai"
    OTHER = "other"


_PREFIXED = (ReasonFamily.DUPLICATE, ReasonFamily.SPAM, ReasonFamily.AI)
FAMILY_BITS: dict[ReasonFamily, int] = {
    family: 1 << position for position, family in enumerate(ReasonFamily)
}
"""Each family's bit in a stored set of families (an integer column)."""


def family_of(code: str) -> ReasonFamily:
    """The family a finding code belongs to (by its prefix)."""
    for family in _PREFIXED:
        if code.startswith(family.value + "_"):
            return family
    return ReasonFamily.OTHER


@dataclass(frozen=True, slots=True)
class QueueFacts:
    """What the queue stores of one track: its risk and reasons (`risk_of`), the families of
    those reasons as bits, and which finding is its top reason (an index into the findings)."""

    risk: float
    reasons: list[str]
    families: int
    top: int | None


def queue_facts(findings: Findings) -> QueueFacts:
    """`risk_of` plus the families and the top finding: the most serious one (severity, then
    evidence score, then the oldest); an info finding only when there is nothing else."""
    risk, reasons = risk_of(findings)
    families = 0
    for code in reasons:
        families |= FAMILY_BITS[family_of(code)]
    top: int | None = None
    best: tuple[float, float, int] | None = None
    for index, (_, severity, evidence) in enumerate(findings):
        weight = NOT_COUNTED_WEIGHT if severity == INFO else SEVERITY_RISK.get(severity, 0.0)
        rank = (weight, _score(evidence) or 0.0, -index)
        if best is None or rank > best:
            best, top = rank, index
    return QueueFacts(risk=risk, reasons=reasons, families=families, top=top)
