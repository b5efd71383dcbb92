"""The state changelog: one compacted topic, partition p holding input partition p's policies.

A worker reads a partition's changelog when it is assigned that partition: from the beginning
into an empty store, or from just after the checkpoint of the local store it kept on disk.

Where the partition ends is never guessed. tansu reports a partition's end as the start of its
last batch plus one, and a slow broker can answer a fetch with nothing while records are still
to come, so "two empty fetches" could stop half-way and leave held edits, seen event ids and open
holds partly restored with no error. Instead the reader first appends a marker record of its own
(a unique value under a reserved key) to each partition it will read, then reads until it meets
that marker: only the partition's owner writes there, so everything written before the marker
has then been read, on tansu and on Apache Kafka alike. The marker key is compacted away.
"""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streams.core.task import RESTORE_MARKER

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 0.3
MARKER_KEY = RESTORE_MARKER.encode()
RESTORE_TIMEOUT_S = 600.0
"""Give up (and let the worker stop) if the marker has not come back by then: a broker that
cannot serve a partition's changelog must not leave a worker running on part of its state."""


class RestoreIncomplete(RuntimeError):
    """The changelog could not be read up to the reader's own marker."""


def changelog_topic(app_id: str) -> str:
    return f"{app_id}-policy-state-changelog"


@dataclass
class Tail:
    """What a partition's changelog holds from the start offset up to the marker."""

    records: dict[bytes, bytes | None] = field(default_factory=dict)
    """The latest value of each key read (None: deleted)."""
    last_offset: int | None = None
    """The marker's offset: the new checkpoint."""
    read: int = 0


async def read_partitions(
    bootstrap: str,
    topic: str,
    partitions: Iterable[int],
    *,
    start: Mapping[int, int | None] | None = None,
    fetch_timeout_ms: int = int(FETCH_TIMEOUT_S * 1000),
    timeout_s: float = RESTORE_TIMEOUT_S,
) -> dict[int, Tail]:
    """Each partition's changelog from ``start[p]`` (exclusive; None or absent: the beginning)
    up to a marker this call appends first."""
    chosen = sorted(set(partitions))
    tails: dict[int, Tail] = {p: Tail() for p in chosen}
    if not chosen:
        return tails
    started = time.monotonic()
    token = uuid.uuid4().hex.encode()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        sent = [await producer.send(topic, key=MARKER_KEY, value=token, partition=p) for p in chosen]
        for future in sent:
            await future
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                # big fetches: a restart reads a million ~1.2 KB records
                                max_partition_fetch_bytes=16_777_216, fetch_max_bytes=67_108_864)
    await consumer.start()
    waiting = set(chosen)
    try:
        tps = {p: TopicPartition(topic, p) for p in chosen}
        consumer.assign(list(tps.values()))
        for p, tp in tps.items():
            offset = (start or {}).get(p)
            if offset is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset + 1)
        while waiting:
            if time.monotonic() - started > timeout_s:
                raise RestoreIncomplete(f"changelog partitions {sorted(waiting)} of {topic} not read to their end "
                                        f"in {timeout_s:.0f} s")
            batches = await consumer.getmany(*[tps[p] for p in waiting], timeout_ms=fetch_timeout_ms,
                                             max_records=50_000)
            for tp, messages in batches.items():
                tail = tails[tp.partition]
                for message in messages:
                    if tp.partition not in waiting:
                        break
                    tail.read += 1
                    if message.key == MARKER_KEY:
                        if message.value == token:
                            tail.last_offset = message.offset
                            waiting.discard(tp.partition)
                        continue
                    if message.key is not None:
                        tail.records[message.key] = message.value
    finally:
        await consumer.stop()
    log.info("recovered %d changelog records of partitions %s in %.1fs",
             sum(tail.read for tail in tails.values()), chosen, time.monotonic() - started)
    return tails
