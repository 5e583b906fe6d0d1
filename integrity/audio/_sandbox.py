"""A warm, resource-limited decoder child process, and the parent-side client that feeds it.

Why a child: libsndfile and FFmpeg have had memory-corruption CVEs, so hostile bytes are parsed
only in a process that may crash, hang or balloon without taking the service with it. Why warm:
a fresh interpreter importing numpy and PyAV costs far more than decoding a song at the
~300x-realtime budget, so one child per (parent process, memory limit) serves request after
request and is replaced only when it dies, misbehaves or has used up its CPU budget.

Child limits (set after its imports, before it reads any request): RLIMIT_AS from the memory
limit, a lifetime RLIMIT_CPU, RLIMIT_FSIZE 0 (it can write no file), a small RLIMIT_NOFILE,
RLIMIT_CORE 0, death with its parent (PR_SET_PDEATHSIG), and best effort, new user and
network namespaces so that it has no network. The parent enforces a wall-clock
timeout per request and kills the child (SIGKILL) when it passes.

Wire protocol, one request at a time:
  parent -> child stdin:  one JSON line {"op": "probe"|"decode", "path", "sample_rate",
                          "max_duration_s", "max_bytes"}
  child  -> parent:       one JSON header line {"ok": true, "probe": {...}, "samples": N,
                          "sample_rate", "backend", "cpu_s"} then N float32 samples (native
                          byte order) for a decode; or {"ok": false, "reason", "detail", "cpu_s"}.
The child's own fd 1 is pointed at stderr so a stray print can never corrupt the stream.

Run as `python -m integrity.audio._sandbox MEMORY_LIMIT_BYTES CPU_LIMIT_S`.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import json
import logging
import math
import os
import select
import signal
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

import numpy as np

from integrity.audio.constants import (
    DURATION_CAP_SLACK_S,
    LINUX_CLONE_NEWNET,
    LINUX_CLONE_NEWUSER,
    LINUX_F_SETPIPE_SZ,
    LINUX_PR_SET_PDEATHSIG,
    MAX_OUTPUT_RATE_HZ,
    SANDBOX_CPU_BUDGET_FACTOR,
    SANDBOX_MAX_HEADER_BYTES,
    SANDBOX_MAX_OPEN_FILES,
    SANDBOX_MAX_REQUESTS,
    SANDBOX_PIPE_BYTES,
    SANDBOX_READ_CHUNK_BYTES,
    SANDBOX_START_TIMEOUT_S,
    SANDBOX_STDERR_LINES,
    SANDBOX_STOP_TIMEOUT_S,
)
from integrity.audio.errors import AudioDecodeError, DecodeFailure
from integrity.audio.records import AudioProbe, DecodeLimits

logger = logging.getLogger(__name__)

_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", LINUX_F_SETPIPE_SZ)
_PACKAGE_PARENT = Path(__file__).resolve().parent.parent.parent
CHILD_MODULE = "integrity.audio._sandbox"
"""The plain decoder child; modules built on it pass their own name to SandboxDecoder."""
_CHILD_ENV = {  # keep numerical libraries from spawning thread pools inside the child
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


# --------------------------------------------------------------------------------------------
# Child side
# --------------------------------------------------------------------------------------------


def _isolate_network() -> bool:
    """Best effort: move into fresh user and network namespaces, leaving no network at all.

    Unprivileged user namespaces are allowed on most Linux hosts; where they are not, the
    child runs without this layer and says so (the parent logs it).
    """
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        status: int = libc.unshare(LINUX_CLONE_NEWUSER | LINUX_CLONE_NEWNET)
        return status == 0
    except (OSError, AttributeError):
        return False


def _limit_child(memory_limit_bytes: int, cpu_limit_s: int) -> None:
    """Apply the resource limits to this (child) process; called once, after imports."""
    import resource  # POSIX only, and only the child needs it

    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (SANDBOX_MAX_OPEN_FILES, SANDBOX_MAX_OPEN_FILES))
    # RLIMIT_CPU counts the whole process: what the imports already spent comes on top of the
    # budget, or a heavy child (the analysis imports librosa) would be killed as it starts.
    budget_s = math.ceil(_cpu_seconds()) + cpu_limit_s
    resource.setrlimit(resource.RLIMIT_CPU, (budget_s, budget_s + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(LINUX_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


ChildOp = Callable[[Path, dict[str, Any]], tuple[dict[str, Any], bytes]]
"""A request type a child module adds: (path, request) -> (reply fields, payload bytes)."""


def _handle(request: dict[str, Any], out: IO[bytes], ops: dict[str, ChildOp]) -> bool:
    """Serve one request; returns False when the child must exit (its state is suspect)."""
    from integrity.audio import _decoders  # the parent never needs the decoders' imports

    path = Path(request["path"])
    try:
        if request["op"] in ops:
            fields, payload = ops[request["op"]](path, request)
            header = {**fields, "ok": True, "payload_bytes": len(payload), "cpu_s": _cpu_seconds()}
            out.write(json.dumps(header).encode() + b"\n")
            out.write(payload)
            out.flush()
            return True
        if request["op"] == "probe":
            found = _decoders.probe(path)
            header = {"ok": True, "probe": asdict(found), "cpu_s": _cpu_seconds()}
            out.write(json.dumps(header).encode() + b"\n")
            out.flush()
            return True
        size = path.stat().st_size  # again: the file may have grown since the parent looked
        if size > int(request["max_bytes"]):
            raise AudioDecodeError(path, DecodeFailure.TOO_BIG, f"{size} bytes")
        found = _decoders.probe(path)
        limits_s = float(request["max_duration_s"])
        found.check(path, limits_s)
        decoded = _decoders.decode(
            path,
            sample_rate=request["sample_rate"],
            max_duration_s=limits_s,
            checked=found,
        )
        samples = np.ascontiguousarray(decoded.samples, dtype=np.float32)
        header = {
            "ok": True,
            "probe": asdict(decoded.probe),
            "samples": int(samples.shape[0]),
            "sample_rate": decoded.sample_rate,
            "backend": decoded.backend,
            "cpu_s": _cpu_seconds(),
        }
        out.write(json.dumps(header).encode() + b"\n")
        out.write(samples.data.cast("B"))
        out.flush()
        return True
    except AudioDecodeError as exc:
        _reply_error(out, exc.reason, exc.detail, exiting=False)
        return True
    except MemoryError as exc:
        _reply_error(out, DecodeFailure.MEMORY, str(exc) or "allocation failed", exiting=True)
        return False
    except OSError as exc:  # the file vanished or became unreadable since the parent looked
        _reply_error(out, DecodeFailure.UNREADABLE, exc.strerror or str(exc), exiting=False)
        return True
    except Exception as exc:  # a decoder bug on hostile input: report it, then start afresh
        _reply_error(out, DecodeFailure.CORRUPT, f"{type(exc).__name__}: {exc}", exiting=True)
        return False


def _reply_error(out: IO[bytes], reason: DecodeFailure, detail: str, *, exiting: bool) -> None:
    header = {
        "ok": False,
        "reason": reason.value,
        "detail": detail,
        "exiting": exiting,
        "cpu_s": _cpu_seconds(),
    }
    with contextlib.suppress(OSError, MemoryError):
        out.write(json.dumps(header).encode() + b"\n")
        out.flush()


def serve(memory_limit_bytes: int, cpu_limit_s: int, ops: dict[str, ChildOp] | None = None) -> None:
    """Child main loop: import everything, limit ourselves, then answer requests until EOF.

    `ops` adds request types (a child module built on this one, imported before the limits,
    e.g. the whole-asset analysis): they run under the same limits and error handling.
    """
    import av  # imported before the limits, so imports never hit them
    import soundfile  # noqa: F401
    import soxr  # noqa: F401

    import integrity.audio._decoders  # noqa: F401

    av.logging.set_level(av.logging.PANIC)
    protocol_fd = os.dup(1)
    os.dup2(2, 1)  # stray prints and C library chatter go to stderr, never into the protocol
    out = os.fdopen(protocol_fd, "wb")
    isolated = _isolate_network()
    _limit_child(memory_limit_bytes, cpu_limit_s)
    out.write(json.dumps({"ready": True, "network_isolated": isolated}).encode() + b"\n")
    out.flush()
    for line in sys.stdin.buffer:
        try:
            request = json.loads(line)
        except ValueError:
            return
        if not _handle(request, out, ops or {}):
            return


# --------------------------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------------------------


class SandboxDecoder:
    """One warm decoder child with a fixed memory limit; thread-safe (requests are serialised).

    For parallel decoding use several processes (each Celery prefork worker owns its own) or
    several SandboxDecoder instances.
    """

    def __init__(
        self, memory_limit_bytes: int, timeout_s: float, module: str = CHILD_MODULE
    ) -> None:
        self.module = module  # run as `python -m module MEMORY CPU`; it calls `serve`
        self.memory_limit_bytes = memory_limit_bytes
        self.cpu_limit_s = max(1, math.ceil(SANDBOX_CPU_BUDGET_FACTOR * timeout_s))
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=SANDBOX_STDERR_LINES)
        self._drainer: threading.Thread | None = None
        self.network_isolated = False  # whether the current child has no network namespace
        self._requests = 0
        self._cpu_used_s = 0.0
        _instances.add(self)

    @property
    def pid(self) -> int | None:
        """The current child's pid (None when none is running)."""
        return self._proc.pid if self._proc is not None else None

    def probe(self, path: Path, limits: DecodeLimits) -> AudioProbe:
        """Probe one file in the child."""
        header, _ = self._request(path, limits, {"op": "probe"}, None)
        return AudioProbe(**header["probe"])

    def decode(
        self, path: Path, sample_rate: int | None, limits: DecodeLimits
    ) -> tuple[AudioProbe, np.ndarray, int, str]:
        """Decode one file in the child: (probe, samples, sample rate, backend)."""
        request = {
            "op": "decode",
            "sample_rate": sample_rate,
            "max_duration_s": limits.max_duration_s,
            "max_bytes": limits.max_bytes,
        }
        header, samples = self._request(path, limits, request, sample_rate)
        assert samples is not None
        return AudioProbe(**header["probe"]), samples, header["sample_rate"], header["backend"]

    def call(
        self,
        op: str,
        path: Path,
        limits: DecodeLimits,
        fields: dict[str, Any],
        max_payload_bytes: int,
    ) -> tuple[dict[str, Any], bytes]:
        """Run a request type the child module added; its reply fields and payload bytes."""
        request = {
            **fields,
            "op": op,
            "max_duration_s": limits.max_duration_s,
            "max_bytes": limits.max_bytes,
            "max_payload_bytes": max_payload_bytes,
        }
        header, payload = self._request(path, limits, request, None)
        assert isinstance(payload, bytes | bytearray)
        return header, bytes(payload)

    def close(self) -> None:
        """Stop the child (closing its stdin lets it exit; kill it if it does not)."""
        with self._lock:
            self._stop(graceful=True)

    def _forget_after_fork(self) -> None:
        """In a forked process: drop the parent's child without signalling it.

        Celery prefork workers and multiprocessing fork the service; each forked process must
        start its own decoder child, and must not hold the parent's pipe ends open (that would
        keep the parent's child from seeing EOF when the parent closes it).
        """
        self._lock = threading.Lock()
        proc, self._proc = self._proc, None
        if proc is not None:
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        os.close(stream.fileno())

    # -- internals -------------------------------------------------------------------------

    def _request(
        self,
        path: Path,
        limits: DecodeLimits,
        request: dict[str, Any],
        sample_rate: int | None,
    ) -> tuple[dict[str, Any], Any]:
        with self._lock:
            proc = self._ensure_child()
            deadline = time.monotonic() + limits.timeout_s
            message = dict(request, path=str(path))
            started = time.monotonic()
            try:
                proc = self._send(proc, json.dumps(message).encode() + b"\n")
                assert proc.stdout is not None
                reader = _DeadlineReader(proc.stdout.fileno(), deadline)
                header = json.loads(reader.line(SANDBOX_MAX_HEADER_BYTES))
                if not isinstance(header, dict):
                    raise TypeError("reply header is not an object")
                ok = header["ok"] is True
                failure = None if ok else DecodeFailure(header["reason"])
                cpu_used_s = float(header["cpu_s"])
                samples: np.ndarray | bytearray | None = None
                if ok and request["op"] == "decode":
                    count = self._validated_count(header, limits, sample_rate)
                    samples = np.empty(count, dtype=np.float32)
                    reader.fill(samples.data.cast("B"))
                elif ok and request["op"] != "probe":
                    size = int(header["payload_bytes"])
                    if not 0 <= size <= int(request["max_payload_bytes"]):
                        raise ValueError(f"child announced a {size}-byte payload")
                    samples = bytearray(size)
                    reader.fill(memoryview(samples))
            except _DeadlineError as exc:
                self._stop(graceful=False)
                logger.warning(
                    "decode timed out; sandbox child killed",
                    extra={"path": str(path), "timeout_s": limits.timeout_s},
                )
                raise AudioDecodeError(
                    path, DecodeFailure.TIMEOUT, f"no result within {limits.timeout_s:g} s"
                ) from exc
            except (_ChildGoneError, BrokenPipeError) as exc:
                failure = self._diagnose_death(proc)
                if failure is DecodeFailure.CRASHED and time.monotonic() >= deadline:
                    # Killed once its time was up (the CPU limit's hard SIGKILL races the
                    # wall-clock check): the request ran out of time, it did not crash.
                    failure = DecodeFailure.TIMEOUT
                self._stop(graceful=False)
                logger.warning(
                    "sandbox child died",
                    extra={"path": str(path), "reason": failure.value, "error": repr(exc)},
                )
                raise AudioDecodeError(path, failure, self._death_detail(proc)) from exc
            except (ValueError, KeyError, TypeError) as exc:
                # A reply that breaks the protocol: the child cannot be trusted any more.
                self._stop(graceful=False)
                logger.warning(
                    "sandbox child broke the protocol; killed",
                    extra={"path": str(path), "error": repr(exc)},
                )
                raise AudioDecodeError(
                    path, DecodeFailure.CRASHED, f"protocol violation: {exc!r}"
                ) from exc
            self._requests += 1
            self._cpu_used_s = cpu_used_s
            logger.debug(
                "sandbox request done",
                extra={
                    "path": str(path),
                    "op": request["op"],
                    "ok": ok,
                    "elapsed_s": round(time.monotonic() - started, 4),
                },
            )
            if failure is not None:
                if header.get("exiting"):
                    self._stop(graceful=True)
                self._recycle_if_spent(limits)
                raise AudioDecodeError(path, failure, str(header.get("detail", "")))
            self._recycle_if_spent(limits)
            return header, samples

    def _send(self, proc: subprocess.Popen[bytes], message: bytes) -> subprocess.Popen[bytes]:
        """Write one request; if the idle child died since the last one, start another once.

        The file has not been seen by anyone yet, so a dead idle child is not its fault.
        """
        for attempt in range(2):
            assert proc.stdin is not None
            try:
                proc.stdin.write(message)
                proc.stdin.flush()
                return proc
            except BrokenPipeError:
                if attempt:
                    raise
                logger.warning("idle sandbox child was gone; restarting", extra={"pid": proc.pid})
                self._stop(graceful=False)
                proc = self._ensure_child()
        return proc

    def _validated_count(
        self, header: dict[str, Any], limits: DecodeLimits, sample_rate: int | None
    ) -> int:
        """Never trust a size from the child blindly: bound it by the duration limit."""
        count = int(header["samples"])
        rate = int(header["sample_rate"])
        if sample_rate is not None and rate != sample_rate:
            raise ValueError(f"child answered {rate} Hz for a {sample_rate} Hz request")
        if not 0 < rate <= MAX_OUTPUT_RATE_HZ:
            raise ValueError(f"child answered an impossible rate {rate}")
        cap = math.ceil((limits.max_duration_s + 2 * DURATION_CAP_SLACK_S) * rate)  # + soxr edge
        if not 0 <= count <= cap:
            raise ValueError(f"child announced {count} samples, cap {cap}")
        return count

    def _recycle_if_spent(self, limits: DecodeLimits) -> None:
        """Replace the child before its lifetime CPU limit could cut a request short."""
        spent = self._cpu_used_s + 2 * limits.timeout_s >= self.cpu_limit_s
        if spent or self._requests >= SANDBOX_MAX_REQUESTS:
            self._stop(graceful=True)

    def _ensure_child(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._stop(graceful=False)
        started = time.monotonic()
        env = dict(os.environ, **_CHILD_ENV)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-E",  # no PYTHON* variables (PYTHONPATH, PYTHONSTARTUP) steer the child
                "-s",  # nor the user's site-packages
                "-m",
                self.module,
                str(self.memory_limit_bytes),
                str(self.cpu_limit_s),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            # `-m` puts the working directory first on sys.path: run from the directory that
            # holds this package, never from wherever the service happens to be (a delivery
            # folder could contain an `integrity/` of its own).
            cwd=_PACKAGE_PARENT,
            close_fds=True,
            start_new_session=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        with contextlib.suppress(OSError):
            fcntl.fcntl(proc.stdout.fileno(), _F_SETPIPE_SZ, SANDBOX_PIPE_BYTES)
        self._stderr_tail.clear()
        self._drainer = threading.Thread(
            target=_drain, args=(proc.stderr, self._stderr_tail), daemon=True
        )
        self._drainer.start()
        self._proc = proc
        self._requests = 0
        self._cpu_used_s = 0.0
        try:
            ready = json.loads(
                _DeadlineReader(
                    proc.stdout.fileno(), time.monotonic() + SANDBOX_START_TIMEOUT_S
                ).line(SANDBOX_MAX_HEADER_BYTES)
            )
            if not isinstance(ready, dict) or ready.get("ready") is not True:
                raise ValueError(f"sent {ready!r} instead of ready")
        except (_DeadlineError, _ChildGoneError, ValueError) as exc:
            detail = self._death_detail(proc)
            self._stop(graceful=False)
            raise RuntimeError(f"audio sandbox failed to start: {exc!r}; {detail}") from exc
        self.network_isolated = bool(ready.get("network_isolated"))
        logger.debug(  # once per process: operators need it only when chasing the sandbox
            "audio sandbox started",
            extra={
                "pid": proc.pid,
                "memory_limit_bytes": self.memory_limit_bytes,
                "cpu_limit_s": self.cpu_limit_s,
                "network_isolated": self.network_isolated,
                "startup_s": round(time.monotonic() - started, 3),
            },
        )
        return proc

    def _diagnose_death(self, proc: subprocess.Popen[bytes]) -> DecodeFailure:
        """Name what killed the child: CPU limit, memory (allocation failure), or a crash."""
        try:
            code = proc.wait(timeout=SANDBOX_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return DecodeFailure.CRASHED
        if self._drainer is not None:  # let the last stderr lines arrive
            self._drainer.join(timeout=SANDBOX_STOP_TIMEOUT_S)
        if code in (-signal.SIGXCPU, -signal.SIGKILL):
            return DecodeFailure.TIMEOUT if code == -signal.SIGXCPU else DecodeFailure.CRASHED
        tail = " ".join(self._stderr_tail).lower()
        if "memory" in tail or "cannot allocate" in tail or "bad_alloc" in tail:
            return DecodeFailure.MEMORY
        return DecodeFailure.CRASHED

    def _death_detail(self, proc: subprocess.Popen[bytes]) -> str:
        code = proc.poll()
        if code is not None and code < 0:
            status = f"child killed by {signal.Signals(-code).name}"
        else:
            status = f"child exited with {code}"
        tail = list(self._stderr_tail)[-1:] if self._stderr_tail else []
        return "; ".join([status, *tail])

    def _stop(self, *, graceful: bool) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if graceful:
            try:
                proc.wait(timeout=SANDBOX_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                graceful = False
        if not graceful and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


_instances: weakref.WeakSet[SandboxDecoder] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for sandbox in list(_instances):
        sandbox._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


class _DeadlineError(Exception):
    """The child did not answer before the deadline."""


class _ChildGoneError(Exception):
    """The child closed its end of the pipe (it died)."""


class _DeadlineReader:
    """Reads from the child's stdout without ever blocking past a wall-clock deadline."""

    def __init__(self, fd: int, deadline: float) -> None:
        self._fd = fd
        self._deadline = deadline
        self._pending = b""
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)

    def _wait(self) -> None:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0 or not self._poll.poll(max(1, math.ceil(remaining * 1000))):
            raise _DeadlineError
        if time.monotonic() > self._deadline:
            raise _DeadlineError

    def line(self, limit: int) -> bytes:
        """One newline-terminated line (without the newline); later bytes are kept."""
        buffer = self._pending
        while b"\n" not in buffer:
            if len(buffer) > limit:
                raise ValueError("reply header too long")
            self._wait()
            chunk = os.read(self._fd, SANDBOX_READ_CHUNK_BYTES)
            if not chunk:
                raise _ChildGoneError
            buffer += chunk
        head, _, self._pending = buffer.partition(b"\n")
        return head

    def fill(self, target: memoryview) -> None:
        """Fill `target` exactly, starting with bytes already read past the header."""
        position = len(self._pending)
        if position > len(target):
            raise ValueError("child sent more bytes than announced")
        target[:position] = self._pending
        self._pending = b""
        while position < len(target):
            self._wait()
            count = os.readv(self._fd, [target[position : position + SANDBOX_READ_CHUNK_BYTES]])
            if count == 0:
                raise _ChildGoneError
            position += count


def _drain(stream: IO[bytes], tail: collections.deque[str]) -> None:
    """Keep the last lines of the child's stderr (so it never blocks on a full pipe)."""
    with contextlib.suppress(OSError, ValueError):
        for raw in stream:
            tail.append(raw.decode("utf-8", "replace").rstrip())
    with contextlib.suppress(OSError):
        stream.close()


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
