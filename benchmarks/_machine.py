"""What every benchmark prints about the machine it ran on (figures mean little without it)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    """The 1-minute load average, as the kernel reports it ("unknown" elsewhere)."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "unknown"


def machine() -> str:
    """One line: CPU, core count (shared with whatever else runs), Python."""
    return f"{cpu_model()}, {os.cpu_count()} cores (shared), Python {platform.python_version()}"
