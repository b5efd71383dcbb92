"""``/metrics``, ``/healthz`` and ``/readyz`` on one port, served from a thread.

Liveness asks whether the worker's event loop still turns: the sweep timer beats every
``POLICYGUARD_TIMER_INTERVAL_S``; a loop stuck in a call stops the beats and the probe fails
after ``stale_after_s``. Readiness asks whether the worker has joined its group and recovered
the state of the partitions it owns (a rebalance makes it unready until recovered again).
"""
from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest


class Health:
    def __init__(self, stale_after_s: float) -> None:
        self.stale_after_s = stale_after_s
        self._beat = time.monotonic()
        self._ready = False
        self._why = "starting: not yet joined its consumer group"

    def beat(self) -> None:
        self._beat = time.monotonic()

    def ready(self) -> None:
        self._ready, self._why = True, "ready"

    def unready(self, why: str) -> None:
        self._ready, self._why = False, why

    def liveness(self) -> tuple[bool, str]:
        silent = time.monotonic() - self._beat
        if silent > self.stale_after_s:
            return False, f"event loop silent for {silent:.0f} s"
        return True, "ok"

    def readiness(self) -> tuple[bool, str]:
        return self._ready, self._why


def serve(host: str, port: int, health: Health) -> ThreadingHTTPServer:
    """Starts the server in a daemon thread (OSError if the port is taken)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            elif path in ("/healthz", "/readyz"):
                ok, why = health.liveness() if path == "/healthz" else health.readiness()
                self._send(200 if ok else 503, f"{why}\n".encode(), "text/plain; charset=utf-8")
            else:
                self._send(404, b"not found: /metrics, /healthz or /readyz\n", "text/plain; charset=utf-8")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="health-http", daemon=True).start()
    return server
