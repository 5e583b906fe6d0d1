"""Duration gaming: tracks cut just past the royalty threshold."""

from __future__ import annotations

import ddex
from integrity.detection.metadata import constants as c
from integrity.detection.metadata._common import _loc, _per_message, _spec
from integrity.detection.metadata.names import functional_keywords
from integrity.findings import FindingSpec


def _recordings(message: ddex.Message) -> dict[str, ddex.SoundRecording]:
    return _per_message(
        message, "recordings", lambda: {s.reference: s for s in message.sound_recordings}
    )


def _is_ringtone(recording: ddex.SoundRecording, release: ddex.Release | None) -> bool:
    kinds = " ".join(k for k in (recording.type, release.type if release else None) if k)
    return any(marker in kinds.casefold() for marker in c.RINGTONE_MARKERS)


def _near_threshold(duration: float | None) -> bool:
    return duration is not None and c.ROYALTY_THRESHOLD_S <= duration <= c.NEAR_THRESHOLD_MAX_S


def duration_findings(
    recording: ddex.SoundRecording, release: ddex.Release | None, message: ddex.Message
) -> list[FindingSpec]:
    """Tracks cut just over 30 s, releases made of them, and functional noise under 2 min."""
    duration = recording.duration_s
    if duration is None or _is_ringtone(recording, release):
        return []
    location = _loc(recording)
    specs: list[FindingSpec] = []
    siblings = [
        s
        for ref in (release.track_references if release else ())
        if (s := _recordings(message).get(ref)) is not None
    ] or [recording]
    near = [s for s in siblings if _near_threshold(s.duration_s)]
    mostly = (
        len(siblings) >= c.RELEASE_NEAR_THRESHOLD_MIN_TRACKS
        and len(near) / len(siblings) > c.RELEASE_NEAR_THRESHOLD_SHARE
    )
    if _near_threshold(duration):
        alone = len(siblings) == 1
        severity = "warning" if alone or mostly else "info"
        specs.append(
            _spec(
                severity,
                "spam_duration_near_30s",
                f"track lasts {duration:.0f} s, just over the {c.ROYALTY_THRESHOLD_S:.0f}-s "
                "royalty threshold" + (" (the only track of its release)" if alone else ""),
                location,
                duration_s=duration,
                release_tracks=len(siblings),
                release_tracks_near_30s=len(near),
            )
        )
    if mostly:
        specs.append(
            _spec(
                "warning",
                "spam_release_mostly_near_30s",
                f"{len(near)} of the release's {len(siblings)} tracks last "
                f"{c.ROYALTY_THRESHOLD_S:.0f}-{c.NEAR_THRESHOLD_MAX_S:.0f} s",
                _loc(release),
                release_tracks=len(siblings),
                release_tracks_near_30s=len(near),
                durations_s=[s.duration_s for s in siblings],
            )
        )
    keywords = functional_keywords(
        recording.title, recording.display_artist, release.title if release else None
    )
    if duration < c.FUNCTIONAL_MIN_DURATION_S and len(keywords) >= c.FUNCTIONAL_MIN_HITS:
        specs.append(
            _spec(
                "warning",
                "spam_functional_short",
                f"functional audio ({', '.join(keywords)}) lasting {duration:.0f} s, under the "
                f"{c.FUNCTIONAL_MIN_DURATION_S:.0f} s such tracks need",
                location,
                duration_s=duration,
                keywords=keywords,
            )
        )
    return specs
