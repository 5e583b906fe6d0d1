"""`integrity train build-data`: a labeled, content-paired corpus built offline from real audio.

Real music and speech come from Debian packages (integrity.corpus). Each real clip gets
synthetic twins made from the same content (generators.py); TTS and festival singing add
text-driven families. Every clip of both classes passes through the same random chain
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
# Held out of every training fold: evaluation-only generator family (when installed).
EVALUATION_ONLY_FAMILIES = ("festival",)
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


@dataclass
class BuildResult:
    """What a build produced (for the CLI's summary)."""

    out_dir: Path
    clips: int
    by_family: dict[str, int] = field(default_factory=dict)
    hours: float = 0.0


def fold_for(key: str) -> str:
    """Stable fold from a source identity (crc32 of the key), so twins share a fold."""
    u = (zlib.crc32(key.encode()) % 10_000) / 10_000
    acc = 0.0
    for name, share in t.FOLD_SHARES:
        acc += share
        if u < acc:
            return name
    return t.FOLD_SHARES[-1][0]


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


def plan_jobs(*, quick: bool, seed: int, cache_dir: Path | None = None) -> list[Job]:
    """Choose sources and lay out every job, deterministically from the seed."""
    cache = cache_dir or default_cache_dir()
    if not quick and not gen.festival_available():
        # Festival's jobs draw from the same seeded stream as every job after them, so a full
        # corpus built without it would differ throughout from the one the models record.
        raise CorpusFetchError(
            "the full corpus includes festival singing (an evaluation-only generator family) "
            "and text2wave is not installed: apt-get install festival festvox-us-slt-hts"
        )
    rng = np.random.default_rng(seed)
    music = fetch_corpus(MUSIC_PACKAGES, cache_dir=cache)
    speech = fetch_corpus(SPEECH_PACKAGES, cache_dir=cache)
    n_music = t.QUICK_MUSIC_SOURCES if quick else t.FULL_MUSIC_SOURCES
    n_speech = t.QUICK_SPEECH_SOURCES if quick else t.FULL_SPEECH_SOURCES
    n_spam = t.QUICK_SPAM_ITEMS if quick else t.FULL_SPAM_ITEMS
    cap = max(1, int(np.ceil(n_music * t.MAX_FILES_PER_PACKAGE_SHARE)))

    candidates: list[tuple[str, Path]] = []
    for package, files in music.items():
        usable = [f for f in files if f.name not in STEM_NAMES]
        rng.shuffle(usable)
        kept = [f for f in usable[: cap * 3] if _duration(f) >= t.MIN_SOURCE_S][:cap]
        candidates += [(package, f) for f in kept]
    order = rng.permutation(len(candidates))
    chosen = [candidates[i] for i in order[:n_music]]
    jobs: list[Job] = []

    def add(task: str, kind: str, paths: tuple[Path, ...], package: str, key: str) -> None:
        rel = tuple(_relative(p, cache) for p in paths)
        jobs.append(
            Job(len(jobs), task, kind, rel, package, int(rng.integers(2**31)), fold_for(key))
        )

    for package, path in chosen:
        add("synthetic", "music", (path,), package, _relative(path, cache))
    prompts = sorted(f for f in speech.get("asterisk-core-sounds-en-wav", []) if f.suffix == ".wav")
    letters = sorted(
        f for f in speech.get("klettres-data", []) if "/en" in str(f) or "/fr/" in str(f)
    )
    for i in range(n_speech):
        use_letters = bool(letters) and i % 4 == 3
        pool, package = (
            (letters, "klettres-data") if use_letters else (prompts, "asterisk-core-sounds-en-wav")
        )
        if not pool:
            continue
        start = int(rng.integers(0, len(pool)))
        group: list[Path] = []
        total = 0.0
        for f in pool[start:]:  # consecutive prompts until the clip is long enough
            group.append(f)
            total += _duration(f)
            if total >= t.SPEECH_CLIP_MIN_S:
                break
        if total >= t.SPEECH_CLIP_MIN_S / 2:
            add("synthetic", "speech", tuple(group), package, _relative(group[0], cache))
    if gen.festival_available():
        for i in range(max(2, n_music // 6)):
            add("synthetic", "festival", (), "festival+festvox-us-slt-hts", f"festival-{i}")
    spam_sources = [
        f
        for files in music.values()
        for f in files
        if f.name not in STEM_NAMES and _duration(f) >= t.SPAM_SOURCE_MIN_S
    ]
    picks = rng.permutation(len(spam_sources))
    packages_of = {f: p for p, files in music.items() for f in files}
    for i in range(n_spam):
        kind = (
            "noise_bed",
            "looped",
            "padded",
            "cut31",
            "real_full",
            "real_full",
            "real_full",
            "real_speech",
        )[i % 8]
        if kind == "noise_bed":
            add("spam", kind, (), "generated", f"bed-{i}")
        elif kind == "real_speech" and prompts:
            start = int(rng.integers(0, max(1, len(prompts) - 12)))
            spoken = tuple(prompts[start : start + 12])
            add("spam", kind, spoken, "asterisk-core-sounds-en-wav", _relative(spoken[0], cache))
        else:
            src = spam_sources[int(picks[i % len(picks)])]
            add("spam", kind, (src,), packages_of[src], "spam:" + _relative(src, cache))
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


def _make_clips(job: Job, cache: Path) -> list[tuple[str, np.ndarray, dict[str, Any]]]:
    """(family, audio at WORK_RATE_HZ, params) for every clip a job yields."""
    rng = np.random.default_rng(job.seed)
    out: list[tuple[str, np.ndarray, dict[str, Any]]] = []
    if job.kind == "music":
        x = load_sources(job.paths, cache)
        n = int(t.CLIP_S * t.WORK_RATE_HZ)
        lo = min(int(t.SOURCE_SKIP_S * t.WORK_RATE_HZ), max(0, x.size - n))
        start = int(rng.integers(lo, max(lo + 1, x.size - n)))
        clip = x[start : start + n]
        out.append(("real", clip, {"offset_s": round(start / t.WORK_RATE_HZ, 3)}))
        for family, fn in gen.CONTENT_FAMILIES.items():
            g = fn(clip, t.WORK_RATE_HZ, rng)
            out.append((family, to_work_rate(g.samples, g.sample_rate), g.params))
    elif job.kind == "speech":
        native = _native_rate(job.paths, cache)
        clip = load_sources(job.paths, cache)[: int(t.SPEECH_CLIP_MAX_S * t.WORK_RATE_HZ)]
        out.append(("real", clip, {"native_rate_hz": native}))
        for family in ("tconv", "vocoder"):
            g = gen.CONTENT_FAMILIES[family](clip, t.WORK_RATE_HZ, rng)
            out.append((family, to_work_rate(g.samples, g.sample_rate), g.params))
        if gen.piper_available():
            text = " ".join(rng.choice(SENTENCES, size=2, replace=False))
            g = gen.piper_tts(str(text), rng)
            # Same channel as its paired real clip: band-limited to the source's native rate.
            params = {**g.params, "matched_rate_hz": native}
            out.append(("piper", to_work_rate(g.samples, g.sample_rate, native), params))
    elif job.kind == "festival":
        g = gen.festival_singing(_festival_song(rng), rng)
        out.append(("festival", to_work_rate(g.samples, g.sample_rate), g.params))
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


def run_job(job: Job, cache: Path, clips_dir: Path) -> list[tuple[dict[str, Any], np.ndarray]]:
    """Make, degrade and describe every clip of one job (runs in a worker process)."""
    results: list[tuple[dict[str, Any], np.ndarray]] = []
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
        clip_id = f"{job.index:05d}-{i}-{family}"
        label = _label(job.task, family)
        record: dict[str, Any] = {
            "id": clip_id,
            "task": job.task,
            "label": label,
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
            "duration_s": round(degraded.size / rate, 3),
        }
        if job.fold == "test" and job.task == "synthetic":
            audio_path = clips_dir / f"{clip_id}.flac"
            sf.write(str(audio_path), degraded, rate, subtype="PCM_24")
            record["audio"] = f"clips/{audio_path.name}"
        features = extract_features(degraded, rate).values
        results.append((record, features))
    return results


def _label(task: str, family: str) -> int:
    if task == "synthetic":
        return 0 if family == "real" else 1
    return 1 if family in spam.SPAM_KINDS else 0


def _generated_licence(package: str) -> str:
    if package.startswith("festival"):
        return "festival: X11-style; festvox-us-slt-hts: CMU licence (generated audio)"
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
) -> BuildResult:
    """Plan and run every job; write manifest.jsonl, features.npz and the test-fold clips."""
    cache = cache_dir or default_cache_dir()
    jobs = plan_jobs(quick=quick, seed=seed, cache_dir=cache)
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
        futures = {pool.submit(run_job_cached, job, cache, clips_dir): job.index for job in jobs}
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
