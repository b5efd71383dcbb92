"""Proof that nothing was dropped: match every published input to exactly one output.

Clean records are matched by ``event_id``, quarantine records by their source position
(topic, partition, offset), which they carry for exactly this purpose. tansu under-reports
end offsets, so completion is decided by counting matched records, never by lag.
"""
from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.produce import Published


@dataclass
class Accounting:
    inputs: Sequence[Published]
    outputs: dict[tuple[str, int, int], list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    unmatched: list[tuple[str, bytes]] = field(default_factory=list)
    first_output_at: float | None = None
    others: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # alerts, commission

    def __post_init__(self) -> None:
        self._by_event_id: dict[str, tuple[str, int, int]] = {}
        for record in self.inputs:
            position = (record.topic, record.partition, record.offset)
            self.outputs.setdefault(position, [])
            try:
                event_id = json.loads(record.value).get("event_id")
            except (ValueError, AttributeError, RecursionError):
                continue
            if isinstance(event_id, str):
                self._by_event_id[event_id.strip()] = position

    def add(self, topic: str, value: bytes, *, quarantine: bool) -> None:
        if self.first_output_at is None:
            self.first_output_at = time.monotonic()
        document = json.loads(value)
        position: tuple[str, int, int] | None
        if quarantine:
            position = (document.get("source_topic"), document.get("partition"), document.get("offset"))
        else:
            position = self._by_event_id.get(document.get("event_id"))
        if position is not None and position in self.outputs:
            self.outputs[position].append((topic, document))
        else:
            self.unmatched.append((topic, value))

    @property
    def missing(self) -> list[tuple[str, int, int]]:
        return [position for position, found in self.outputs.items() if not found]

    @property
    def duplicated(self) -> list[tuple[str, int, int]]:
        return [position for position, found in self.outputs.items() if len(found) > 1]

    @property
    def complete(self) -> bool:
        return not self.missing

    def topics(self) -> Counter[str]:
        return Counter(topic for found in self.outputs.values() for topic, _ in found)


async def collect(
    bootstrap: str,
    clean_topics: Sequence[str],
    quarantine_topic: str,
    accounting: Accounting,
    *,
    timeout_s: float,
    settle_s: float = 1.0,
    alive: Callable[[], bool] = lambda: True,
    other_topics: Sequence[str] = (),
) -> Accounting:
    """Read the output topics from the beginning until every input is accounted for.

    After completion it keeps reading for ``settle_s`` so that a duplicate written soon after
    would be seen; :func:`collect_to_end` reads everything once the writers have stopped. Records of ``other_topics`` (alerts, commission) are kept in ``accounting.others``.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await _partitions(consumer, [*clean_topics, quarantine_topic, *other_topics])
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        deadline = time.monotonic() + timeout_s
        settled_at: float | None = None
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200, max_records=1000)
            for tp, messages in batches.items():
                for message in messages:
                    if message.key != END_MARKER_KEY:
                        _take(accounting, tp.topic, message.value or b"", quarantine_topic, other_topics)
            if accounting.complete:
                settled_at = settled_at or time.monotonic()
                if time.monotonic() - settled_at >= settle_s:
                    break
            elif not alive():
                break
        return accounting
    finally:
        await consumer.stop()


END_MARKER_KEY = b"policyguard.accounting.end"
"""The key of the marker records :func:`collect_to_end` appends; every reader here skips them."""


async def collect_to_end(
    bootstrap: str,
    clean_topics: Sequence[str],
    quarantine_topic: str,
    accounting: Accounting,
    *,
    timeout_s: float,
    other_topics: Sequence[str] = (),
) -> Accounting:
    """Read every output there is, to a known end, once the writers have stopped.

    A marker record is appended to each partition of each topic and the topics are read from
    the beginning until every partition has shown its marker: everything written before is read,
    so a duplicate written late is counted instead of falling outside a settle window (tansu
    under-reports end offsets, so the end cannot be asked for). Raises ``TimeoutError`` when a
    marker is not read back in ``timeout_s``.
    """
    token = uuid.uuid4().hex.encode()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await consumer.start()
    await producer.start()
    try:
        partitions = await _partitions(consumer, [*clean_topics, quarantine_topic, *other_topics])
        for tp in partitions:
            await producer.send_and_wait(tp.topic, token, key=END_MARKER_KEY, partition=tp.partition)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        unread = set(partitions)
        deadline = time.monotonic() + timeout_s
        while unread:
            if time.monotonic() > deadline:
                raise TimeoutError(f"end markers not read back from {sorted(map(str, unread))}")
            batches = await consumer.getmany(timeout_ms=200, max_records=1000)
            for tp, messages in batches.items():
                for message in messages:
                    if message.key == END_MARKER_KEY:
                        if message.value == token:
                            unread.discard(tp)
                        continue
                    _take(accounting, tp.topic, message.value or b"", quarantine_topic, other_topics)
        return accounting
    finally:
        await producer.stop()
        await consumer.stop()


def _take(accounting: Accounting, topic: str, value: bytes, quarantine_topic: str,
          other_topics: Sequence[str]) -> None:
    if topic in other_topics:
        accounting.others.setdefault(topic, []).append(json.loads(value or b"{}"))
    else:
        accounting.add(topic, value, quarantine=topic == quarantine_topic)


async def _partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    partitions = []
    for topic in topics:
        for _ in range(50):
            found = consumer.partitions_for_topic(topic)
            if found:
                break
            await consumer.topics()  # refreshes cluster metadata
            await asyncio.sleep(0.1)
        partitions += [TopicPartition(topic, p) for p in sorted(found or ())]
    return partitions
