"""Messages per second for ddex.read_message + validate against plain lxml, in one run.

Usage: python benchmarks/ddex_parse.py [SHARED_DIR] [--rounds N] [--round-seconds S]

Every ERN sample under SHARED_DIR/ddex/samples/ern* is loaded into memory once; each round
then times every variant over the same bytes, interleaved so that they share the machine's
conditions, and the table reports the median rate over the rounds. Goal (issue 2): ddex
within 4x of a plain ``lxml.etree.fromstring`` of the same bytes.
"""

from __future__ import annotations

import argparse
import os
import platform
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

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO_ROOT.parent / "shared"
DEFAULT_ROUNDS = 9
DEFAULT_ROUND_SECONDS = 1.0
"""Target wall time of the slowest variant per round, in seconds."""
GOAL_RATIO = 4.0
CALIBRATION_PASSES = 2


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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


def _time_pass(func: Callable[[bytes], object], corpus: list[bytes], repeats: int) -> float:
    started = time.perf_counter()
    for _ in range(repeats):
        for data in corpus:
            func(data)
    return time.perf_counter() - started


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
        min(_time_pass(func, corpus, 1) for _ in range(CALIBRATION_PASSES))
        for func in VARIANTS.values()
    )
    repeats = max(1, round(args.round_seconds / slowest))
    rates: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, func in VARIANTS.items():
            elapsed = _time_pass(func, corpus, repeats)
            rates[name].append(len(corpus) * repeats / elapsed)

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"machine: {_cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        f", lxml {lxml.__version__}; load average {load} (other work shares the cores)"
    )
    print(
        f"corpus:  {len(corpus)} messages ({total_mib:.2f} MiB) from {args.shared_dir}"
        f"/ddex/samples/ern*; {args.rounds} rounds x {repeats} passes"
    )
    print()
    header = (
        f"{'variant':<32} {'median msg/s':>13} {'min':>9} {'max':>9} {'MiB/s':>8} {'x plain':>8}"
    )
    print(header)
    print("-" * len(header))
    reference = statistics.median(rates[REFERENCE])
    for name, values in rates.items():
        median = statistics.median(values)
        mib_rate = median / len(corpus) * total_mib
        print(
            f"{name:<32} {median:>13.0f} {min(values):>9.0f} {max(values):>9.0f} "
            f"{mib_rate:>8.1f} {reference / median:>8.2f}"
        )
    ratio = reference / statistics.median(rates[SUBJECT])
    verdict = "within" if ratio <= GOAL_RATIO else "MISSES"
    print()
    print(f"ratio {SUBJECT} vs plain lxml: {ratio:.2f}x ({verdict} the {GOAL_RATIO:.0f}x goal)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
