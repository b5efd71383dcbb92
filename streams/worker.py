"""``policyguard worker``: set up topics, serve /metrics, then run the Faust worker."""
from __future__ import annotations

import asyncio
import logging
import sys

import faust
import redis
from prometheus_client import start_http_server

from streams.app import build_app
from streams.core.rules_config import RulesConfigError
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


def run_worker(settings: Settings) -> int:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if not settings.kafka_bootstrap_servers:
            raise WorkerStartError("KAFKA_BOOTSTRAP_SERVERS is not set (use `policyguard demo` for a local broker)")
        ruleset = load_ruleset(settings.rules_file)
        if settings.redis_url:
            check_redis(settings.redis_url)
        counts = asyncio.run(ensure_topics(settings))
    except (WorkerStartError, TopicSetupError, RulesConfigError) as exc:
        print(f"policyguard worker: {exc}", file=sys.stderr)
        return 2
    log.info("topics ready: %s", ", ".join(f"{name}={n}" for name, n in sorted(counts.items())))
    asyncio.set_event_loop(asyncio.new_event_loop())
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
        log.info("metrics on http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)
    app = build_app(settings, ruleset, partitions=counts[settings.topic_policy_events])

    @app.task
    async def quiet_client_loggers() -> None:
        # aiokafka builds a debug record per sent message when its logger inherits DEBUG
        # (README "How it works", throughput): pin the client libraries to the configured level.
        level = max(logging.getLevelName(settings.log_level), logging.INFO)
        for name in ("aiokafka", "kafka", "faust", "mode"):
            logging.getLogger(name).setLevel(level)

    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()  # returns only via sys.exit on shutdown
    return 0
