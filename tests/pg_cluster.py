"""Throwaway PostgreSQL clusters on free ports, for the sharded fingerprint index.

Why initdb and not pg_createcluster: a cluster in a temporary directory leaves nothing in
/etc/postgresql or /var/lib/postgresql, and its unix socket lives in that directory, so tests of
several engineers on one machine never meet. Run as root, the server runs as `postgres`.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

START_TIMEOUT_S = 60
"""pg_ctl's wait for a start or stop (s)."""


def postgres_bindir() -> Path:
    """Where initdb and pg_ctl are (pg_config, else the newest Debian install)."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        path = Path(found.stdout.strip())
        if (path / "initdb").exists():
            return path
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")
    return Path(candidates[-1]).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalCluster:
    """A PostgreSQL cluster with trust auth on 127.0.0.1:port, in its own directory."""

    def __init__(self, root: Path, port: int | None = None) -> None:
        self.root = root
        self.port = port or _free_port()
        self.data = root / "data"
        self.bindir = postgres_bindir()

    def _run(self, *cmd: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        done = subprocess.run([*prefix, *cmd], capture_output=True, text=True)
        if done.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()}\n{tail}")

    def init(self) -> None:
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
            "--no-sync", "-E", "UTF8",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.root / "server.log"), "-t", str(START_TIMEOUT_S), "-w", "start",
        )

    def stop(self) -> None:
        """Stop at once (immediate shutdown: what a crashed or unplugged shard looks like)."""
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
            "-t", str(START_TIMEOUT_S), "-w", "stop",
        )

    @property
    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"


@contextmanager
def local_clusters(n: int) -> Iterator[list[LocalCluster]]:
    """n started clusters, stopped and deleted afterwards."""
    root = Path(tempfile.mkdtemp(prefix="integrity-pg-"))
    clusters: list[LocalCluster] = []
    try:
        for i in range(n):
            home = root / f"shard{i}"
            home.mkdir()
            if os.geteuid() == 0:
                shutil.chown(root, "postgres")
                shutil.chown(home, "postgres")
            cluster = LocalCluster(home)
            cluster.init()
            cluster.start()
            clusters.append(cluster)
        yield clusters
    finally:
        for cluster in clusters:
            if cluster.running:
                with suppress(RuntimeError):
                    cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
