"""Detection on the real broker: the lifecycle cases live, the same as replay, and across a SIGKILL."""
from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.accounting import Accounting, collect, collect_to_end
from streams.cli.main import main
from streams.core.origin import Stream
from streams.embedded.processes import ChildProcess
from streams.produce import Published, publish
from streams.settings import Settings
from streams.topics import ensure_topics
from tests.integration.conftest import Servers, schema_violations, settings_for, short_grace
from tests.lifecycle import Case, cases, in_time_order
from tests.oracle import encode

pytestmark = pytest.mark.integration


def detection_settings(servers: Servers, tmp_path: Path, partitions: int = 2) -> Settings:
    return short_grace(settings_for(servers, tmp_path, partitions=partitions))


async def publish_cases(settings: Settings, chosen: dict[str, Case], *,
                        endorsements_first: bool = False) -> list[Published]:
    """One whole topic, then the other: by default every authorization is consumed late."""
    events = in_time_order([event for case in chosen.values() for event in case.events])
    policy = [encode(doc) for stream, doc in events if stream is Stream.POLICY]
    endorsement = [encode(doc) for stream, doc in events if stream is Stream.ENDORSEMENT]
    order = [(settings.topic_policy_events, policy), (settings.topic_endorsement_events, endorsement)]
    published: list[Published] = []
    for topic, values in (reversed(order) if endorsements_first else order):
        published += await publish(settings.kafka_bootstrap_servers, topic, values)
    return published


def expected_alerts(chosen: dict[str, Case]) -> set[str]:
    return set().union(*(case.alerts for case in chosen.values()))


@pytest.mark.parametrize("endorsements_first", [False, True], ids=["policies-first", "endorsements-first"])
def test_lifecycle_cases_live_match_the_contract_and_replay(servers: Servers, tmp_path: Path, worker_factory,
                                                            endorsements_first: bool) -> None:
    """The worker starts after both topics are written: a backlog of two years' event time."""
    settings = detection_settings(servers, tmp_path)
    chosen = cases("LV")
    asyncio.run(ensure_topics(settings))
    published = asyncio.run(publish_cases(settings, chosen, endorsements_first=endorsements_first))
    worker = worker_factory(settings)
    accounting = asyncio.run(collect(
        settings.kafka_bootstrap_servers, [settings.topic_policy_clean, settings.topic_endorsement_clean],
        settings.topic_quarantine, Accounting(published), timeout_s=120, settle_s=3.0, alive=worker.running,
        other_topics=[settings.topic_alerts, settings.topic_commission]))
    assert worker.running(), worker.log_tail()
    assert accounting.complete and not accounting.duplicated, (accounting.missing, accounting.duplicated)
    alerts = accounting.others.get(settings.topic_alerts, [])
    assert sorted(a["source_event_ids"][0] for a in alerts) == sorted(expected_alerts(chosen))
    by_event = {a["source_event_ids"][0]: a for a in alerts}
    assert by_event["LV-J-p04"]["penalty"] == {"direct_cny": 200, "supervisor_cny": 100}
    assert by_event["LV-A-p04"]["penalty"] == {"direct_cny": 100, "supervisor_cny": 50}
    commission = accounting.others.get(settings.topic_commission, [])
    assert [(c["policy_no"], c["action"]) for c in commission] == [("LV-K", "HOLD"), ("LV-K", "RELEASE")]
    quarantined = {doc["event_id"]: doc["reason"] for found in accounting.outputs.values() for _, doc in found
                   if "reason" in doc}
    assert {k for k, v in quarantined.items() if v == "UNAUTHORIZED_EDIT"} == expected_alerts(chosen)

    # The same events replayed from files give the same alerts, ids included.
    files = []
    for name, stream in (("policy.jsonl", Stream.POLICY), ("endorsement.jsonl", Stream.ENDORSEMENT)):
        path = tmp_path / name
        path.write_bytes(b"".join(encode(doc) + b"\n" for case in chosen.values() for s, doc in case.events
                                  if s is stream))
        files.append(str(path))
    assert main(["replay", *files, "--out", str(tmp_path / "replay")]) == 0
    replayed = [json.loads(line) for line in (tmp_path / "replay" / "alerts.jsonl").read_text().splitlines()]
    assert {a["alert_id"] for a in replayed} == {a["alert_id"] for a in alerts}
    strip = lambda a: {k: v for k, v in a.items() if k not in ("detected_at", "evidence")}  # noqa: E731
    assert sorted(map(json.dumps, map(strip, replayed))) == sorted(map(json.dumps, map(strip, alerts)))


async def _read_all(settings: Settings, topics: list[str], consumer: AIOKafkaConsumer) -> None:
    partitions = []
    for topic in topics:
        await consumer.topics()
        partitions += [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)


def test_sigkill_mid_stream_loses_and_duplicates_nothing(servers: Servers, tmp_path: Path, worker_factory) -> None:
    settings = detection_settings(servers, tmp_path)
    chosen = {f"{name} #{n}": case for n in range(6) for name, case in cases(f"K{n}").items()}
    asyncio.run(ensure_topics(settings))
    published = asyncio.run(publish_cases(settings, chosen))
    outputs = [settings.topic_policy_clean, settings.topic_endorsement_clean, settings.topic_quarantine]

    async def scenario() -> tuple[Observed, int, ChildProcess]:
        observed = Observed(Accounting(published))
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None)
        await consumer.start()
        first = worker_factory(settings)
        killed_after = 0
        try:
            await _read_all(settings, [*outputs, settings.topic_alerts, settings.topic_commission], consumer)
            deadline = time.monotonic() + 180
            second = None
            settled = None
            while time.monotonic() < deadline:
                seen = await observed.poll(consumer, settings)
                if second is None and seen >= len(published) // 3:
                    first.signal(signal.SIGKILL)  # mid-stream: a third of the outputs are out
                    first.popen.wait(10)
                    killed_after = seen
                    second = worker_factory(settings)
                if second is not None and observed.accounting.complete:
                    settled = settled or time.monotonic()
                    if time.monotonic() - settled > 5:
                        break
            assert second is not None and second.running(), second.log_tail() if second else "never killed"
        finally:
            await consumer.stop()
        return observed, killed_after, second

    observed, killed_after, second = asyncio.run(scenario())
    assert 0 < killed_after < len(published)  # killed with work provably left to do
    assert second.stop() == 0, second.log_tail()
    everything = read_to_end(settings, published)  # every copy, not what a time window saw
    assert_at_least_once(everything, chosen, holds=6)
    assert schema_violations(everything.accounting, settings) == []
    print(f"SIGKILL after {killed_after} of {len(published)} outputs: {everything.summary()}")


@dataclass
class Observed:
    """What a test consumer has read of the outputs: accounted inputs, alerts, instructions."""

    accounting: Accounting
    alerts: list[dict] = field(default_factory=list)
    commission: list[dict] = field(default_factory=list)

    async def poll(self, consumer: AIOKafkaConsumer, settings: Settings) -> int:
        """One fetch; returns how many clean or quarantine records have been read so far."""
        batches = await consumer.getmany(timeout_ms=200)
        for tp, messages in batches.items():
            for message in messages:
                if tp.topic == settings.topic_alerts:
                    self.alerts.append(json.loads(message.value))
                elif tp.topic == settings.topic_commission:
                    self.commission.append(json.loads(message.value))
                else:
                    self.accounting.add(tp.topic, message.value, quarantine=tp.topic == settings.topic_quarantine)
        return sum(len(found) for found in self.accounting.outputs.values())

    def summary(self) -> str:
        distinct = {a["alert_id"] for a in self.alerts}
        return (f"{len(self.accounting.duplicated)} records and {len(self.alerts) - len(distinct)} alerts "
                "re-emitted from a batch in flight")


def read_to_end(settings: Settings, published: list[Published]) -> Observed:
    """Everything the stopped workers wrote, to the end markers (streams.accounting.collect_to_end)."""
    accounting = asyncio.run(collect_to_end(
        settings.kafka_bootstrap_servers or "", [settings.topic_policy_clean, settings.topic_endorsement_clean],
        settings.topic_quarantine, Accounting(published), timeout_s=120,
        other_topics=[settings.topic_alerts, settings.topic_commission]))
    return Observed(accounting, accounting.others.get(settings.topic_alerts, []),
                    accounting.others.get(settings.topic_commission, []))


def assert_at_least_once(observed: Observed, chosen: dict[str, Case], *, holds: int, context: object = "") -> None:
    accounting, alerts = observed.accounting, observed.alerts
    assert accounting.complete, f"lost: {accounting.missing[:5]} {context}"
    # Without broker transactions (tansu has none) a crash between a batch's outputs being
    # acknowledged and its state reaching the changelog re-emits that batch: at least once,
    # with the same records, byte for byte (docs/delivery.md). Everything committed or recorded
    # as seen before it is not repeated.
    for position in accounting.duplicated:
        copies = {json.dumps(doc, sort_keys=True) for _, doc in accounting.outputs[position]}
        assert len(copies) == 1, f"{position} came out twice and differently"
    # Alerts: every expected one exactly once as a distinct alert (a re-emitted copy carries the
    # same alert_id and content, so consumers keep one), none missing, none extra.
    distinct = {a["alert_id"]: a for a in alerts}
    assert sorted(a["source_event_ids"][0] for a in distinct.values()) == sorted(expected_alerts(chosen))
    for alert in alerts:
        assert alert == distinct[alert["alert_id"]], "an alert id sent twice with other content"
    distinct_instructions = {c["instruction_id"]: c["action"] for c in observed.commission}
    assert Counter(distinct_instructions.values()) == {"HOLD": holds, "RELEASE": holds}


def test_a_redelivered_event_id_produces_nothing_more(servers: Servers, tmp_path: Path, worker_factory) -> None:
    settings = detection_settings(servers, tmp_path, partitions=1)
    chosen = {"no endorsement": cases("RD")["no endorsement"]}
    asyncio.run(ensure_topics(settings))
    first = asyncio.run(publish_cases(settings, chosen))
    again = asyncio.run(publish_cases(settings, chosen))  # the producer retried: same events, same ids
    worker = worker_factory(settings)
    accounting = asyncio.run(collect(
        settings.kafka_bootstrap_servers, [settings.topic_policy_clean, settings.topic_endorsement_clean],
        settings.topic_quarantine, Accounting(first), timeout_s=60, settle_s=4.0, alive=worker.running,
        other_topics=[settings.topic_alerts]))
    assert accounting.complete and not accounting.duplicated
    assert len(again) == len(first)
    outputs = sum(len(found) for found in accounting.outputs.values())
    assert outputs == len(first) and accounting.unmatched == []  # the copies produced no record at all
    assert len(accounting.others.get(settings.topic_alerts, [])) == 1
