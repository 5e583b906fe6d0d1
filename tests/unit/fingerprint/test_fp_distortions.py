"""Each distortion family of the threat model finds the right track, offset, scale and pitch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from integrity.fingerprint import extract
from integrity.fingerprint.index import FingerprintIndex

from .fp_helpers import (
    INDEXED_MUSIC,
    SR,
    add_noise,
    have_stretcher,
    reencode,
    speed,
    stretch,
    track_id,
)

QUERY_S = 10.0
SOURCE_S = 14.0  # cut from the reference before distorting, so stretched queries still last 10 s
OFFSET_TOLERANCE_S = 0.5
SCALE_TOLERANCE = 0.02  # relative
PITCH_TOLERANCE_ST = 0.3

needs_stretcher = pytest.mark.skipif(not have_stretcher(), reason="needs rubberband or sox")

Transform = Callable[[np.ndarray], np.ndarray]

# name -> (transform, expected time_scale (ref s per query s), expected pitch (semitones))
DISTORTIONS: dict[str, tuple[Transform, float, float]] = {
    "mp3_32k": (lambda x: reencode(x, "libmp3lame", 32_000, "mp3"), 1.0, 0.0),
    "aac_96k": (lambda x: reencode(x, "aac", 96_000, "adts"), 1.0, 0.0),
    "opus_64k": (lambda x: reencode(x, "libopus", 64_000, "ogg"), 1.0, 0.0),
    "noise_10db": (lambda x: add_noise(x, 10.0), 1.0, 0.0),
    "noise_0db": (lambda x: add_noise(x, 0.0), 1.0, 0.0),
    "speed_+10%": (lambda x: speed(x, 1.10), 1.10, 12 * np.log2(1.10)),
    "speed_-10%": (lambda x: speed(x, 0.90), 0.90, 12 * np.log2(0.90)),
    "speed_+3%": (lambda x: speed(x, 1.03), 1.03, 12 * np.log2(1.03)),
}
STRETCHES: dict[str, tuple[Transform, float, float]] = {
    "pitch_+2st": (lambda x: stretch(x, semitones=2.0), 1.0, 2.0),
    "pitch_-2st": (lambda x: stretch(x, semitones=-2.0), 1.0, -2.0),
    "tempo_+10%": (lambda x: stretch(x, tempo=1.10), 1.10, 0.0),
    "tempo_-10%": (lambda x: stretch(x, tempo=0.90), 0.90, 0.0),
    "chain": (
        lambda x: reencode(
            add_noise(stretch(x, semitones=1.0, tempo=1.05), 10.0), "libmp3lame", 64_000, "mp3"
        ),
        1.05,
        1.0,
    ),
}
# (track, reference start in s) pairs queried for every distortion.
PROBES = ((track_id(INDEXED_MUSIC[4]), 40.0), (track_id(INDEXED_MUSIC[2]), 8.5))


def _check(
    index: FingerprintIndex,
    library: dict[str, np.ndarray],
    transform: Transform,
    scale: float,
    pitch: float,
) -> None:
    for tid, start in PROBES:
        x = library[tid]
        source = x[int(start * SR) : int((start + SOURCE_S) * SR)]
        query = transform(source)[: int(QUERY_S * SR)]
        matches = index.query(extract(query, SR))
        assert matches, f"{tid}@{start}: no match"
        best = matches[0]
        assert best.track_id == tid
        # Reference time of the query's first sample, from the reported offsets and scale.
        ref_start = best.ref_offset_s - best.time_scale * best.query_offset_s
        assert abs(ref_start - start) <= OFFSET_TOLERANCE_S, (ref_start, start)
        assert abs(best.time_scale / scale - 1) <= SCALE_TOLERANCE, best.time_scale
        assert abs(best.pitch_semitones - pitch) <= PITCH_TOLERANCE_ST, best.pitch_semitones
        assert 0.0 < best.score <= 1.0
        assert best.matched_s > 3.0


def test_clean_excerpt(embedded_index: FingerprintIndex, library: dict[str, np.ndarray]) -> None:
    _check(embedded_index, library, lambda x: x, 1.0, 0.0)


@pytest.mark.parametrize("name", list(DISTORTIONS))
def test_distortion(
    name: str, embedded_index: FingerprintIndex, library: dict[str, np.ndarray]
) -> None:
    _check(embedded_index, library, *DISTORTIONS[name])


@needs_stretcher
@pytest.mark.parametrize("name", list(STRETCHES))
def test_stretch(
    name: str, embedded_index: FingerprintIndex, library: dict[str, np.ndarray]
) -> None:
    _check(embedded_index, library, *STRETCHES[name])


# The wide ranges (issue: pitch ±4 st, speed and tempo ±20 %), on every backend: the query side
# of the matcher (denser query peaks, band margin, scale and pitch search) is shared, but each
# backend answers the probed keys itself.
WIDE: dict[str, tuple[Transform, float, float]] = {
    "speed_+20%": (lambda x: speed(x, 1.20), 1.20, 12 * np.log2(1.20)),
    "speed_-20%": (lambda x: speed(x, 0.80), 0.80, 12 * np.log2(0.80)),
}
WIDE_STRETCHES: dict[str, tuple[Transform, float, float]] = {
    "pitch_+4st": (lambda x: stretch(x, semitones=4.0), 1.0, 4.0),
    "pitch_-4st": (lambda x: stretch(x, semitones=-4.0), 1.0, -4.0),
    "tempo_+20%": (lambda x: stretch(x, tempo=1.20), 1.20, 0.0),
    "tempo_-20%": (lambda x: stretch(x, tempo=0.80), 0.80, 0.0),
}


@pytest.mark.parametrize("name", list(WIDE))
def test_wide_speed(name: str, any_index: FingerprintIndex, library: dict[str, np.ndarray]) -> None:
    _check(any_index, library, *WIDE[name])


@needs_stretcher
@pytest.mark.parametrize("name", list(WIDE_STRETCHES))
def test_wide_stretch(
    name: str, any_index: FingerprintIndex, library: dict[str, np.ndarray]
) -> None:
    _check(any_index, library, *WIDE_STRETCHES[name])


@needs_stretcher
def test_band_views_pool_their_evidence_at_one_alignment(
    embedded_index: FingerprintIndex, library: dict[str, np.ndarray]
) -> None:
    """Copies shifted 2 semitones are found through the reference view and the band views;
    their hits agree on one time map and pitch, so the pooled alignment never has less evidence
    than the best of them alone, and over the probes it has more."""
    from integrity.fingerprint import Fingerprint
    from integrity.fingerprint import constants as fc

    band = [i for i, (factor, _) in enumerate(fc.QUERY_VIEWS) if factor == 1.0]
    gained = 0.0
    for tid, start in PROBES:
        (ordinal,) = embedded_index._ordinals([tid])
        x = library[tid]
        for semitones in (2.0, -2.0):
            query = stretch(x[int(start * SR) : int((start + SOURCE_S) * SR)], semitones=semitones)
            fp = extract(query[: int(QUERY_S * SR)], SR)
            core = fp.hashes["core"]
            plain = core <= 1
            groups = [plain] + [core == fc.QUERY_VIEW_CORE_BASE + i for i in band]

            def evidence(mask: np.ndarray, fp: Fingerprint = fp, ordinal: int = ordinal) -> float:
                hashes = fp.hashes[mask]
                found = embedded_index.alignments(Fingerprint(hashes, fp.duration_s))
                return max((al.evidence for al in found if al.track == ordinal), default=0.0)

            alone = max(evidence(g) for g in groups)
            pooled = evidence(np.logical_or.reduce(groups))
            assert pooled >= alone, (tid, semitones, pooled, alone)
            gained += pooled - alone
    assert gained > 0
