"""Child processes that never outlive PolicyGuard.

Each child runs in its own session (so a terminal's Ctrl-C reaches only us, and we stop the
children in order), asks the kernel for SIGTERM if we die (PR_SET_PDEATHSIG), and is
stopped by pid: SIGTERM, then SIGKILL after a grace period.
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except OSError:
            pass


class ChildProcess:
    def __init__(self, name: str, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = env
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def start(self) -> ChildProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        return self

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM, wait up to ``grace_s``, then SIGKILL; returns the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(grace_s)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait()
        return self.popen.returncode

    def signal(self, signum: int) -> None:
        if self.popen is not None and self.popen.poll() is None:
            try:
                os.kill(self.popen.pid, signum)
            except ProcessLookupError:
                pass

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class StartupFailed(RuntimeError):
    pass


def wait_for_port(child: ChildProcess, host: str, port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not child.running():
            raise StartupFailed(f"{child.name} exited during start-up:\n{child.log_tail()}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise StartupFailed(f"{child.name} did not listen on {host}:{port} within {timeout_s:.0f}s:\n{child.log_tail()}")


def start_server(group: ProcessGroup, name: str, argv: Sequence[str], log_path: Path, host: str, port: int) -> ChildProcess:
    """Start a server child in ``group`` and return once it accepts connections on ``host:port``."""
    child = group.add(ChildProcess(name, argv, log_path).start())
    wait_for_port(child, host, port)
    return child


class ProcessGroup:
    """Children stopped in reverse start order on exit, error or Ctrl-C."""

    def __init__(self) -> None:
        self.children: list[ChildProcess] = []

    def add(self, child: ChildProcess) -> ChildProcess:
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        """Stop every child; a second Ctrl-C meanwhile must not leave any of them running."""
        blocked = {signal.SIGINT, signal.SIGTERM}
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        try:
            while self.children:
                self.children.pop().stop()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()
