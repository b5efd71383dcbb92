"""``policyguard worker``: set up topics, serve /metrics, then run the Faust worker."""
from __future__ import annotations

import asyncio
import logging
import sys

import faust
import redis

from streams.app import build_app
from streams.core.rules_config import RulesConfigError
from streams.cross_runner import build_runner
from streams.health import Health, serve
from streams.logs import setup_logging
from streams.rules_file import load_ruleset
from streams.settings import Settings
from streams.topics import TopicSetupError, ensure_topics

log = logging.getLogger("policyguard.worker")


class WorkerStartError(RuntimeError):
    pass


def check_redis(url: str) -> None:
    """Fail at start, not at the first lookup, when Redis is configured but unreachable."""
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise WorkerStartError(f"Redis at REDIS_URL is unreachable: {exc}") from exc
    finally:
        client.close()


STALE_AFTER_S = 15.0
"""/healthz fails once the event loop has not beaten for this long (or ten timer intervals)."""


def serve_http(settings: Settings, health: Health) -> None:
    try:
        serve(settings.metrics_host, settings.metrics_port, health)
    except OSError as exc:
        raise WorkerStartError(
            f"cannot serve /metrics on {settings.metrics_host}:{settings.metrics_port} ({exc.strerror}); "
            "give each worker on a host its own POLICYGUARD_METRICS_PORT (0 disables it)"
        ) from None
    log.info("metrics, healthz and readyz on http://%s:%d/", settings.metrics_host, settings.metrics_port)


def run_worker(settings: Settings) -> int:
    setup_logging(settings.log_level, settings.log_format)
    try:
        if not settings.kafka_bootstrap_servers:
            raise WorkerStartError("KAFKA_BOOTSTRAP_SERVERS is not set (use `policyguard demo` for a local broker)")
        ruleset = load_ruleset(settings.rules_file)
        health = Health(stale_after_s=max(STALE_AFTER_S, 10 * settings.timer_interval_s))
        if settings.metrics_port:
            serve_http(settings, health)
        if settings.redis_url:
            if settings.hash_secret is None:
                raise WorkerStartError("POLICYGUARD_HASH_SECRET is not set: the customer index on REDIS_URL stores "
                                       "keyed hashes, and a worker never uses the development key")
            check_redis(settings.redis_url)
        counts = asyncio.run(ensure_topics(settings))
    except (WorkerStartError, TopicSetupError, RulesConfigError) as exc:
        print(f"policyguard worker: {exc}", file=sys.stderr)
        return 2
    log.info("topics ready: %s", ", ".join(f"{name}={n}" for name, n in sorted(counts.items())))
    if not settings.redis_url:
        log.warning("REDIS_URL is not set: cross-policy checks (staff phone, identity conflict, shared "
                    "contact) are off and counted as skipped")
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = build_app(settings, ruleset, partitions=counts[settings.topic_policy_events], health=health,
                    cross=build_runner(settings))

    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False,
                          override_logging=False)  # ours, set above: one format for every line
    worker.spinner = None  # a terminal spinner: in a log file it was nothing but escape codes
    worker.execute_from_commandline()  # returns only via sys.exit on shutdown
    return 0
