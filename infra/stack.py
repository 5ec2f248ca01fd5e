"""Run a few local services as child processes: start, wait until ready, stop them all.

Used by `infra/demo.py` and the end-to-end tests. Every service runs in its own process
group (its own session), so stopping it also stops whatever it spawned, and a Ctrl-C in the
terminal reaches only the supervisor, which then stops the services in reverse order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

__all__ = ["ServiceSpec", "Stack", "StartError", "free_port", "port_is_free", "python_module"]


#: what a failure report quotes of a service's output
TAIL_LINES = 40
TAIL_BYTES = 64 * 1024


class StartError(RuntimeError):
    """A service exited or did not become ready in time; the message has its last lines."""


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    #: GET this until it answers 200.
    ready_url: str
    cwd: Path | None = None
    ready_timeout_s: float = 60.0
    #: Write the service's output here; None: print it prefixed with the name.
    log_path: Path | None = None
    #: Grace period between SIGTERM and SIGKILL, in seconds.
    stop_timeout_s: float = 10.0


class _Running:
    """One child process. With a `log_path`, the child writes its output straight into that
    file: a pipe pumped by a thread of this process would stall the child whenever this
    process is busy (the thread waits for the GIL, the pipe fills, the child's next log
    line blocks), which under load throttled the services to a few requests a second."""

    def __init__(self, spec: ServiceSpec, echo: Callable[[str], None]) -> None:
        self.spec = spec
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._log: IO[bytes] | None = None
        self._reader: threading.Thread | None = None
        if spec.log_path is not None:
            spec.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = spec.log_path.open("ab")
        self.popen = subprocess.Popen(
            list(spec.argv),
            env=dict(spec.env),
            cwd=spec.cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log if self._log is not None else subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: signals go to the whole group
        )
        self._echo = echo
        if self._log is None:
            self._reader = threading.Thread(
                target=self._pump, name=f"{spec.name}-output", daemon=True
            )
            self._reader.start()

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            self.tail.append(line)
            self._echo(f"[{self.spec.name}] {line}")

    def last_lines(self) -> list[str]:
        if self.spec.log_path is None:
            return list(self.tail)
        with contextlib.suppress(OSError), self.spec.log_path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - TAIL_BYTES))
            text = log.read().decode("utf-8", errors="replace")
            return text.splitlines()[-TAIL_LINES:]
        return []

    def describe_failure(self, reason: str) -> str:
        if self._reader is not None:
            self._reader.join(timeout=1)
        lines = "\n".join(f"    {line}" for line in self.last_lines()) or "    (no output)"
        where = f" (full log: {self.spec.log_path})" if self.spec.log_path else ""
        return f"{self.spec.name}: {reason}{where}; last output:\n{lines}"

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=2)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        if self._log is not None:
            self._log.close()


def _print_line(line: str) -> None:
    print(line, flush=True)


class Stack:
    """Services started in order and stopped in reverse order; a context manager."""

    def __init__(self, echo: Callable[[str], None] = _print_line) -> None:
        self._running: list[_Running] = []
        self._echo = echo

    def start(self, spec: ServiceSpec, cancel: threading.Event | None = None) -> None:
        """Start `spec` and block until its ready URL answers 200 (or `cancel` is set).

        Raises `StartError` when the service exits first or is not ready in time.
        """
        running = _Running(spec, self._echo)
        self._running.append(running)
        deadline = time.monotonic() + spec.ready_timeout_s
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while cancel is None or not cancel.is_set():
                code = running.popen.poll()
                if code is not None:
                    raise StartError(running.describe_failure(f"exited with status {code}"))
                try:
                    if client.get(spec.ready_url).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise StartError(
                        running.describe_failure(
                            f"not ready at {spec.ready_url} after {spec.ready_timeout_s:.0f} s"
                        )
                    )
                time.sleep(0.2)

    def exited(self) -> list[tuple[str, int]]:
        """Services that have exited on their own, with their status."""
        return [(r.spec.name, code) for r in self._running if (code := r.popen.poll()) is not None]

    def pid(self, name: str) -> int:
        """The process id of the running service `name` (KeyError when there is none)."""
        for running in self._running:
            if running.spec.name == name:
                return running.popen.pid
        raise KeyError(name)

    def stop(self, name: str | None = None) -> None:
        """SIGTERM each process group (all, or just `name`), then SIGKILL what lingers."""
        targets = [r for r in reversed(self._running) if name in (None, r.spec.name)]
        for running in targets:
            if running.popen.poll() is None:
                running.signal_group(signal.SIGTERM)
            try:
                running.popen.wait(timeout=running.spec.stop_timeout_s)
            except subprocess.TimeoutExpired:
                running.signal_group(signal.SIGKILL)
                running.popen.wait(timeout=5)
            # Children that outlived their parent in the group get the same end.
            running.signal_group(signal.SIGKILL)
            running.close()
            self._running.remove(running)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on host:port now (TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers (uvicorn, node) set SO_REUSEADDR too, so this answers as they would.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def python_module(module: str, *args: str) -> list[str]:
    """argv running `python -m module args...` with this interpreter (the uv venv's)."""
    return [sys.executable, "-m", module, *args]
