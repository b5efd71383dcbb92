"""Finish a table recovery that stopped at an under-reported end offset.

Faust recovers a table by reading its changelog up to the partition's reported end offset.
tansu reports a partition's end as the start of its last batch plus one, so the rest of
that batch is never read: the state of the last batch written before a crash would be
lost. After every assignment the worker reads each of its changelog partitions from the
last batch's start until fetches come back empty (records are counted, the end offset is
not trusted) and applies what Faust missed. On Apache Kafka the end offset is exact and
this reads nothing new.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, MutableMapping

from aiokafka import AIOKafkaConsumer, TopicPartition

log = logging.getLogger(__name__)

EMPTY_FETCHES_TO_STOP = 2


async def catch_up(
    bootstrap: str,
    partitions: Iterable[TopicPartition],
    stores: dict[str, MutableMapping[bytes, bytes]],
    *,
    fetch_timeout_ms: int = 300,
) -> int:
    """Apply changelog records beyond what recovery read; returns how many were applied."""
    chosen = [tp for tp in partitions if tp.topic in stores]
    if not chosen:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    applied = 0
    try:
        consumer.assign(chosen)
        ends = await consumer.end_offsets(chosen)
        for tp in chosen:
            consumer.seek(tp, max(ends[tp] - 1, 0))  # the last batch's start, as reported
        empty = 0
        while empty < EMPTY_FETCHES_TO_STOP:
            batches = await consumer.getmany(timeout_ms=fetch_timeout_ms, max_records=10_000)
            records = [(tp, message) for tp, messages in batches.items() for message in messages]
            empty = 0 if records else empty + 1
            for tp, message in records:
                if message.key is None:
                    continue
                store = stores[tp.topic]
                if message.value is None:
                    store.pop(message.key, None)
                else:
                    store[message.key] = message.value
                applied += 1
    finally:
        await consumer.stop()
    log.info("changelog catch-up applied %d records on %d partitions", applied, len(chosen))
    return applied
