"""Decode + resample to 22.05 kHz mono throughput, per format, in times realtime on one core.

Columns, all measured in the same run on the same files:
  reference   raw in-process PyAV: decode + AudioResampler(flt, mono, 22050) in one pass
  libsndfile  soundfile.read + channel mean + soxr (wav/flac/ogg only)
  ours        integrity.audio.decode_file(..., sandbox=False)
  sandboxed   integrity.audio.decode_file(...) through the warm sandbox child
  overhead    sandboxed CPU / in-process CPU, minus 1 (pipe hand-off, JSON, process hop)
  wall        the sandboxed path by the wall clock (includes waiting for a busy machine)

Input: the music recordings in ../shared/audio/librosa-data, concatenated, upsampled to
44.1 kHz stereo (a typical delivery) and encoded with the ffmpeg CLI into every format.

Usage: .venv/bin/python benchmarks/decode_speed.py [--seconds 120] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import soundfile
import soxr

from integrity.audio import DecodeLimits, decode_file, shutdown_sandboxes
from integrity.audio._sandbox import SandboxDecoder
from integrity.audio.decode import sandbox_for

SHARED_AUDIO = Path(__file__).resolve().parent.parent.parent / "shared" / "audio" / "librosa-data"
MUSIC = (
    "Kevin_MacLeod_-_Vibe_Ace.ogg",
    "Karissa_Hobbs_-_Lets_Go_Fishin.ogg",
    "admiralbob77_-_Choice_-_Drum-bass.ogg",
    "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).ogg",
    "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.ogg",
)
SOURCE_RATE_HZ = 44_100
TARGET_RATE_HZ = 22_050
# format -> (suffix, ffmpeg encoder arguments)
FORMATS: dict[str, tuple[str, list[str]]] = {
    "wav": (".wav", ["-c:a", "pcm_s16le"]),
    "flac": (".flac", ["-c:a", "flac"]),
    "ogg/vorbis": (".ogg", ["-c:a", "libvorbis", "-q:a", "5"]),
    "mp3": (".mp3", ["-c:a", "libmp3lame", "-b:a", "256k"]),
    "m4a/aac": (".m4a", ["-c:a", "aac", "-b:a", "256k"]),
    "opus": (".opus", ["-c:a", "libopus", "-b:a", "128k"]),
}
SOUNDFILE_FORMATS = frozenset({"wav", "flac", "ogg/vorbis"})
LIMITS = DecodeLimits(
    max_bytes=1 << 30, max_duration_s=4 * 3600.0, timeout_s=120.0, memory_limit_bytes=4 << 30
)


def build_source(folder: Path, seconds: float) -> Path:
    """Real music, 44.1 kHz stereo (the right channel slightly delayed, so not dual mono)."""
    pieces = [soundfile.read(SHARED_AUDIO / name, dtype="float32") for name in MUSIC]
    mono = np.concatenate([soxr.resample(x, rate, SOURCE_RATE_HZ) for x, rate in pieces])
    needed = round(seconds * SOURCE_RATE_HZ)
    mono = np.tile(mono, needed // mono.shape[0] + 1)[:needed]
    stereo = np.stack([mono, np.roll(mono, 7)], axis=1)
    path = folder / "source.wav"
    soundfile.write(path, stereo, SOURCE_RATE_HZ, subtype="PCM_16")
    return path


def encode_all(source: Path, folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for name, (suffix, args) in FORMATS.items():
        target = folder / f"bench{suffix}"
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), *args, str(target)],
            check=True,
        )
        out[name] = target
    return out


def reference_pyav(path: Path) -> int:
    """Plain PyAV, as a reader of its docs would write it: decode and resample in one pass."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=TARGET_RATE_HZ)
        chunks = []
        for frame in container.decode(stream):
            chunks.extend(f.to_ndarray() for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray() for f in resampler.resample(None))
    return int(np.concatenate(chunks, axis=1).shape[1])


def plain_soundfile(path: Path) -> int:
    samples, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return int(soxr.resample(samples.mean(axis=1), rate, TARGET_RATE_HZ).shape[0])


def ours_in_process(path: Path) -> int:
    return int(decode_file(path, sample_rate=TARGET_RATE_HZ, limits=LIMITS, sandbox=False)
               .samples.shape[0])  # fmt: skip


def ours_sandboxed(path: Path) -> int:
    return int(decode_file(path, sample_rate=TARGET_RATE_HZ, limits=LIMITS).samples.shape[0])


def _child_cpu_seconds() -> float:
    """CPU time used so far by this process's warm sandbox child (from /proc)."""
    pid = sandbox_for(LIMITS).pid
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_cell(function: Callable[[Path], int], path: Path, repeats: int) -> tuple[float, float]:
    """Median CPU seconds (this process plus the sandbox child) and median wall seconds.

    CPU time is what "x realtime per core" means and stays honest when other work shares the
    machine; wall time is shown beside it for the sandboxed path.
    """
    function(path)  # warm caches (and start the sandbox child)
    cpu, wall = [], []
    for _ in range(repeats):
        child_before = _child_cpu_seconds()
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        function(path)
        wall.append(time.perf_counter() - wall_before)
        cpu.append(time.process_time() - cpu_before + _child_cpu_seconds() - child_before)
    return statistics.median(cpu), statistics.median(wall)


def cold_start_seconds() -> float:
    sandbox = SandboxDecoder(LIMITS.memory_limit_bytes, LIMITS.timeout_s)
    started = time.perf_counter()
    sandbox._ensure_child()
    elapsed = time.perf_counter() - started
    sandbox.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="length of each file (s)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per cell")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = encode_all(build_source(folder, args.seconds), folder)
        print(
            f"{args.seconds:.0f} s of 44.1 kHz stereo music per file -> 22.05 kHz mono float32; "
            f"median of {args.repeats}; x realtime per core from CPU time (higher is better); "
            f"'wall' is the sandboxed path by the clock; load average {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} cores\n"
        )
        header = ("format", "reference", "libsndfile", "ours", "sandboxed", "overhead", "wall")
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" for _ in header) + "|")
        for name, path in files.items():
            reference, _ = measure_cell(reference_pyav, path, args.repeats)
            alternative = (
                measure_cell(plain_soundfile, path, args.repeats)[0]
                if name in SOUNDFILE_FORMATS
                else None
            )
            local, _ = measure_cell(ours_in_process, path, args.repeats)
            sandboxed, sandboxed_wall = measure_cell(ours_sandboxed, path, args.repeats)
            cells = [
                name,
                f"{args.seconds / reference:.0f}x",
                f"{args.seconds / alternative:.0f}x" if alternative else "-",
                f"{args.seconds / local:.0f}x",
                f"{args.seconds / sandboxed:.0f}x",
                f"{100 * (sandboxed / local - 1):+.0f}%",
                f"{args.seconds / sandboxed_wall:.0f}x",
            ]
            print("| " + " | ".join(cells) + " |")
        shutdown_sandboxes()
        print(
            f"\nsandbox child cold start (spawn + imports + limits): {cold_start_seconds():.2f} s"
        )


if __name__ == "__main__":
    main()
