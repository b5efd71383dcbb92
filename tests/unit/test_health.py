"""The worker's HTTP endpoints: liveness from the loop's beats, readiness from recovery."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest

import streams.metrics
from streams.embedded.processes import free_port
from streams.health import Health, serve


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def served() -> tuple[Health, int]:
    health = Health(stale_after_s=60)
    port = free_port()
    server = serve("127.0.0.1", port, health)
    yield health, port
    server.shutdown()
    server.server_close()


def test_readiness_follows_recovery_and_rebalances(served: tuple[Health, int]) -> None:
    health, port = served
    assert get(port, "/readyz") == (503, "starting: not yet joined its consumer group\n")
    health.ready()
    assert get(port, "/readyz") == (200, "ready\n")
    health.unready("rebalancing: partitions revoked, waiting for the new assignment")
    assert get(port, "/readyz")[0] == 503


def test_liveness_fails_when_the_loop_stops_beating(served: tuple[Health, int]) -> None:
    health, port = served
    assert get(port, "/healthz") == (200, "ok\n")
    health.stale_after_s = -1.0  # any silence is now too long
    status, body = get(port, "/healthz")
    assert status == 503 and body.startswith("event loop silent for")
    health.stale_after_s = 60.0
    health.beat()
    assert get(port, "/healthz")[0] == 200


def test_metrics_on_the_same_port_and_nothing_else(served: tuple[Health, int]) -> None:
    _, port = served
    status, body = get(port, "/metrics")
    assert status == 200 and "policyguard_events_total" in body
    assert get(port, "/admin")[0] == 404


def test_a_taken_port_is_an_error_not_a_silent_second_server(served: tuple[Health, int]) -> None:
    _, port = served
    with pytest.raises(OSError):
        serve("127.0.0.1", port, Health(stale_after_s=60))


def test_a_revoked_partitions_lag_is_no_longer_exported() -> None:
    """The lag alert pages on ``max by (topic)``: the last value of a partition this worker gave
    away must not stay exported."""
    from prometheus_client import REGISTRY

    def lag(partition: int) -> float | None:
        return REGISTRY.get_sample_value("policyguard_consumer_lag", {"topic": "t-revoke", "partition": str(partition)})

    streams.metrics.set_lag("t-revoke", 0, highwater=500, last_offset=99)
    streams.metrics.set_lag("t-revoke", 1, highwater=10, last_offset=9)
    assert lag(0) == 400.0 and lag(1) == 0.0
    streams.metrics.forget_partitions([("t-revoke", 0), ("t-revoke", 7)])  # 7 was never measured here
    assert lag(0) is None and lag(1) == 0.0
