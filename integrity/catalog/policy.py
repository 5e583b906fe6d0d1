"""Policy: scores and findings in, one action with human-readable reasons out.

Actions, mildest first: `clear` (nothing to do), `review` (a moderator looks), `filter` (kept in
the catalog but out of recommendations and editorial surfaces), `block` (not offered at all).
The rules are data: defaults below, overridable by a TOML file (INTEGRITY_POLICY_FILE), so trust &
safety can tune them without a release. The strongest matching rule wins; every matching rule
contributes its reason, so a moderator sees all of them.
"""

from __future__ import annotations

import fnmatch
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

Action = Literal["clear", "review", "filter", "block"]
ACTION_RANK: dict[str, int] = {"clear": 0, "review": 1, "filter": 2, "block": 3}
SEVERITIES = ("info", "warning", "error")


class PolicyError(ValueError):
    """The policy file is malformed; the message names the file and the rule."""


@dataclass(frozen=True)
class FindingRule:
    """Fires when a finding's code matches `code` (a glob) at `min_severity` or worse."""

    code: str
    action: Action
    reason: str
    min_severity: str = "info"

    def matches(self, code: str, severity: str) -> bool:
        return fnmatch.fnmatchcase(code, self.code) and SEVERITIES.index(
            severity
        ) >= SEVERITIES.index(self.min_severity)


@dataclass(frozen=True)
class ScoreRule:
    """Fires when a model's calibrated probability is at least `at_least`."""

    score: str
    at_least: float
    action: Action
    reason: str

    def matches(self, scores: Mapping[str, float]) -> bool:
        value = scores.get(self.score)
        return value is not None and value >= self.at_least


@dataclass(frozen=True)
class FindingFacts:
    """What the policy reads of a finding."""

    code: str
    severity: str
    message: str


@dataclass(frozen=True)
class Decision:
    action: Action
    reasons: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    """The models whose score rules fired (their explanations belong with the reasons)."""


DEFAULT_FINDING_RULES: tuple[FindingRule, ...] = (
    FindingRule("audio_file_missing", "review", "the audio file named in the message is missing"),
    FindingRule("audio_file_not_referenced", "review", "the message names no audio file"),
    FindingRule("audio_decode_failed", "review", "the audio file could not be decoded"),
    FindingRule("audio_hash_mismatch", "review", "the audio file does not match its hash sum"),
    FindingRule("audio_mostly_silent", "review", "the audio is mostly silence"),
    FindingRule(
        "duplicate_*", "review", "the same recording is in the catalog under other metadata"
    ),
    FindingRule(
        "isrc_claimed_by_other_sender",
        "review",
        "the ISRC is already claimed by another sender's track",
    ),
    FindingRule(
        "ai_declared_generated", "filter", "declared fully AI-generated: kept, not recommended"
    ),
    FindingRule("ai_*", "review", "the AI disclosure in the message is inconsistent", "warning"),
    FindingRule("spam_*", "review", "metadata looks like catalog spam", "warning"),
)
DEFAULT_SCORE_RULES: tuple[ScoreRule, ...] = ()


@dataclass(frozen=True)
class Policy:
    finding_rules: tuple[FindingRule, ...] = DEFAULT_FINDING_RULES
    score_rules: tuple[ScoreRule, ...] = DEFAULT_SCORE_RULES
    source: str = "defaults"

    def decide(self, *, findings: Iterable[FindingFacts], scores: Mapping[str, float]) -> Decision:
        """The strongest action among matching rules, with every matching rule's reason.

        A finding's first matching rule applies (so specific rules go before globs); its reason
        reads "rule reason: what the finding says" so a moderator sees the concrete fact.
        """
        action: Action = "clear"
        reasons: list[str] = []
        for finding in findings:
            for finding_rule in self.finding_rules:
                if finding_rule.matches(finding.code, finding.severity):
                    action = _stronger(action, finding_rule.action)
                    _add_reason(reasons, f"{finding_rule.reason}: {finding.message}")
                    break
        strongest: dict[str, ScoreRule] = {}  # a model's strongest matching rule speaks for it
        for rule in self.score_rules:
            if rule.matches(scores):
                held = strongest.get(rule.score)
                if held is None or ACTION_RANK[rule.action] > ACTION_RANK[held.action]:
                    strongest[rule.score] = rule
        for rule in strongest.values():
            action = _stronger(action, rule.action)
            _add_reason(reasons, f"{rule.reason} ({rule.score} {scores[rule.score]:.2f})")
        return Decision(action=action, reasons=tuple(reasons), models=tuple(strongest))


MODEL_LABELS = {"synthetic": "likely AI-generated audio", "spam": "spam-like audio"}


MODEL_REVIEW_FPR_BUDGET = 0.01
"""Highest real-music false-positive rate (upper end of its 95 % interval, measured on held-out
real windows) at which a model's score alone may send a track to review. A model whose operating
point was not measured that well sends nothing anywhere by itself."""


@dataclass(frozen=True)
class ModelThresholds:
    """A model's calibrated operating points and the false-positive rates they were chosen for."""

    review: float
    filter: float
    block: float
    review_fpr: float
    filter_fpr: float
    negatives: int = 0
    """Held-out real examples the thresholds were read from."""
    review_fpr_measured: float = math.nan
    """Share of those held-out real examples at or above the review threshold."""
    review_fpr_upper: float = math.nan
    """Upper end of that share's exact 95 % interval (NaN: not measured)."""

    @property
    def review_within_budget(self) -> bool:
        """Whether the measured review FPR's upper bound is within MODEL_REVIEW_FPR_BUDGET."""
        return math.isfinite(self.review_fpr_upper) and (
            self.review_fpr_upper <= MODEL_REVIEW_FPR_BUDGET
        )


def model_score_rules(name: str, points: ModelThresholds) -> tuple[ScoreRule, ...]:
    """Default score rules from a shipped model's own operating points.

    A model score alone never filters or blocks: withholding or removing a track on a statistical
    score needs a person, or a rule an operator wrote into the policy file on purpose. It sends a
    track to review only when its review threshold's false-positive rate was measured on held-out
    real audio and the upper end of that rate's 95 % interval is within the budget.
    """
    if not points.review_within_budget:
        return ()
    label = MODEL_LABELS.get(name, f"{name} model")
    return (
        ScoreRule(
            name,
            points.review,
            "review",
            f"{label}, above the review threshold ({points.review_fpr_measured:.2%} of "
            f"{points.negatives:,} held-out real recordings score this high; at most "
            f"{points.review_fpr_upper:.2%} at 95 % confidence)",
        ),
    )


def with_model_defaults(policy: Policy, thresholds: Mapping[str, ModelThresholds]) -> Policy:
    """The policy, plus default score rules for every model the policy file says nothing about."""
    covered = {rule.score for rule in policy.score_rules}
    extra = tuple(
        rule
        for name, points in sorted(thresholds.items())
        if name not in covered
        for rule in model_score_rules(name, points)
    )
    if not extra:
        return policy
    return replace(policy, score_rules=policy.score_rules + extra)


def _stronger(current: Action, candidate: Action) -> Action:
    return candidate if ACTION_RANK[candidate] > ACTION_RANK[current] else current


def _add_reason(reasons: list[str], reason: str) -> None:
    if reason not in reasons:
        reasons.append(reason)


def load_policy(path: Path | None) -> Policy:
    """The default policy, or the one in a TOML file (`[[finding]]` and `[[score]]` tables)."""
    if path is None:
        return Policy()
    try:
        document = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"{path}: {exc}") from exc
    return Policy(
        finding_rules=tuple(
            _finding_rule(path, index, raw) for index, raw in enumerate(document.get("finding", []))
        ),
        score_rules=tuple(
            _score_rule(path, index, raw) for index, raw in enumerate(document.get("score", []))
        ),
        source=str(path),
    )


def _finding_rule(path: Path, index: int, raw: dict[str, Any]) -> FindingRule:
    where = f"{path}: [[finding]] #{index + 1}"
    severity = raw.get("min_severity", "info")
    if severity not in SEVERITIES:
        raise PolicyError(f"{where}: min_severity must be one of {SEVERITIES}")
    return FindingRule(
        code=_required(where, raw, "code"),
        action=_action(where, raw),
        reason=_required(where, raw, "reason"),
        min_severity=severity,
    )


def _score_rule(path: Path, index: int, raw: dict[str, Any]) -> ScoreRule:
    where = f"{path}: [[score]] #{index + 1}"
    threshold = raw.get("at_least")
    if not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
        raise PolicyError(f"{where}: at_least must be a probability in [0, 1]")
    return ScoreRule(
        score=_required(where, raw, "score"),
        at_least=float(threshold),
        action=_action(where, raw),
        reason=_required(where, raw, "reason"),
    )


def _required(where: str, raw: dict[str, Any], name: str) -> str:
    value = raw.get(name)
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{where}: field {name!r} is required (a non-empty string)")
    return value


def _action(where: str, raw: dict[str, Any]) -> Action:
    action = raw.get("action")
    if action not in ACTION_RANK:
        raise PolicyError(f"{where}: action must be one of {sorted(ACTION_RANK)}")
    return action  # checked against ACTION_RANK just above
