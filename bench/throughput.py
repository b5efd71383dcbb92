"""Throughput of the worker against a raw aiokafka loop, side by side on one embedded broker.

    .venv/bin/python bench/throughput.py [--events 20000]

Both read the same input topic of ~1.5 KB policy events. The raw loop only moves bytes
(getmany → send, linger 5 ms): the Python ceiling on this machine. The worker runs every
rule and the detection state machine and writes its state changelog. Rates are events /
(first output seen → last output seen), as FAUST_THROUGHPUT.md measures them; outputs are
counted, never inferred from offsets (tansu under-reports them).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streams.demo.scenario import address, person  # noqa: E402
from streams.embedded.processes import ChildProcess, ProcessGroup  # noqa: E402
from streams.embedded.tansu import start_tansu  # noqa: E402
from streams.produce import publish  # noqa: E402
from streams.settings import BrokerProfile, Settings  # noqa: E402
from streams.topics import ensure_topics  # noqa: E402


def events(n: int) -> list[bytes]:
    home = address("浙江省", "杭州市", "西湖区", "文三路259号3幢1502室")
    out = []
    for i in range(n):
        birth = f"19{60 + i % 40}-0{1 + i % 9}-1{i % 10}"
        sequence = f"{(i % 50) * 2 + 1:03d}"  # odd: male
        holder = person("陈晓明", "M", birth, "330106", sequence, mobile="13957102846",
                        landline="0571-87652093", address=home, postal_code="310013")
        event = {
            "event_id": f"bench-{i}", "event_type": "APPLICATION_SUBMITTED", "occurred_at": "2025-11-03T10:15:00+08:00",
            "policy_no": f"PB{i:08d}", "source_seq": 1, "channel": "AGENCY", "branch_code": "86330100",
            "agent_code": "A0001", "intermediary_code": None,
            "actor": {"user_id": "A0001", "role": "SALES_AGENT", "supervisor_id": "S0001", "department": "杭州西湖营销服务部"},
            "policyholder": holder, "insureds": [dict(holder, relation_to_policyholder="SELF")],
            "beneficiaries": [], "beneficiary_designation": "LEGAL_HEIRS",
        }
        out.append(json.dumps(event, ensure_ascii=False).encode())
    return out


async def count_outputs(bootstrap: str, topics: list[str], expected: int, timeout_s: float) -> tuple[float, float, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        first = last = 0.0
        seen = 0
        deadline = time.monotonic() + timeout_s
        while seen < expected and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=200, max_records=5000)).values():
                if messages:
                    now = time.monotonic()
                    first = first or now
                    last = now
                    seen += len(messages)
        return first, last, seen
    finally:
        await consumer.stop()


async def raw_loop(bootstrap: str, source: str, sink: str, n: int) -> None:
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id="bench-raw", auto_offset_reset="earliest")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1_048_576)
    await consumer.start()
    await producer.start()
    moved = 0
    try:
        while moved < n:
            for messages in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                for message in messages:
                    await producer.send(sink, message.value, key=message.key)
                    moved += 1
        await producer.flush()
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="policyguard-bench-"))
    payload = events(args.events)
    print(f"{args.events} events, {sum(map(len, payload)) / len(payload):.0f} bytes on average")
    with ProcessGroup() as group:
        bootstrap = start_tansu(group, workdir)
        settings = Settings(kafka_bootstrap_servers=bootstrap, broker_profile=BrokerProfile.EMBEDDED, metrics_port=0,
                            data_dir=str(workdir / "data"), log_level="WARNING")
        asyncio.run(ensure_topics(settings))
        asyncio.run(ensure_topics(settings.model_copy(update={"topic_alerts": "bench.raw"})))  # the raw loop's sink
        asyncio.run(publish(bootstrap, settings.topic_policy_events, payload))

        async def raw() -> tuple[float, float, int]:
            counter = asyncio.create_task(count_outputs(bootstrap, ["bench.raw"], args.events, 300))
            await raw_loop(bootstrap, settings.topic_policy_events, "bench.raw", args.events)
            return await counter

        first, last, seen = asyncio.run(raw())
        raw_rate = seen / max(last - first, 1e-9)
        print(f"raw aiokafka loop:  {seen} records, {raw_rate:,.0f} msgs/s")

        env = {**os.environ, **settings.as_env(), "PYTHONUNBUFFERED": "1"}
        worker = group.add(ChildProcess("worker", [sys.executable, "-m", "streams.cli.main", "worker"],
                                        workdir / "worker.log", env).start())
        outputs = [settings.topic_policy_clean, settings.topic_quarantine]
        first, last, seen = asyncio.run(count_outputs(bootstrap, outputs, args.events, 600))
        rate = seen / max(last - first, 1e-9)
        print(f"policyguard worker: {seen} records, {rate:,.0f} msgs/s ({rate / raw_rate:.2f} of the raw loop)")
        if not worker.running():
            print(worker.log_tail(), file=sys.stderr)
            return 1
    return 0 if seen == args.events else 1


if __name__ == "__main__":
    sys.exit(main())
