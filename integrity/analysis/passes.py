"""The whole analysis of one decoded stream: measure, fingerprint and features in bounded memory.

Pass 1 streams the decode into the measurer, the fingerprint spectrogram and the trim scan,
keeping a copy of the samples only while they fit in `retain_bytes`. The features then need the
samples twice more (to place the trim cut to the sample, then to cut segments out of the
resampled track); they come from that copy, or, for longer files, from decoding again.

Peak memory (see benchmarks/analysis_memory.py for the measured figures):
    interpreter and libraries + min(decoded size, retain_bytes) + PER_SECOND_BYTES x duration
where PER_SECOND_BYTES covers the fingerprint spectrogram (twice, while its percentile is
taken) and the measurer's frame levels; the features keep a bounded number of windows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from integrity.audio import AudioProbe
from integrity.audio.measurements import AudioMeasurements, Measurer
from integrity.audio.records import Stream, output_rate
from integrity.features.extract import FeatureVector, features_of_prepared
from integrity.features.prepare import (
    Prepared,
    SegmentCapture,
    TrimLocator,
    TrimScan,
    audible,
)
from integrity.fingerprint.extract import Fingerprint, FingerprintStream

if TYPE_CHECKING:
    from integrity.audio._decoders import Decoded

DEFAULT_RETAIN_BYTES = 256 * 1024 * 1024
"""Decoded samples kept for the later passes (bytes; ~23 min at 48 kHz): longer files are
decoded again instead, so ordinary tracks are decoded once and four-hour ones stay bounded."""
PER_SECOND_BYTES = 76_000
"""Upper bound of what the analysis keeps per second of audio beyond the retained samples
(bytes/s). By design: 2 x 62.5 spectrogram frames x 99 float32 bins (49.5 KB, the spectrogram
and its percentile copy) + 100 silence-frame and 20 loudness-edge float64 values (0.96 KB);
measured on a 4-hour 8-kHz noise file: (1491 MiB peak - 472 MiB child base) / 14,400 s =
74.2 KB/s with the peak and triplet work arrays, 54.3 KB/s at 48 kHz
(benchmarks/analysis_memory.py); rounded up, with the retained copy as a separate term."""

Decoding = Callable[[Callable[[AudioProbe], Stream]], "Decoded"]
"""Runs one decode of the file, streaming it to the consumer made for the probe it finds."""


@dataclass(frozen=True)
class StreamAnalysis:
    """What the passes learnt about one file."""

    probe: AudioProbe
    sample_rate: int
    backend: str
    measurements: AudioMeasurements
    fingerprint: Fingerprint
    features: FeatureVector
    decodes: int


class _FirstPass:
    """Measurer, fingerprint and trim scan fed together, plus the bounded copy."""

    def __init__(self, rate: int, retain_bytes: int) -> None:
        self.rate = rate
        self.meter = Measurer(rate)
        self.fingerprint = FingerprintStream(rate)
        self.scan = TrimScan()
        self.retain_bytes = retain_bytes
        self.retained: list[np.ndarray] | None = []
        self._kept = 0

    def feed(self, block: np.ndarray) -> None:
        self.meter.feed(block)
        self.fingerprint.feed(block)
        self.scan.feed(block)
        if self.retained is not None:
            self._kept += block.nbytes
            if self._kept > self.retain_bytes:
                self.retained = None  # too long to keep: the later passes decode again
            else:
                self.retained.append(block.copy())


def analyse_stream(
    decoding: Decoding, *, retain_bytes: int = DEFAULT_RETAIN_BYTES
) -> StreamAnalysis:
    """Run the passes over `decoding` (called once, or three times for files beyond
    `retain_bytes`); raises whatever the decode raises for a bad file."""
    attempts: list[_FirstPass] = []

    def first(probe: AudioProbe) -> Stream:
        attempts.append(_FirstPass(output_rate(probe, None), retain_bytes))
        return Stream(attempts[-1].feed, probe.channels)

    decoded = decoding(first)
    state = attempts[-1]
    decodes = 1

    def replay(make: Callable[[], Callable[[np.ndarray], None]]) -> None:
        nonlocal decodes
        if state.retained is not None:
            feed = make()
            for block in state.retained:
                feed(block)
            return
        decodes += 1
        decoding(lambda probe: Stream(make(), probe.channels))

    # The fingerprint first: its spectrogram is the largest thing held, and goes with it.
    fingerprint = state.fingerprint.finish()
    measurements = state.meter.result()
    features = features_of_prepared(_prepare(state, replay))
    return StreamAnalysis(
        probe=decoded.probe,
        sample_rate=decoded.sample_rate,
        backend=decoded.backend,
        measurements=measurements,
        fingerprint=fingerprint,
        features=features,
        decodes=decodes,
    )


def _prepare(
    state: _FirstPass, replay: Callable[[Callable[[], Callable[[np.ndarray], None]]], None]
) -> Prepared | None:
    """The features' second and third passes (None when nothing is audible)."""
    plan = state.scan.plan()
    if plan is None:
        return None
    locators: list[TrimLocator] = []

    def locator() -> Callable[[np.ndarray], None]:
        locators.append(TrimLocator(plan))
        return locators[-1].feed

    replay(locator)
    start, stop = locators[-1].span()
    if not audible(state.rate, start, stop):
        return None
    captures: list[SegmentCapture] = []

    def capture() -> Callable[[np.ndarray], None]:
        captures.append(SegmentCapture(state.rate, start, stop, plan.total))
        return captures[-1].feed

    replay(capture)
    return captures[-1].prepared()
