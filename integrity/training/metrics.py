"""Detection metrics with bootstrap confidence intervals (resampling whole sources)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from integrity.training import constants as t

CI_LEVEL = 0.95  # two-sided confidence level of every interval reported


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, scores))


def eer(labels: np.ndarray, scores: np.ndarray) -> float:
    """Equal error rate: where the false-positive and false-negative rates cross."""
    if len(np.unique(labels)) < 2:
        return float("nan")
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1.0 - tpr
    i = int(np.nanargmin(np.abs(fnr - fpr)))
    return float((fpr[i] + fnr[i]) / 2.0)


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, target: float = 0.01) -> float:
    """Share of positives caught with a threshold letting at most `target` negatives through."""
    negatives = np.sort(scores[labels == 0])
    positives = scores[labels == 1]
    if negatives.size == 0 or positives.size == 0:
        return float("nan")
    allowed = int(np.floor(target * negatives.size))  # negatives allowed above the threshold
    threshold = negatives[negatives.size - allowed - 1]
    return float(np.mean(positives > threshold))


def threshold_at_fpr(negative_scores: np.ndarray, target: float) -> float:
    """Smallest threshold t such that flagging scores >= t flags at most `target` negatives."""
    s = np.sort(negative_scores)
    allowed = int(np.floor(target * s.size))
    return float(np.nextafter(s[s.size - allowed - 1], np.inf))


def bootstrap_ci(
    metric: Callable[[np.ndarray, np.ndarray], float],
    labels: np.ndarray,
    scores: np.ndarray,
    groups: Sequence[str],
    *,
    rounds: int = t.BOOTSTRAP_ROUNDS,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of a metric over bootstrap resamples of whole groups (sources)."""
    rng = np.random.default_rng(seed)
    keys = np.array(groups)
    unique = np.unique(keys)
    members = {k: np.nonzero(keys == k)[0] for k in unique}
    values = []
    for _ in range(rounds):
        pick = rng.choice(unique, size=unique.size, replace=True)
        idx = np.concatenate([members[k] for k in pick])
        v = metric(labels[idx], scores[idx])
        if np.isfinite(v):
            values.append(v)
    if not values:
        return (float("nan"), float("nan"))
    alpha = (1.0 - CI_LEVEL) / 2.0
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1.0 - alpha))


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    """Exact binomial interval for k successes in n trials."""
    from scipy.stats import beta

    if n == 0:
        return (float("nan"), float("nan"))
    alpha = 1.0 - CI_LEVEL
    lo = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi
