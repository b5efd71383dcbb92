"""Issue 8 on the real broker: poison at volume, a second worker, SIGTERM and SIGKILL."""
from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.accounting import Accounting, collect
from streams.cli.main import main
from streams.core.origin import Stream
from streams.embedded.processes import ChildProcess, free_port
from streams.produce import Published, publish
from streams.settings import Settings
from streams.topics import ensure_topics
from tests.integration.conftest import Servers, schema_violations
from tests.integration.test_detection_live import (
    Observed,
    _read_all,
    assert_at_least_once,
    detection_settings,
    publish_cases,
    read_to_end,
)
from tests.lifecycle import cases
from tests.poison import mixed

pytestmark = pytest.mark.integration

FUZZ_COUNT = 10_000


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def publish_with_tombstones(bootstrap: str, topic: str, count: int) -> list[Published]:
    """Records with a null value (tombstones): they reach the core as empty bytes."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        sent = [await producer.send(topic, value=None, key=f"tomb-{n}".encode()) for n in range(count)]
        return [Published(topic, (m := await f).partition, m.offset, None, b"") for f in sent]
    finally:
        await producer.stop()


def test_fuzzed_inputs_each_come_out_once_and_the_worker_stays_up(servers: Servers, tmp_path: Path,
                                                                  worker_factory) -> None:
    settings = detection_settings(servers, tmp_path, partitions=2)
    inputs = mixed(FUZZ_COUNT, seed=88)
    asyncio.run(ensure_topics(settings))
    worker = worker_factory(settings)
    by_stream = {stream: [raw for s, raw in inputs if s is stream] for stream in Stream}
    published = asyncio.run(publish(settings.kafka_bootstrap_servers, settings.topic_policy_events,
                                    by_stream[Stream.POLICY]))
    published += asyncio.run(publish(settings.kafka_bootstrap_servers, settings.topic_endorsement_events,
                                     by_stream[Stream.ENDORSEMENT]))
    published += asyncio.run(publish_with_tombstones(settings.kafka_bootstrap_servers,
                                                     settings.topic_policy_events, 5))
    started = time.monotonic()
    accounting = asyncio.run(collect(
        settings.kafka_bootstrap_servers, [settings.topic_policy_clean, settings.topic_endorsement_clean],
        settings.topic_quarantine, Accounting(published), timeout_s=240, settle_s=3.0, alive=worker.running))
    elapsed = time.monotonic() - started
    assert worker.running(), worker.log_tail()
    assert accounting.complete, f"lost {len(accounting.missing)}: {accounting.missing[:5]}"
    assert not accounting.duplicated, accounting.duplicated[:5]
    memory = rss_mb(worker.pid)
    assert memory < 700, f"worker RSS {memory:.0f} MB"
    live = accounting.topics()

    # Replay of the same records gives the same outcomes.
    files = []
    for stream in Stream:
        path = tmp_path / f"{stream.value}.jsonl"
        path.write_bytes(b"".join(raw.replace(b"\n", b" ") + b"\n" for raw in by_stream[stream] if raw.strip()))
        files.append(str(path))
    assert main(["replay", *files, "--out", str(tmp_path / "replay")]) == 0
    replayed = {name: sum(1 for _ in (tmp_path / "replay" / f"{name}.jsonl").open("rb"))
                for name in ("policy-events.clean", "endorsement-events.clean", "quarantine")}
    blank = sum(1 for stream in Stream for raw in by_stream[stream] if not raw.strip())
    assert replayed["policy-events.clean"] == live[settings.topic_policy_clean]
    assert replayed["endorsement-events.clean"] == live[settings.topic_endorsement_clean]
    assert replayed["quarantine"] + blank + 5 == live[settings.topic_quarantine]
    print(f"fuzz: {len(published)} inputs, {dict(live)} in {elapsed:.1f}s, worker RSS {memory:.0f} MB")


def another(settings: Settings) -> Settings:
    """A second worker on the same host: its own /metrics port."""
    return settings.model_copy(update={"metrics_port": free_port()})


def test_two_workers_a_join_a_sigterm_and_a_sigkill_lose_nothing(servers: Servers, tmp_path: Path,
                                                                 worker_factory) -> None:
    settings = detection_settings(servers, tmp_path, partitions=4)
    chosen = {f"{name} #{n}": case for n in range(8) for name, case in cases(f"W{n}").items()}
    asyncio.run(ensure_topics(settings))
    outputs = [settings.topic_policy_clean, settings.topic_endorsement_clean, settings.topic_quarantine]

    seen_at_each_step: list[int] = []

    async def scenario() -> tuple[Observed, list[str], ChildProcess]:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers, group_id=None)
        await consumer.start()
        steps: list[str] = []
        try:
            await _read_all(settings, [*outputs, settings.topic_alerts, settings.topic_commission], consumer)
            first = worker_factory(settings)
            published = await publish_cases(settings, chosen)
            observed = Observed(Accounting(published))
            second = third = None
            deadline = time.monotonic() + 240
            settled = None
            while time.monotonic() < deadline:
                seen = await observed.poll(consumer, settings)
                if second is None and seen >= len(published) // 5:
                    second = worker_factory(another(settings))  # joins while edits are held
                    steps.append(f"second joined after {seen}")
                    seen_at_each_step.append(seen)
                elif second is not None and third is None and seen >= len(published) // 2:
                    first.signal(signal.SIGTERM)
                    first.popen.wait(30)
                    third = worker_factory(another(settings))
                    steps.append(f"first stopped (SIGTERM) after {seen}, third started")
                    seen_at_each_step.append(seen)
                elif third is not None and second.running() and seen >= 3 * len(published) // 4:
                    second.signal(signal.SIGKILL)
                    second.popen.wait(10)
                    steps.append(f"second killed (SIGKILL) after {seen}")
                    seen_at_each_step.append(seen)
                if third is not None and not second.running() and observed.accounting.complete:
                    settled = settled or time.monotonic()
                    if time.monotonic() - settled > 5:
                        break
            assert third is not None and third.running(), third.log_tail() if third else steps
        finally:
            await consumer.stop()
        return observed, steps, third

    observed, steps, third = asyncio.run(scenario())
    published = list(observed.accounting.inputs)
    assert len(steps) == 3, steps
    # Each step with work provably left: fewer outputs than inputs when it happened.
    assert all(seen < len(published) for seen in seen_at_each_step), steps
    assert third.stop() == 0, third.log_tail()
    everything = read_to_end(settings, published)  # every copy, not what a time window saw
    assert_at_least_once(everything, chosen, holds=8, context=f"after {steps}")
    assert schema_violations(everything.accounting, settings) == []
    print(f"two workers: {steps}; {everything.summary()}")
