"""Cross-policy detection live: two workers on 4 partitions give replay's alerts and ids, and a
worker whose Redis is stopped under load keeps validating, then catches up."""
from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.accounting import Accounting, collect
from streams.cli.main import main
from streams.core.origin import Stream
from streams.embedded.processes import ProcessGroup
from streams.embedded.redis_server import redis_server
from streams.produce import Published, publish
from streams.settings import Settings
from streams.topics import ensure_topics
from tests.cross_cases import ROSTER_CSV, Event, all_events, cases, comparable, cross_alerts
from tests.integration.conftest import Servers, load_roster, settings_for, short_grace
from tests.oracle import encode

pytestmark = pytest.mark.integration

EXPECTED = sum((case.alerts for case in cases().values()), Counter())


def live_settings(servers: Servers, tmp_path: Path, partitions: int) -> Settings:
    return short_grace(settings_for(servers, tmp_path, partitions=partitions))


async def publish_events(settings: Settings, events: list[Event]) -> list[Published]:
    published: list[Published] = []
    for stream, topic in ((Stream.POLICY, settings.topic_policy_events),
                          (Stream.ENDORSEMENT, settings.topic_endorsement_events)):
        values = [encode(doc) for s, doc in events if s is stream]
        if values:
            published += await publish(settings.kafka_bootstrap_servers or "", topic, values)
    return published


def replayed_alerts(settings: Settings, roster: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """The same events through replay with the in-process store and the workers' key."""
    files = []
    for name, stream in (("policy.jsonl", Stream.POLICY), ("endorsement.jsonl", Stream.ENDORSEMENT)):
        path = tmp_path / name
        path.write_bytes(b"".join(encode(doc) + b"\n" for s, doc in all_events() if s is stream))
        files.append(str(path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert settings.hash_secret is not None
    monkeypatch.setenv("POLICYGUARD_HASH_SECRET", settings.hash_secret.get_secret_value())
    assert main(["replay", *files, "--roster", str(roster), "--out", str(tmp_path / "replay")]) == 0
    lines = (tmp_path / "replay" / "alerts.jsonl").read_text().splitlines()
    return cross_alerts([json.loads(line) for line in lines])


async def read_alerts(settings: Settings, done: Any, timeout_s: float) -> list[dict[str, Any]]:
    """Poll the alert topic from the start until ``done(alerts)`` or the timeout."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None)
    await consumer.start()
    alerts: list[dict[str, Any]] = []
    try:
        await consumer.topics()
        partitions = [TopicPartition(settings.topic_alerts, p)
                      for p in sorted(consumer.partitions_for_topic(settings.topic_alerts) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not done(alerts):
            batch = await consumer.getmany(timeout_ms=300)
            alerts += [json.loads(m.value or b"{}") for messages in batch.values() for m in messages]
    finally:
        await consumer.stop()
    return alerts


def by_id(alerts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {alert["alert_id"]: comparable(alert) for alert in alerts}


def test_two_workers_on_four_partitions_raise_replays_alerts(servers: Servers, tmp_path: Path, worker_factory,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    settings = live_settings(servers, tmp_path, partitions=4)
    asyncio.run(ensure_topics(settings))
    roster = load_roster(settings, tmp_path, ROSTER_CSV)
    first = worker_factory(settings)
    second = worker_factory(settings.model_copy(update={"metrics_port": 0}))
    published = asyncio.run(publish_events(settings, all_events()))
    accounting = asyncio.run(collect(
        settings.kafka_bootstrap_servers or "", [settings.topic_policy_clean, settings.topic_endorsement_clean],
        settings.topic_quarantine, Accounting(published), timeout_s=120, settle_s=3.0,
        alive=lambda: first.running() and second.running(), other_topics=[settings.topic_alerts]))
    assert accounting.complete and not accounting.duplicated, (first.log_tail(), second.log_tail())
    live = cross_alerts(accounting.others.get(settings.topic_alerts, []))
    assert Counter(alert["alert_type"] for alert in live) == EXPECTED
    replayed = replayed_alerts(settings, roster, tmp_path, monkeypatch)
    assert by_id(live) == by_id(replayed)


def test_redis_stopped_under_load_costs_no_validation_and_is_caught_up(servers: Servers, tmp_path: Path,
                                                                      worker_factory,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    with ProcessGroup() as group:
        redis_dir = tmp_path / "redis"
        child, url = redis_server(group, redis_dir, persist=True)
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        settings = live_settings(servers, tmp_path, partitions=2).model_copy(update={"redis_url": url})
        asyncio.run(ensure_topics(settings))
        roster = load_roster(settings, tmp_path, ROSTER_CSV)
        worker = worker_factory(settings)
        # Each Redis-dependent alert is completed by a policy published during the outage.
        late = {"XIC2", "XSC3", "XSP1"}
        events = all_events()
        early_events = [event for event in events if event[1]["policy_no"] not in late]
        late_events = [event for event in events if event[1]["policy_no"] in late]
        topics = [settings.topic_policy_clean, settings.topic_endorsement_clean]

        def accounted(published: list[Published]) -> Accounting:
            return asyncio.run(collect(settings.kafka_bootstrap_servers or "", topics, settings.topic_quarantine,
                                       Accounting(published), timeout_s=120, settle_s=1.0, alive=worker.running))

        before = asyncio.run(publish_events(settings, early_events))
        assert accounted(before).complete, worker.log_tail()
        child.stop()  # Redis goes away under the worker
        after = asyncio.run(publish_events(settings, late_events))
        assert accounted(before + after).complete, worker.log_tail()  # validation went on without it
        assert worker.running()
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{settings.metrics_port}/metrics", timeout=5).read().decode()
        assert "policyguard_cross_policy_store_up 0.0" in metrics
        backlog = next(float(line.split()[-1]) for line in metrics.splitlines()
                       if line.startswith("policyguard_cross_policy_backlog "))
        assert backlog > 0
        redis_server(group, redis_dir, port=port, persist=True)  # back, with what it held
        expected = replayed_alerts(settings, roster, tmp_path, monkeypatch)
        assert {a["alert_type"] for a in expected if a["policy_no"] in late} >= {
            "IDENTITY_CONFLICT", "SHARED_CONTACT", "STAFF_PHONE_AS_CUSTOMER"}
        live = asyncio.run(read_alerts(settings, lambda found: len(cross_alerts(found)) >= len(expected), 90))
        assert by_id(cross_alerts(live)) == by_id(expected)
        log = Path(tmp_path / "worker-0.log").read_text()
        assert log.count("customer index (Redis) unavailable") == 1, log[-3000:]
        assert log.count("customer index (Redis) available again") == 1
