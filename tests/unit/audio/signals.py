"""Test signals and encoders: tones and noise written with soundfile, lossy formats encoded
with PyAV (no system package needed)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile

from integrity.audio.records import resample

FIXTURE_RATE_HZ = 44_100
FIXTURE_SECONDS = 3.0
MEBIBYTE = 1 << 20
GIBIBYTE = 1 << 30

# format name -> (suffix, PyAV container format, PyAV codec, encode rate) for lossy fixtures
PYAV_ENCODINGS: dict[str, tuple[str, str, str, int]] = {
    "mp3": (".mp3", "mp3", "libmp3lame", 44_100),
    "m4a": (".m4a", "ipod", "aac", 44_100),
    "opus": (".opus", "ogg", "libopus", 48_000),
    "ogg_pyav": (".oga", "ogg", "libvorbis", 44_100),
}
ALL_FORMATS = ("wav", "flac", "ogg", "mp3", "m4a", "opus")


def tone(
    seconds: float,
    rate: int = FIXTURE_RATE_HZ,
    *,
    frequency_hz: float = 440.0,
    amplitude: float = 0.5,
    channels: int = 2,
) -> np.ndarray:
    """A sine with a little noise (so lossy encoders have something real to code)."""
    t = np.arange(round(seconds * rate)) / rate
    rng = np.random.default_rng(7)
    mono = amplitude * np.sin(2 * np.pi * frequency_hz * t) + 0.01 * rng.standard_normal(t.size)
    return np.repeat(mono[:, None], channels, axis=1).astype(np.float32)


def encode_pyav(samples: np.ndarray, rate: int, path: Path, container: str, codec: str) -> Path:
    """Encode (frames, channels) float32 with PyAV's bundled FFmpeg encoders."""
    channels = samples.shape[1]
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        block = 1024
        pts = 0
        for start in range(0, samples.shape[0], block):
            chunk = np.ascontiguousarray(samples[start : start + block].T)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate = rate
            frame.pts = pts
            frame.time_base = Fraction(1, rate)
            pts += chunk.shape[1]
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def write_format(name: str, samples: np.ndarray, rate: int, folder: Path, stem: str) -> Path:
    """Write `samples` in one of ALL_FORMATS (or 'ogg_pyav')."""
    if name in ("wav", "flac", "ogg"):
        suffix = {"wav": ".wav", "flac": ".flac", "ogg": ".ogg"}[name]
        path = folder / f"{stem}{suffix}"
        soundfile.write(path, samples, rate)
        return path
    suffix, container, codec, encode_rate = PYAV_ENCODINGS[name]
    if encode_rate != rate:
        samples = np.stack(
            [resample(np.ascontiguousarray(c), rate, encode_rate) for c in samples.T], axis=1
        )
    return encode_pyav(samples, encode_rate, folder / f"{stem}{suffix}", container, codec)
