"""Faults must not change an answer: a worker stalled under steady input gives replay's verdicts.

A realistic feed (tests/feed.py: ten years of policies, violations planted) is produced at a
steady rate into a real broker while the worker is stopped with SIGSTOP for longer than its
session timeout (and, in a second run, for less) and resumed: as a long garbage collection, a
throttled container or a stalled VM would. Every input must get the verdict replay gives the same
input (clean or the same quarantine reason), and the detection alerts must be the planted ones,
with replay's ids and content. (The idle rule itself, which a stall used to break, is tested
case by case in tests/unit/test_idle.py; this run did not reproduce the old defect reliably,
since the first batch read after the stall often clears idleness before a sweep can use it.)
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from streams.accounting import Accounting, collect
from streams.cli.main import main
from streams.core.origin import Stream
from streams.produce import Published
from streams.settings import Settings
from streams.topics import ensure_topics
from tests.feed import generate
from tests.integration.conftest import Servers, settings_for
from tests.oracle import encode

pytestmark = pytest.mark.integration

DETECTION = {"UNAUTHORIZED_CONTACT_EDIT", "RETURN_VISIT_INTERCEPTION", "INTERMEDIARY_CORRECTION_OVERDUE"}


async def produce_paced(settings: Settings, values: list[tuple[str, bytes, bytes]], rate: float,
                        stall: tuple[int, float, int]) -> list[Published]:
    """Send at ``rate`` per second; after ``stall[0]`` records stop the worker (pid ``stall[2]``)
    for ``stall[1]`` seconds while the input keeps coming."""
    at_record, stall_s, pid = stall
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    published: list[Published] = []
    resume_at: float | None = None
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        for n, (topic, key, value) in enumerate(values):
            if n == at_record:
                os.kill(pid, signal.SIGSTOP)
                resume_at = loop.time() + stall_s
            if resume_at is not None and loop.time() >= resume_at:
                os.kill(pid, signal.SIGCONT)
                resume_at = None
            metadata = await (await producer.send(topic, value, key=key))
            published.append(Published(topic, metadata.partition, metadata.offset, key, value))
            await asyncio.sleep(max(0.0, started + (n + 1) / rate - loop.time()))
        if resume_at is not None:
            await asyncio.sleep(max(0.0, resume_at - loop.time()))
            os.kill(pid, signal.SIGCONT)
    finally:
        await producer.stop()
    return published


@pytest.mark.parametrize(("stall_s", "session_timeout_s"), [(12.0, None), (8.0, 30.0)],
                         ids=["past-the-session-timeout", "within-the-session-timeout"])
def test_a_stalled_worker_under_steady_input_gives_replays_answer(servers: Servers, tmp_path: Path, worker_factory,
                                                                  stall_s: float, session_timeout_s: float | None) -> None:
    """Past the session timeout the group rebalances; within it the worker keeps its partitions
    and resumes with unread records waiting, longer than the idle time (5 s): neither may let
    the wall clock decide a held edit before its authorization is read."""
    settings = settings_for(servers, tmp_path, partitions=4).model_copy(
        update={"timer_interval_s": 0.2, "session_timeout_s": session_timeout_s,
                "rebalance_timeout_s": session_timeout_s})
    feed = generate(21, policies=90)
    # The endorsement system publishes late: each endorsement comes 200 records after its time, so
    # authorizations of edits read before the stall are still unread when the worker resumes.
    order = sorted(enumerate(feed.in_time_order()),
                   key=lambda item: item[0] + (200.5 if item[1][0] is Stream.ENDORSEMENT else 0))
    events = [event for _, event in order]
    values = [(settings.topic_policy_events if stream is Stream.POLICY else settings.topic_endorsement_events,
               document["policy_no"].encode(), encode(document)) for stream, document in events]
    asyncio.run(ensure_topics(settings))
    worker = worker_factory(settings)
    assert worker.pid is not None
    published = asyncio.run(produce_paced(settings, values, rate=150.0, stall=(len(values) // 3, stall_s, worker.pid)))
    accounting = asyncio.run(collect(
        settings.kafka_bootstrap_servers, [settings.topic_policy_clean, settings.topic_endorsement_clean],
        settings.topic_quarantine, Accounting(published), timeout_s=300, settle_s=3.0, alive=worker.running,
        other_topics=[settings.topic_alerts, settings.topic_commission]))
    assert worker.running(), worker.log_tail()
    assert accounting.complete and not accounting.duplicated, (accounting.missing, accounting.duplicated)
    live_verdicts = {doc["event_id"]: doc.get("reason", "clean") for found in accounting.outputs.values()
                     for _, doc in found}
    live_alerts = [a for a in accounting.others.get(settings.topic_alerts, []) if a["alert_type"] in DETECTION]

    # Replay of the same input, in the order it was produced.
    source = tmp_path / "feed.jsonl"
    source.write_bytes(b"".join(value + b"\n" for _, _, value in values))
    assert main(["replay", str(source), "--out", str(tmp_path / "replay")]) == 0
    out = tmp_path / "replay"
    replayed: dict[str, str] = {}
    for name in ("policy-events.clean.jsonl", "endorsement-events.clean.jsonl", "quarantine.jsonl"):
        for line in (out / name).read_text().splitlines():
            doc = json.loads(line)
            replayed[doc["event_id"]] = doc.get("reason", "clean")
    replay_alerts = [a for a in map(json.loads, (out / "alerts.jsonl").read_text().splitlines())
                     if a["alert_type"] in DETECTION]

    differing = {event_id: (live_verdicts.get(event_id), verdict) for event_id, verdict in replayed.items()
                 if live_verdicts.get(event_id) != verdict}
    assert differing == {}
    assert {(a["alert_type"], a["source_event_ids"][-1]) for a in live_alerts} == feed.planted

    def comparable(alert: dict) -> str:
        return json.dumps({k: v for k, v in alert.items() if k != "detected_at"}, sort_keys=True)

    by_id = {a["alert_id"]: a for a in replay_alerts}
    mismatched = {a["alert_id"]: {k: (a[k], by_id[a["alert_id"]][k]) for k in a
                                  if k != "detected_at" and a[k] != by_id[a["alert_id"]].get(k)}
                  for a in live_alerts if comparable(a) != comparable(by_id.get(a["alert_id"], {}))}
    assert mismatched == {}, json.dumps(mismatched, ensure_ascii=False)
    assert sorted(map(comparable, live_alerts)) == sorted(map(comparable, replay_alerts))
