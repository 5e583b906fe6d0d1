"""Sender velocity and bulk templates: many near-identical deliveries from one sender."""

from __future__ import annotations

import re
from collections import Counter

import ddex
from integrity.detection.metadata import constants as c
from integrity.detection.metadata._common import _loc, _per_message, _spec
from integrity.detection.metadata.context import CatalogContext
from integrity.detection.metadata.text import fold
from integrity.findings import FindingSpec


def velocity_findings(context: CatalogContext) -> list[FindingSpec]:
    """Tracks per day from one sender above named thresholds, or far above its own history.

    Messages name the threshold, not the live count (that goes to the evidence), so the same
    observation keeps the same finding key while the counts move on a rescan.
    """
    specs: list[FindingSpec] = []
    day = context.sender_tracks_24h
    earlier_days = c.SENDER_HISTORY_DAYS - 1
    mean = max(context.sender_tracks_30d - day, 0) / earlier_days
    evidence = {
        "sender": context.sender,
        "tracks_24h": day,
        "tracks_30d": context.sender_tracks_30d,
        "daily_mean_before": round(mean, 2),
    }
    if day >= c.SENDER_TRACKS_24H_INFO:
        severity = "warning" if day >= c.SENDER_TRACKS_24H_WARNING else "info"
        limit = c.SENDER_TRACKS_24H_WARNING if severity == "warning" else c.SENDER_TRACKS_24H_INFO
        specs.append(
            _spec(
                severity,
                "spam_sender_velocity",
                f"sender {context.sender} delivered {limit} or more new tracks in 24 h",
                None,
                threshold=limit,
                **evidence,
            )
        )
    if day >= c.SENDER_SPIKE_MIN_TRACKS_24H and day >= c.SENDER_SPIKE_RATIO * max(mean, 1.0):
        specs.append(
            _spec(
                "warning",
                "spam_sender_velocity_spike",
                f"sender {context.sender} delivered {c.SENDER_SPIKE_RATIO:.0f}x or more its "
                f"daily mean of the previous {earlier_days} days in 24 h (counts in evidence)",
                None,
                ratio_threshold=c.SENDER_SPIKE_RATIO,
                **evidence,
            )
        )
    return specs


_TEMPLATE_DIGITS = re.compile(r"\d+")


def title_template(title: str) -> str:
    """A title with its numbers masked: "Rain Sounds 12" and "rain sounds 7" share one."""
    return _TEMPLATE_DIGITS.sub("#", fold(title))


def template_findings(recording: ddex.SoundRecording, message: ddex.Message) -> list[FindingSpec]:
    """Bulk titles from one template within a delivery ("Sleep Rain 1" … "Sleep Rain 200")."""
    if not recording.title:
        return []
    counts: Counter[str] = _per_message(
        message,
        "templates",
        lambda: Counter(title_template(t.title) for t in message.tracks if t.title),
    )
    titles = sum(counts.values())
    mine = title_template(recording.title)
    same = counts[mine]
    if same < c.TEMPLATE_MIN_TRACKS or same / titles < c.TEMPLATE_MIN_SHARE:
        return []
    return [
        _spec(
            "warning",
            "spam_bulk_template_titles",
            f"{same} of the delivery's {titles} tracks share the title template {mine!r}",
            _loc(recording),
            template=mine,
            tracks=same,
            delivery_tracks=titles,
        )
    ]
