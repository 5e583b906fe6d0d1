"""Messages per second for ddex.read_message + validate against plain lxml, in one run.

Usage: python benchmarks/ddex_parse.py [SHARED_DIR] [--rounds N] [--round-seconds S]

Every ERN sample under SHARED_DIR/ddex/samples/ern* is loaded into memory once; each round
then times every variant over the same bytes, interleaved so that they share the machine's
conditions. The table reports median rates over the rounds by process CPU time (steady on a
shared machine: time spent descheduled is not counted) and by wall time; the ratio is the
median of the per-round ratios, each round pairing the variants run back to back. Goal
(issue 2): ddex within 4x of a plain ``lxml.etree.fromstring`` of the same bytes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import lxml
from lxml import etree

import ddex
from ddex.limits import BYTES_PER_MIB, DEFAULT_LIMITS
from ddex.read import parse_xml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO_ROOT.parent / "shared"
DEFAULT_ROUNDS = 9
DEFAULT_ROUND_SECONDS = 1.0
"""Target wall time of the slowest variant per round, in seconds."""
GOAL_RATIO = 4.0
CALIBRATION_PASSES = 2


def _plain(data: bytes) -> object:
    return etree.fromstring(data)


def _hardened_parse(data: bytes) -> object:
    return parse_xml(data, source="bench", limits=DEFAULT_LIMITS)


def _read(data: bytes) -> object:
    return ddex.read_message(data)


def _read_validate(data: bytes) -> object:
    return ddex.validate(ddex.read_message(data))


VARIANTS: dict[str, Callable[[bytes], object]] = {
    "lxml.etree.fromstring (plain)": _plain,
    "ddex hardened parse only": _hardened_parse,
    "ddex.read_message": _read,
    "ddex.read_message + validate": _read_validate,
}
REFERENCE = "lxml.etree.fromstring (plain)"
SUBJECT = "ddex.read_message + validate"


def _time_pass(
    func: Callable[[bytes], object], corpus: list[bytes], repeats: int
) -> tuple[float, float]:
    """(CPU seconds, wall seconds) for ``repeats`` passes over the corpus."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(repeats):
        for data in corpus:
            func(data)
    return time.process_time() - cpu, time.perf_counter() - wall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared_dir", nargs="?", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--round-seconds", type=float, default=DEFAULT_ROUND_SECONDS)
    args = parser.parse_args(argv)

    files = sorted((args.shared_dir / "ddex" / "samples").glob("ern*/*.xml"))
    if not files:
        print(f"no ERN samples under {args.shared_dir}/ddex/samples/ern*", file=sys.stderr)
        return 2
    corpus = [f.read_bytes() for f in files]
    total_mib = sum(len(d) for d in corpus) / BYTES_PER_MIB

    slowest = max(
        min(_time_pass(func, corpus, 1)[1] for _ in range(CALIBRATION_PASSES))
        for func in VARIANTS.values()
    )
    repeats = max(1, round(args.round_seconds / slowest))
    messages = len(corpus) * repeats
    cpu_rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    wall_rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, func in VARIANTS.items():
            cpu, wall = _time_pass(func, corpus, repeats)
            cpu_rates[name].append(messages / cpu)
            wall_rates[name].append(messages / wall)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"machine: {machine()}"
        f", lxml {lxml.__version__}; load average {load} (other work shares the cores)"
    )
    print(
        f"corpus:  {len(corpus)} messages ({total_mib:.2f} MiB) from {args.shared_dir}"
        f"/ddex/samples/ern*; {args.rounds} rounds x {repeats} passes"
    )
    print()
    header = (
        f"{'variant':<32} {'CPU msg/s':>10} {'wall msg/s':>11} {'CPU MiB/s':>10} "
        f"{'x plain (CPU)':>14} {'x plain (wall)':>15}"
    )
    print(header)
    print("-" * len(header))
    for name in VARIANTS:
        cpu_median = statistics.median(cpu_rates[name])
        print(
            f"{name:<32} {cpu_median:>10.0f} {statistics.median(wall_rates[name]):>11.0f} "
            f"{cpu_median / len(corpus) * total_mib:>10.1f} "
            f"{_paired_ratio(cpu_rates, name):>14.2f} {_paired_ratio(wall_rates, name):>15.2f}"
        )
    ratio = _paired_ratio(cpu_rates, SUBJECT)
    wall_ratio = _paired_ratio(wall_rates, SUBJECT)
    verdict = "within" if ratio <= GOAL_RATIO else "MISSES"
    print()
    print(
        f"ratio {SUBJECT} vs plain lxml: {ratio:.2f}x by CPU time, {wall_ratio:.2f}x by wall "
        f"time ({verdict} the {GOAL_RATIO:.0f}x goal by CPU time)"
    )
    return 0


def _paired_ratio(rates: dict[str, list[float]], name: str) -> float:
    """Median over rounds of (plain rate / this variant's rate) within the same round."""
    return statistics.median(p / v for p, v in zip(rates[REFERENCE], rates[name], strict=True))


if __name__ == "__main__":
    raise SystemExit(main())
