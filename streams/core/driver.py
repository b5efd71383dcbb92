"""A broker-free driver of the processor, in the manner of Kafka Streams' TopologyTestDriver.

Pipe records into either input topic (any partition, any interleaving), move the wall
clock, mark topics idle, restart from the persisted changelog, and read every output — in
milliseconds, with the same :class:`Processor` and :class:`PartitionTask` the worker runs.
Tests use it; so can anyone checking a rules file against their own event sequences.
"""
from __future__ import annotations

import asyncio
import json
import zlib
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from streams.core.detection import DetectionConfig
from streams.core.origin import Origin, Stream
from streams.core.outputs import Output, OutputKind
from streams.core.processor import DEFAULT_MAX_MESSAGE_BYTES, Emission, InputRecord, Processor
from streams.core.ruleset import RuleSet
from streams.core.task import PartitionTask

if TYPE_CHECKING:
    from streams.cross_runner import CrossPolicyRunner

TOPICS = {Stream.POLICY: "policy-events", Stream.ENDORSEMENT: "endorsement-events"}


class TopologyDriver:
    def __init__(
        self,
        *,
        start: datetime,
        ruleset: RuleSet | None = None,
        detection: DetectionConfig | None = None,
        partitions: int = 1,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        cross: CrossPolicyRunner | None = None,
        state_cache_size: int | None = None,
    ) -> None:
        """``cross``: run the cross-policy stage after every record, as a worker after every batch;
        ``state_cache_size``: parsed states kept per partition (None: all)."""
        self.state_cache_size = state_cache_size
        self.cross = cross
        self._loop = asyncio.new_event_loop() if cross is not None else None
        self.processor = Processor(ruleset or RuleSet.default(), detection, max_message_bytes=max_message_bytes,
                                   cross=cross.stage if cross is not None else None)
        self.partitions = partitions
        self.now = start
        self.tasks: dict[int, PartitionTask] = {p: self.processor.new_task(p, cache_size=state_cache_size)
                                                for p in range(partitions)}
        self.changelog: dict[int, dict[bytes, bytes]] = {p: {} for p in range(partitions)}
        self.outputs: list[Output] = []
        self.stage_errors: Counter[str] = Counter()
        self.duplicates = 0
        self._offsets: Counter[tuple[Stream, int]] = Counter()

    # -- input -------------------------------------------------------------------------

    def partition_of(self, key: bytes | None) -> int:
        return zlib.crc32(key or b"") % self.partitions

    def pipe(self, stream: Stream, value: bytes | dict[str, Any], *, key: bytes | None = None,
             partition: int | None = None, advance_s: float = 0.0) -> Emission:
        """One record into ``stream``'s topic; a dict is encoded as JSON and keyed by its policy_no."""
        raw = value if isinstance(value, bytes) else json.dumps(value, ensure_ascii=False).encode()
        if key is None and isinstance(value, dict) and isinstance(value.get("policy_no"), str):
            key = value["policy_no"].encode()
        chosen = self.partition_of(key) if partition is None else partition
        offset = self._offsets[(stream, chosen)]
        self._offsets[(stream, chosen)] += 1
        self.now += timedelta(seconds=advance_s)
        origin = Origin(topic=TOPICS[stream], partition=chosen, offset=offset, key=key)
        return self._take(chosen, self.processor.process(self.tasks[chosen], InputRecord(raw, origin, stream), self.now))

    # -- time --------------------------------------------------------------------------

    def advance_wall(self, seconds: float) -> Emission:
        """Move the wall clock and let every partition decide what that made due."""
        self.now += timedelta(seconds=seconds)
        return self.tick()

    def set_idle(self, *streams: Stream) -> None:
        """Mark topics caught up on every partition: the wall clock stands in for their time."""
        for task in self.tasks.values():
            task.idle = frozenset(streams)

    def tick(self) -> Emission:
        total = Emission()
        for partition, task in self.tasks.items():
            total.extend(self._take(partition, self.processor.punctuate(task, self.now)))
        return total

    def finish(self) -> Emission:
        """End of input, as replay ends: everything still held is decided."""
        total = Emission()
        for partition, task in self.tasks.items():
            total.extend(self._take(partition, self.processor.finish(task, self.now)))
        return total

    def restart(self) -> None:
        """A new worker recovering every partition from what was persisted."""
        self.tasks = {
            p: self.processor.restore_task(p, dict(records), cache_size=self.state_cache_size)
            for p, records in self.changelog.items()
        }

    # -- output ------------------------------------------------------------------------

    def read(self, kind: OutputKind) -> list[dict[str, Any]]:
        return [json.loads(output.value) for output in self.outputs if output.kind is kind]

    def run(self, awaitable: Any) -> Any:
        """Run a coroutine on the loop the cross-policy store lives on (loading a roster)."""
        if self._loop is None:
            raise RuntimeError("no cross-policy stage")
        return self._loop.run_until_complete(awaitable)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()

    def _take(self, partition: int, emission: Emission) -> Emission:
        if self.cross is not None and self._loop is not None and (emission.observations or self.cross.pending):
            emission.extend(Emission.of_alerts(self._loop.run_until_complete(self.cross.run(emission.observations,
                                                                                            self.now))))
        self.outputs += emission.outputs
        self.stage_errors.update(emission.stage_errors)
        self.duplicates += emission.duplicates
        for key, blob in self.tasks[partition].take_dirty().items():
            if blob is None:
                self.changelog[partition].pop(key.encode(), None)
            else:
                self.changelog[partition][key.encode()] = blob
        return emission
