"""CPU time of `integrity --help` and of every subcommand's `--help`, beside the floor every
typer CLI pays (`python -c "import typer, rich"`), measured in the same run.

Usage: python benchmarks/cli_startup.py [--rounds N]

Each round runs every command once, interleaved with the reference, so all of them share the
machine's conditions; the table reports the median over the rounds of each process's CPU time
(user + system, from the kernel's accounting of the finished child: time spent descheduled on
a loaded machine is not counted). Goal (issue 9): every `--help` within 0.5 s of CPU.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

import typer

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import load_average, machine

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROUNDS = 5
GOAL_CPU_S = 0.5
REFERENCE = ("python -c 'import typer, rich'", [sys.executable, "-c", "import typer, rich"])
# The framework's own floor: a typer app with two commands and one option, nothing imported.
BARE_TYPER_APP = """
import typer
app = typer.Typer()
@app.command()
def scan(path: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json")) -> None:
    \"\"\"Scan.\"\"\"
@app.command()
def other() -> None:
    \"\"\"Other.\"\"\"
app()
"""
FLOORS = [
    ("bare typer app --help", [sys.executable, "-c", BARE_TYPER_APP, "--help"]),
    ("bare typer app scan --help", [sys.executable, "-c", BARE_TYPER_APP, "scan", "--help"]),
]
CHILD_TIMEOUT_S = 120


def help_commands() -> list[list[str]]:
    """`--help` of the top level and of every group and command, in help order."""
    from integrity.cli import _register_all, app

    _register_all()
    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append([*path, "--help"])
        for name, sub in getattr(command, "commands", {}).items():  # a group's subcommands
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


def cpu_seconds(argv: list[str]) -> float:
    """User + system CPU of one child process run to completion (its output discarded)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=CHILD_TIMEOUT_S,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    args = parser.parse_args()

    integrity = [sys.executable, "-m", "integrity"]
    commands = [(" ".join(["integrity", *p]), [*integrity, *p]) for p in help_commands()]
    every = [REFERENCE, *FLOORS, *commands]
    samples: dict[str, list[float]] = {label: [] for label, _ in every}
    for _ in range(args.rounds):
        for label, argv in every:
            samples[label].append(cpu_seconds(argv))

    reference = statistics.median(samples[REFERENCE[0]])
    print(f"machine: {machine()}; load average at the end {load_average()}")
    print(f"{args.rounds} rounds; medians of each process's CPU time (user + system)\n")
    print(f"| command | CPU s | × reference | ≤ {GOAL_CPU_S} s |")
    print("|---|---|---|---|")
    print(f"| {REFERENCE[0]} (reference) | {reference:.3f} | 1.00 | |")
    for label, _ in FLOORS:
        median = statistics.median(samples[label])
        print(f"| {label} (typer's floor) | {median:.3f} | {median / reference:.2f} | |")
    worst = 0.0
    for label, _ in commands:
        median = statistics.median(samples[label])
        worst = max(worst, median)
        met = "yes" if median <= GOAL_CPU_S else "NO"
        print(f"| {label} | {median:.3f} | {median / reference:.2f} | {met} |")
    verdict = "met" if worst <= GOAL_CPU_S else "missed"
    print(f"\nslowest --help: {worst:.3f} s of CPU; goal ≤ {GOAL_CPU_S} s: {verdict}")


if __name__ == "__main__":
    main()
