"""The degradation chain every clip goes through, real or synthetic, drawn from one distribution.

Why: codecs, band limits and loudness differ between catalog deliveries; if only one class were
encoded, a detector would learn the codec. Both classes get the same random chain, so none of
those properties can separate them.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from integrity.training import constants as t


@dataclass(frozen=True)
class Chain:
    """One draw of the chain; recorded in the manifest so every clip can be rebuilt."""

    bandlimit_hz: int | None
    level_dbfs: float
    codec: str
    encoder: str | None
    bitrate_kbps: int | None
    output_rate_hz: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def draw_chain(rng: np.random.Generator) -> Chain:
    bandlimit = None
    if rng.random() < t.CHAIN_BANDLIMIT_PROBABILITY:
        bandlimit = int(rng.choice(t.CHAIN_BANDLIMIT_RATES_HZ))
    weights = np.array([w for *_, w in t.CHAIN_CODECS])
    codec, encoder, bitrate, _ = t.CHAIN_CODECS[
        int(rng.choice(len(weights), p=weights / weights.sum()))
    ]
    return Chain(
        bandlimit_hz=bandlimit,
        level_dbfs=round(float(rng.uniform(*t.CHAIN_LEVEL_DBFS)), 2),
        codec=codec,
        encoder=encoder,
        bitrate_kbps=bitrate,
        output_rate_hz=int(rng.choice(t.CHAIN_OUTPUT_RATES_HZ)),
    )


def set_level(x: np.ndarray, level_dbfs: float) -> np.ndarray:
    """Scale to an RMS level, then limit peaks (tanh knee above CHAIN_PEAK_DBFS)."""
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) + 1e-12
    y = x * (10 ** (level_dbfs / 20.0) / rms)
    ceiling = 10 ** (t.CHAIN_PEAK_DBFS / 20.0)
    return (ceiling * np.tanh(y / ceiling)).astype(np.float32)


def encode_decode(
    x: np.ndarray, rate: int, encoder: str, bitrate_kbps: int | None, out_rate: int
) -> np.ndarray:
    """Encode with ffmpeg and decode back to mono float32 at out_rate."""
    suffix = {"libmp3lame": ".mp3", "aac": ".m4a", "libopus": ".opus", "libvorbis": ".ogg"}[encoder]
    with tempfile.TemporaryDirectory() as tmp:
        src, enc = Path(tmp) / "in.wav", Path(tmp) / f"enc{suffix}"
        sf.write(str(src), x, rate, subtype="FLOAT")
        enc_rate = 48_000 if encoder == "libopus" else rate
        cmd = [
            "ffmpeg",
            "-nostdin",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(src),
            "-ar",
            str(enc_rate),
            "-c:a",
            encoder,
        ]
        if bitrate_kbps is not None:
            cmd += ["-b:a", f"{bitrate_kbps}k"]
        subprocess.run(
            [*cmd, str(enc)], check=True, capture_output=True, timeout=t.FFMPEG_TIMEOUT_S
        )
        out = subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-loglevel",
                "error",
                "-i",
                str(enc),
                "-f",
                "f32le",
                "-ac",
                "1",
                "-ar",
                str(out_rate),
                "-",
            ],
            check=True,
            capture_output=True,
            timeout=t.FFMPEG_TIMEOUT_S,
        )
    return np.frombuffer(out.stdout, dtype=np.float32).copy()


def apply_chain(x: np.ndarray, rate: int, chain: Chain) -> tuple[np.ndarray, int]:
    """The chain on one clip: band limit, level, codec, output rate."""
    y = x.astype(np.float32)
    if chain.bandlimit_hz is not None and chain.bandlimit_hz < rate:
        y = soxr.resample(soxr.resample(y, rate, chain.bandlimit_hz), chain.bandlimit_hz, rate)
    y = set_level(y, chain.level_dbfs)
    if chain.encoder is None:
        out = soxr.resample(y, rate, chain.output_rate_hz) if rate != chain.output_rate_hz else y
        return out.astype(np.float32), chain.output_rate_hz
    return encode_decode(y, rate, chain.encoder, chain.bitrate_kbps, chain.output_rate_hz), (
        chain.output_rate_hz
    )
