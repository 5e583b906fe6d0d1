"""Audio material and distortions for the fingerprint tests (generated or read in place)."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from pathlib import Path

import av
import numpy as np
import soundfile as sf
import soxr

from integrity.audio import decode_file
from integrity.fingerprint import FINGERPRINT_SAMPLE_RATE

SR = FINGERPRINT_SAMPLE_RATE
ENCODE_RATE = 22_050

INDEXED_MUSIC = (
    "147793__setuniman__sweet-waltz-0i-22mi.ogg",
    "442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime.ogg",
    "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).ogg",
    "Karissa_Hobbs_-_Lets_Go_Fishin.ogg",
    "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.ogg",
    "Kevin_MacLeod_-_Vibe_Ace.ogg",
)
NON_MEMBERS = (
    "admiralbob77_-_Choice_-_Drum-bass.ogg",
    "pibble.ogg",
    "glacier-bay-humpback.ogg",
    "198-209-0000.ogg",
    "3436-172162-0000.ogg",
    "5703-47212-0000.ogg",
    "sorohanro_-_solo-trumpet-06.ogg",
)


def load(path: Path) -> np.ndarray:
    """Mono float32 at the fingerprint rate (trusted fixture: decoded in-process)."""
    return decode_file(path, sample_rate=SR, sandbox=False).samples


def track_id(name: str) -> str:
    return Path(name).stem[:40]


def reencode(x: np.ndarray, codec: str, bitrate: int, fmt: str) -> np.ndarray:
    """Encode with PyAV at 22.05 kHz and decode back to the fingerprint rate."""
    rate = 48_000 if codec == "libopus" else ENCODE_RATE
    up = soxr.resample(x, SR, rate).astype(np.float32)
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        stream.bit_rate = bitrate
        frame = av.AudioFrame.from_ndarray(up[None, :], format="fltp", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    chunks = []
    with av.open(buf) as inp:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SR)
        for frame in inp.decode(audio=0):
            chunks.extend(f.to_ndarray().ravel() for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray().ravel() for f in resampler.resample(None))
    return np.concatenate(chunks).astype(np.float32)


def add_noise(x: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """White noise at the given signal-to-noise ratio over the whole excerpt."""
    noise = np.random.default_rng(seed).standard_normal(x.size).astype(np.float32)
    gain = np.sqrt(np.mean(x**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    return (x + gain * noise).astype(np.float32)


def speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Play `factor` times faster (pitch and tempo together): resampling, no tool needed."""
    return soxr.resample(x, SR * factor, SR).astype(np.float32)


def have_stretcher() -> bool:
    return shutil.which("rubberband") is not None or shutil.which("sox") is not None


def stretch(x: np.ndarray, *, semitones: float = 0.0, tempo: float = 1.0) -> np.ndarray:
    """Pitch shift (tempo kept) and/or tempo change (pitch kept) with rubberband, else sox."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        sf.write(src, x, SR, subtype="FLOAT")
        if shutil.which("rubberband"):
            cmd = ["rubberband", "-q", "-T", str(tempo), "-p", str(semitones), str(src), str(dst)]
        else:
            cmd = ["sox", str(src), str(dst), "pitch", str(100 * semitones), "tempo", str(tempo)]
        subprocess.run(cmd, check=True, capture_output=True)
        y, _ = sf.read(dst, dtype="float32")
    return y if y.ndim == 1 else y.mean(axis=1)


# --- generated songs sharing a drum loop ---------------------------------------------------


def _env(n: int, attack: int, decay_s: float) -> np.ndarray:
    t = np.arange(n) / SR
    env = np.exp(-t / decay_s)
    env[:attack] *= np.linspace(0.0, 1.0, attack)
    return env


def drum_loop(seconds: float, bpm: float = 120.0, seed: int = 7) -> np.ndarray:
    """Kick, snare and hats on a 16-step bar, repeated: the same samples in every song."""
    rng = np.random.default_rng(seed)
    step = int(SR * 60 / bpm / 4)
    n = int(seconds * SR)
    out = np.zeros(n, dtype=np.float32)
    kick_n = int(0.25 * SR)
    kick_t = np.arange(kick_n) / SR
    kick = np.sin(2 * np.pi * (50 + 100 * np.exp(-kick_t / 0.03)) * kick_t) * _env(kick_n, 8, 0.12)
    snare_n = int(0.18 * SR)
    snare = rng.standard_normal(snare_n) * _env(snare_n, 4, 0.05)
    snare += 0.5 * np.sin(2 * np.pi * 190 * np.arange(snare_n) / SR) * _env(snare_n, 4, 0.08)
    hat_n = int(0.05 * SR)
    hat = np.diff(rng.standard_normal(hat_n + 1)) * _env(hat_n, 2, 0.015)
    pattern = {0: kick, 4: snare, 8: kick, 10: kick, 12: snare}
    for pos in range(0, n, step):
        s = (pos // step) % 16
        for sound in (pattern.get(s), hat if s % 2 == 0 else None):
            if sound is not None:
                end = min(n, pos + sound.size)
                out[pos:end] += sound[: end - pos]
    return out


def melody(seconds: float, seed: int, bpm: float = 120.0) -> np.ndarray:
    """Random notes of a minor scale with harmonics and chords: a song's own tune."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    out = np.zeros(n, dtype=np.float32)
    scale = np.array([0, 2, 3, 5, 7, 8, 10])
    beat = 60 / bpm
    pos = 0.0
    while pos < seconds:
        dur = beat * rng.choice([0.5, 1.0, 1.5, 2.0])
        notes = [57 + scale[rng.integers(7)] + 12 * rng.integers(0, 2)]
        if rng.random() < 0.4:
            notes.append(notes[0] - 12 + scale[rng.integers(7)])
        m = int(dur * SR)
        t = np.arange(m) / SR
        tone = np.zeros(m)
        for note in notes:
            f0 = 440.0 * 2 ** ((note - 69) / 12)
            for h in range(1, 5):
                tone += np.sin(2 * np.pi * f0 * h * t + rng.random() * 6.28) / h
        a = int(pos * SR)
        end = min(n, a + m)
        out[a:end] += (tone * _env(m, 40, dur / 2))[: end - a]
        pos += dur
    return out


def song_with_loop(seed: int, seconds: float = 40.0) -> np.ndarray:
    """The shared loop plus a tune of its own, mixed at equal loudness."""
    loop = drum_loop(seconds)
    tune = melody(seconds, seed)
    tune *= np.sqrt(np.mean(loop**2) / np.mean(tune**2))
    mix = loop + tune
    return (0.3 * mix / np.abs(mix).max()).astype(np.float32)
