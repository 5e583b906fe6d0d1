"""Fingerprinting speed in × realtime per core, decode included, ours beside fpcalc.

    nice .venv/bin/python benchmarks/fingerprint_speed.py [--files N] [--repeats R]

Same files, same run, one thread each (BLAS/OpenMP pinned to one thread before numpy loads;
fpcalc is single-threaded). Ours = integrity.audio.decode_file straight to 8 kHz (in-process,
and through the sandbox the service uses) + integrity.fingerprint.extract. fpcalc = the whole
`fpcalc -raw -length 0` process. Medians over files of (audio seconds / wall seconds), best of
R repeats per file to damp the noise of a shared machine.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _fp_common import corpus_tracks, machine, print_table  # noqa: E402

from integrity.audio import decode_file, shutdown_sandboxes  # noqa: E402
from integrity.fingerprint import FINGERPRINT_SAMPLE_RATE, extract  # noqa: E402

SPEED_GOAL = 300.0  # × realtime per core, decode included


def _best(fn: object, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    members, _ = corpus_tracks()
    tracks = members[:: max(1, len(members) // args.files)][: args.files]
    # Warm-up: imports, FFT plans, the sandbox child.
    warm = tracks[0].path
    extract(decode_file(warm, sample_rate=FINGERPRINT_SAMPLE_RATE, sandbox=False).samples, 8000)
    decode_file(warm, sample_rate=FINGERPRINT_SAMPLE_RATE, sandbox=True)

    cols: dict[str, list[float]] = {
        k: [] for k in ("decode", "extract", "ours", "ours_sandbox", "fpcalc")
    }
    total_audio = 0.0
    totals = dict.fromkeys(cols, 0.0)
    for t in tracks:
        audio = decode_file(t.path, sample_rate=FINGERPRINT_SAMPLE_RATE, sandbox=False)
        dur = audio.samples.size / FINGERPRINT_SAMPLE_RATE
        total_audio += dur
        times = {
            "decode": _best(
                lambda p=t.path: decode_file(p, sample_rate=FINGERPRINT_SAMPLE_RATE, sandbox=False),
                args.repeats,
            ),
            "extract": _best(lambda a=audio: extract(a.samples, a.sample_rate), args.repeats),
            "ours": _best(
                lambda p=t.path: extract(
                    decode_file(p, sample_rate=FINGERPRINT_SAMPLE_RATE, sandbox=False).samples,
                    FINGERPRINT_SAMPLE_RATE,
                ),
                args.repeats,
            ),
            "ours_sandbox": _best(
                lambda p=t.path: extract(
                    decode_file(p, sample_rate=FINGERPRINT_SAMPLE_RATE, sandbox=True).samples,
                    FINGERPRINT_SAMPLE_RATE,
                ),
                args.repeats,
            ),
            "fpcalc": _best(
                lambda p=t.path: subprocess.run(
                    ["fpcalc", "-raw", "-ignore-errors", "-length", "0", str(p)],
                    capture_output=True,
                    check=False,
                ),
                args.repeats,
            ),
        }
        for k, v in times.items():
            cols[k].append(dur / v)
            totals[k] += v
    shutdown_sandboxes()
    labels = {
        "decode": "decode only (PyAV → 8 kHz mono, in-process)",
        "extract": "extract only (ours)",
        "ours": "ours: decode + extract (in-process)",
        "ours_sandbox": "ours: decode in sandbox + extract",
        "fpcalc": "fpcalc -raw -length 0 (decode + fingerprint)",
    }
    rows = [
        [
            labels[k],
            f"{np.median(v):.0f}×",
            f"{total_audio / totals[k]:.0f}×",
            f"{np.min(v):.0f}×",
        ]
        for k, v in cols.items()
    ]
    print(f"machine: {machine()}")
    print(f"{len(tracks)} files, {total_audio / 60:.1f} min of audio, best of {args.repeats}")
    print()
    print_table(["step", "median × realtime", "aggregate", "slowest file"], rows)
    ours = float(np.median(cols["ours"]))
    print()
    print(
        f"goal ≥ {SPEED_GOAL:.0f}× realtime per core, decode included: "
        f"{'met' if ours >= SPEED_GOAL else 'NOT met'} ({ours:.0f}×)"
    )


if __name__ == "__main__":
    main()
