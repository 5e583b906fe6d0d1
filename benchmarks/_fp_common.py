"""Helpers shared by the fingerprint benchmarks: corpus, decoding, fpcalc, caching, tables."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _machine import machine  # noqa: F401  (re-exported for the fingerprint benchmarks)

from integrity.audio import decode_file
from integrity.corpus import MUSIC_PACKAGES, fetch_corpus

BENCH_CACHE = Path(os.environ.get("INTEGRITY_BENCH_DIR", Path.home() / ".cache/integrity/bench"))
MIN_TRACK_S = 30.0  # shorter files in the packages are jingles and sound effects
# Packages whose tracks are indexed; the others give the non-member queries.
MEMBER_PACKAGES = ("wesnoth-1.16-music", "nexuiz-music", "singularity-music", "ufoai-music")
FPCALC_ITEM_S = 4096 / 3 / 11025  # one Chromaprint code every 1365.33 samples at 11025 Hz


@dataclass(frozen=True)
class Track:
    path: Path
    package: str
    duration_s: float

    @property
    def track_id(self) -> str:
        return f"{self.package}/{self.path.stem}"


def probe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    try:
        return float(out)
    except ValueError:
        return 0.0


def corpus_tracks() -> tuple[list[Track], list[Track]]:
    """(members, non-members): music files of at least MIN_TRACK_S, cached durations."""
    cache = BENCH_CACHE / "durations.json"
    known: dict[str, float] = json.loads(cache.read_text()) if cache.exists() else {}
    members: list[Track] = []
    others: list[Track] = []
    for package, files in fetch_corpus(MUSIC_PACKAGES).items():
        for path in files:
            key = str(path)
            if key not in known:
                known[key] = probe_duration(path)
            if known[key] < MIN_TRACK_S:
                continue
            track = Track(path, package, known[key])
            (members if package in MEMBER_PACKAGES else others).append(track)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(known))
    return members, others


def decode(path: Path, rate: int) -> np.ndarray:
    """Trusted corpus file to mono float32 at `rate` (in-process decoder, no sandbox)."""
    return decode_file(path, sample_rate=rate, sandbox=False).samples


def fpcalc_codes(path: Path, *, whole: bool) -> np.ndarray:
    """Chromaprint raw codes of a file (fpcalc -raw -ignore-errors), uint32."""
    cmd = ["fpcalc", "-raw", "-ignore-errors", "-json"]
    if whole:
        cmd += ["-length", "0"]
    out = subprocess.run([*cmd, str(path)], capture_output=True, text=True, check=False)
    try:
        doc = json.loads(out.stdout)
    except json.JSONDecodeError:
        return np.zeros(0, dtype=np.uint32)
    return np.asarray(doc.get("fingerprint", []), dtype=np.int64).astype(np.uint32)


class ChromaprintReference:
    """All reference code sequences concatenated, for sliding bit-error-rate search."""

    def __init__(self, codes: dict[str, np.ndarray]) -> None:
        self.ids: list[str] = []
        starts = []
        parts = []
        pos = 0
        for tid, c in codes.items():
            self.ids.append(tid)
            starts.append(pos)
            parts.append(c)
            pos += c.size
        self.starts = np.asarray(starts, dtype=np.int64)
        self.codes = np.concatenate(parts) if parts else np.zeros(0, np.uint32)

    def best(self, query: np.ndarray, max_codes: int = 240) -> tuple[str, float, float]:
        """(track id, bit error rate, offset s) of the best full-overlap alignment."""
        q = query[:max_codes]
        m = q.size
        n = self.codes.size - m + 1
        if m == 0 or n <= 0:
            return "", 1.0, 0.0
        errors = np.zeros(n, dtype=np.int32)
        for j in range(m):
            errors += np.bitwise_count(self.codes[j : j + n] ^ q[j])
        # Windows that straddle two tracks are not alignments.
        track_of = np.searchsorted(self.starts, np.arange(n), side="right") - 1
        ends = np.append(self.starts[1:], self.codes.size)
        valid = np.arange(n) + m <= ends[track_of]
        errors = np.where(valid, errors, np.iinfo(np.int32).max)
        k = int(np.argmin(errors))
        t = int(track_of[k])
        return self.ids[t], errors[k] / (32.0 * m), (k - self.starts[t]) * FPCALC_ITEM_S


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """A Markdown table on stdout (pastes into the README as is)."""
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
