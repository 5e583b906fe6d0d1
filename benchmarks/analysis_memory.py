"""Peak memory of the whole analysis of one file (decode, measure, fingerprint, features).

Prints, for 4-hour files at 8 kHz and 48 kHz (generated once with ffmpeg into --dir: pink noise
plus a tone, FLAC at 8 kHz, Opus at 48 kHz, both under the 512-MB size cap), the sandbox child's
peak RSS, the worker's (this process's) RSS growth, the bound the analysis states
(`integrity.analysis.passes`: child base + min(decoded, retain) + PER_SECOND_BYTES x duration),
the configured limit, and the wall time; then the speed of the sandboxed analysis of the
example tracks against the reference of the same run: the old in-worker path (sandboxed
decode, then measure, fingerprint and features in this process).

    nice -n 10 .venv/bin/python benchmarks/analysis_memory.py [--dir /tmp/integrity-bench]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

from _machine import machine

from integrity.analysis import DEFAULT_RETAIN_BYTES, PER_SECOND_BYTES, analyse_file
from integrity.audio import DecodeLimits, decode_file, measure, shutdown_sandboxes
from integrity.audio.constants import DEFAULT_DECODE_MEMORY_LIMIT_BYTES, DEFAULT_MAX_BYTES
from integrity.features import extract_features
from integrity.fingerprint import FINGERPRINT_SAMPLE_RATE, extract

LONG_S = 4 * 3600
"""The longest file the default caps accept (s)."""
DURATION_SLACK_S = 60
"""Codec padding past the nominal four hours that the benchmark's cap allows (s)."""
BENCH_TIMEOUT_S = 3600.0
"""Wall-clock cap for the benchmark's own long analyses (s): they measure memory, not speed."""
MIB = 1 << 20
KIB = 1024
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "deliveries"
SPEED_ROUNDS = 3
"""Passes over the example tracks per path (count)."""
# name -> (rate Hz, ffmpeg output options)
LONG_FILES: dict[str, tuple[int, list[str]]] = {
    "noise_4h_8k.flac": (8_000, ["-sample_fmt", "s16", "-c:a", "flac"]),
    "noise_4h_48k.opus": (48_000, ["-c:a", "libopus", "-b:a", "48k"]),
}


def generate(folder: Path, name: str) -> Path:
    """A 4-hour mono file of pink noise plus a 330-Hz tone (made once, then reused)."""
    path = folder / name
    if path.exists():
        return path
    rate, options = LONG_FILES[name]
    graph = "[0][1]amix=inputs=2:weights=1 0.5,volume=0.8"
    noise = f"anoisesrc=d={LONG_S}:c=pink:r={rate}:a=0.2:seed=1"
    tone = f"sine=f=330:r={rate}:d={LONG_S}"
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", noise]
    command += ["-f", "lavfi", "-i", tone, "-filter_complex", graph, "-ac", "1", *options]
    subprocess.run([*command, str(path)], check=True)
    return path


def rss_now() -> int:
    """This process's resident set now (bytes)."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def old_path(path: Path, limits: DecodeLimits) -> None:
    """What the worker did before: decode in the sandbox, the rest in the worker."""
    audio = decode_file(path, limits=limits)
    measure(audio)
    extract(audio.resampled(FINGERPRINT_SAMPLE_RATE), FINGERPRINT_SAMPLE_RATE)
    extract_features(audio.samples, audio.sample_rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/integrity-bench"))
    parser.add_argument("--skip-long", action="store_true", help="only the speed comparison")
    parser.add_argument("--files", nargs="*", default=list(LONG_FILES), choices=list(LONG_FILES))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    print(machine())
    limits = DecodeLimits(
        max_bytes=DEFAULT_MAX_BYTES,
        max_duration_s=float(LONG_S + DURATION_SLACK_S),
        timeout_s=BENCH_TIMEOUT_S,
        memory_limit_bytes=DEFAULT_DECODE_MEMORY_LIMIT_BYTES,
    )
    warm = next(EXAMPLES.rglob("*.flac"))
    base = analyse_file(warm, limits=limits, retain_bytes=1)  # start the child, warm
    child_base = base.peak_rss_bytes or 0
    print(f"child peak RSS after one short analysis: {child_base / MIB:.0f} MiB")
    print(f"configured limit (RLIMIT_AS of the child): {limits.memory_limit_bytes / MIB:.0f} MiB")
    if not args.skip_long:
        print()
        print("file                 rate   duration  decodes  child peak  worker +RSS  bound     s")
        for name in args.files:
            path = generate(args.dir, name)
            shutdown_sandboxes()  # a fresh child, so its peak is this file's
            before_rss = rss_now()
            started = time.monotonic()
            result = analyse_file(path, limits=limits)
            elapsed = time.monotonic() - started
            worker_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * KIB
            duration = result.measurements.duration_s
            decoded = duration * result.sample_rate * 4
            bound = child_base + min(decoded, DEFAULT_RETAIN_BYTES) + PER_SECOND_BYTES * duration
            print(
                f"{name:20} {result.sample_rate:5d}  {duration / 3600:5.2f} h  {result.decodes:7d}"
                f"  {(result.peak_rss_bytes or 0) / MIB:7.0f} MiB"
                f"  {max(0, worker_peak - before_rss) / MIB:8.0f} MiB"
                f"  {bound / MIB:5.0f} MiB  {elapsed:5.0f}"
            )
    print()
    tracks = sorted(p for p in EXAMPLES.rglob("*") if p.suffix in (".flac", ".mp3"))
    old_path(tracks[0], limits)  # warm the reference's imports and caches too
    timings = {}
    for label, run in (
        ("old: decode in sandbox, analysis in worker", lambda p: old_path(p, limits)),
        ("new: whole analysis in sandbox", lambda p: analyse_file(p, limits=limits)),
    ):
        started = time.monotonic()
        for _ in range(SPEED_ROUNDS):
            for track in tracks:
                run(track)
        timings[label] = time.monotonic() - started
    reference = next(iter(timings.values()))
    audio_s = SPEED_ROUNDS * sum(decode_file(t, limits=limits).duration_s for t in tracks)
    for label, seconds in timings.items():
        print(
            f"{label:45} {seconds:6.1f} s  {audio_s / seconds:5.0f}x realtime"
            f"  ratio {seconds / reference:.2f}"
        )
    shutdown_sandboxes()


if __name__ == "__main__":
    sys.exit(main())
