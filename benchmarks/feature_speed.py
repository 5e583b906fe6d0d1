"""Feature extraction throughput in times realtime on one core, against raw decoding, one run.

Usage: python benchmarks/feature_speed.py [AUDIO ...] [--files N] [--backend numpy|torch]

Without arguments it takes N music files from the Debian corpus cache (integrity.corpus; run
`integrity train build-data --quick` or fetch the corpus first). Columns, measured on the same
files in the same run, CPU time of this process (so other load on the machine does not count):
  decode    integrity.audio.decode_file(..., sandbox=False) at the native rate (<= 48 kHz)
  features  integrity.features.extract_features on those samples (includes resampling to the
            two analysis rates, segmenting and the long-FFT analysis)
Goal (issue 4): features >= 100x realtime per core.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: FFT libraries must not fan out

import time
from pathlib import Path

from integrity.audio import decode_file
from integrity.corpus import MUSIC_PACKAGES, audio_files, default_cache_dir
from integrity.features import extract_features

GOAL_REALTIME = 100.0
DEFAULT_FILES = 12


def corpus_files(count: int) -> list[Path]:
    roots = [default_cache_dir() / p.name for p in MUSIC_PACKAGES]
    files = [f for f in audio_files([r for r in roots if r.is_dir()]) if f.stat().st_size > 500_000]
    step = max(1, len(files) // max(count, 1))
    return files[::step][:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("audio", nargs="*", type=Path)
    parser.add_argument("--files", type=int, default=DEFAULT_FILES)
    parser.add_argument("--backend", default="numpy", choices=["numpy", "torch"])
    args = parser.parse_args()
    if args.backend == "torch":
        import torch

        torch.set_num_threads(1)
    files = args.audio or corpus_files(args.files)
    if not files:
        raise SystemExit("no audio: pass files or fetch the corpus (integrity train build-data)")
    warm = decode_file(files[0], sandbox=False)
    extract_features(warm.samples[: warm.sample_rate * 10], warm.sample_rate, backend=args.backend)
    audio_s = decode_s = feature_s = 0.0
    print(f"{'file':50s} {'dur s':>7s} {'decode x':>9s} {'features x':>11s}")
    for path in files:
        start = time.process_time()
        decoded = decode_file(path, sandbox=False)
        mid = time.process_time()
        extract_features(decoded.samples, decoded.sample_rate, backend=args.backend)
        end = time.process_time()
        dur = decoded.duration_s
        audio_s += dur
        decode_s += mid - start
        feature_s += end - mid
        print(
            f"{path.name[:50]:50s} {dur:7.1f} {dur / max(mid - start, 1e-9):9.0f} "
            f"{dur / max(end - mid, 1e-9):11.0f}"
        )
    features_x = audio_s / feature_s
    verdict = "met" if features_x >= GOAL_REALTIME else "MISSED"
    print(
        f"\n{len(files)} files, {audio_s / 60:.1f} min of audio, backend {args.backend}: "
        f"decode {audio_s / decode_s:.0f}x realtime, features {features_x:.0f}x realtime, "
        f"decode+features {audio_s / (decode_s + feature_s):.0f}x "
        f"(goal: features >= {GOAL_REALTIME:.0f}x: {verdict})"
    )
    print(f"(CPU time of one process; wall clock here: {time.strftime('%H:%M:%S')})")


if __name__ == "__main__":
    main()
