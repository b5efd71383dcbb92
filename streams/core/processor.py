"""One processor, two shells: everything between a consumed record and its outputs.

The worker and ``policyguard replay`` both drive a :class:`Processor` over
:class:`~streams.core.task.PartitionTask` values; neither has logic of its own beyond
moving bytes. Every stage an input passes (decode and rules, detection, encoding, the
state it leaves) is guarded: a failure anywhere becomes a quarantine record for that input
naming the stage, the policy keeps its previous state (restored from its form as last
committed), and the next record is processed. Nothing here raises for any input.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from schemas.alert import Alert
from schemas.enums import QuarantineReason
from streams import __version__
from streams.core.crosspolicy import CrossPolicyStage, Observation
from streams.core.detection import DetectionConfig, PolicyMachine, PolicyState, Step, StreamTimes
from streams.core.detection.state import Clock
from streams.core.event_time import Timing, timing, with_outlier_warning
from streams.core.origin import Origin, Stream
from streams.core.outputs import Output, OutputTooLarge, cut_quarantine, fit, quarantine_output
from streams.core.pipeline import Verdict, build_quarantine, process_record
from streams.core.ruleset import RuleSet
from streams.core.state_store import Backing, StateStore
from streams.core.task import PartitionTask

log = logging.getLogger(__name__)

TIMER_RETRY = timedelta(hours=1)
"""How much later (stream time) a timed decision that failed is tried again."""
DEFAULT_MAX_MESSAGE_BYTES = 1_048_576
"""Apache Kafka's default ``message.max.bytes`` is just over 1 MiB: stay under it."""


@dataclass(frozen=True, slots=True)
class InputRecord:
    """One consumed record. ``stream`` is its topic's stream live, None in replay (the event
    type decides)."""

    raw: bytes
    origin: Origin
    stream: Stream | None = None


@dataclass
class Emission:
    """What one call produced, in the order to send it, and what to count."""

    outputs: list[Output] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    verdicts: list[tuple[Verdict, float]] = field(default_factory=list)  # with seconds spent
    stage_errors: Counter[str] = field(default_factory=Counter)
    observations: list[Observation] = field(default_factory=list)
    """What the judged policy events tell the customer index: the shell's cross-policy stage
    takes them per batch."""

    def extend(self, other: Emission) -> None:
        self.outputs += other.outputs
        self.steps += other.steps
        self.verdicts += other.verdicts
        self.stage_errors.update(other.stage_errors)
        self.observations += other.observations

    @classmethod
    def of_alerts(cls, alerts: list[Alert]) -> Emission:
        """Alerts found outside any one input's step (the cross-policy stage's)."""
        step = Step(None)
        for alert in alerts:
            step.alert(alert)
        return cls(outputs=list(step.outputs), steps=[step] if alerts else [])

    @property
    def outcomes(self) -> Counter[str]:
        return Counter(outcome for step in self.steps for _, outcome in step.decided)

    @property
    def duplicates(self) -> int:
        return sum(step.duplicate for step in self.steps)


class StageError(Exception):
    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage


class Processor:
    def __init__(
        self,
        ruleset: RuleSet,
        detection: DetectionConfig | None = None,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        validator_version: str = __version__,
        cross: CrossPolicyStage | None = None,
    ) -> None:
        """``cross``: observe policy events for the cross-policy stage (None: nobody runs it)."""
        self.ruleset = ruleset
        self.cross = cross
        self.machine = PolicyMachine(detection, ruleset.thresholds.adult_age_years)
        self.max_message_bytes = max_message_bytes
        self.validator_version = validator_version
        self._skew = timedelta(seconds=self.machine.config.clock_skew_s)
        self._outlier_after = timedelta(days=self.machine.config.outlier_after_days)

    def new_task(self, partition: int = 0, states: dict[str, PolicyState] | None = None, *,
                 backing: Backing | None = None, cache_size: int | None = None) -> PartitionTask:
        """An empty task (``states``: given as models), its states on ``backing`` (a dict by default)
        with at most ``cache_size`` of them parsed at once (None: all)."""
        store = StateStore(backing, cache_size=cache_size, parsed=states)
        return PartitionTask(self.machine, partition, store, lateness_s=self.machine.config.max_lateness_s)

    def restore_task(self, partition: int, records: Mapping[bytes, bytes | None], *, backing: Backing | None = None,
                     cache_size: int | None = None) -> PartitionTask:
        """A partition's task from its changelog records applied over ``backing`` (StateVersionError
        on an unknown format)."""
        return PartitionTask.restore(self.machine, partition, records, lateness_s=self.machine.config.max_lateness_s,
                                     backing=backing, cache_size=cache_size)

    # -- inputs ------------------------------------------------------------------------

    def process(self, task: PartitionTask, record: InputRecord, now: datetime) -> Emission:
        """Judge one record, then decide whatever its stream time made due in the partition.

        The record's outputs are stamped with its own timestamp when it has one (live), never
        with when it happened to be processed: a re-delivery gives the same bytes."""
        emission = Emission()
        wall, now = now, record.origin.timestamp or now
        started = time.perf_counter()
        verdict = self._judge(record, now)
        if verdict.failed_stage is not None:
            emission.stage_errors[verdict.failed_stage] += 1
        stage = "state"  # reading the policy's stored state (parsed on first use)
        key = verdict.event.policy_no if verdict.event is not None else None
        previous: PolicyState | None = None
        rollback: bytes | None = None
        timing: Timing | None = None
        duplicate = False
        try:
            previous = task.states.get(key) if key is not None else None
            rollback = task.blob_of(key) if previous is not None and key is not None else None
            stage = "detect"
            timing = self._timing(record, verdict, previous, now, task)
            if timing is not None and timing.why is not None:
                verdict = with_outlier_warning(verdict, timing.why)
            step = self.machine.on_verdict(previous, verdict, now, timing)
            duplicate = step.duplicate
            stage = "encode"
            outputs = [fit(output, self.max_message_bytes) for output in step.outputs]
            stage = "state"
            blob, deadlines = self._stored(step.state) if key is not None and not step.duplicate else (None, None)
        except Exception as exc:  # noqa: BLE001 - a defect must cost one record, never the partition
            emission.stage_errors[stage] += 1
            log.error("stage %s failed on %s: %s", stage, record.origin.where, type(exc).__name__)
            previous = _roll_back(task, key, rollback)
            fallback = self._fallback(record, verdict, now, stage, exc)
            emission.outputs.append(fallback)
            emission.steps.append(Step(previous, [fallback], decided=[(record.origin.topic, "quarantined")]))
        else:
            emission.outputs += outputs
            emission.steps.append(step)
            if key is not None and not step.duplicate:
                task.commit(key, step.state, blob, deadlines)
                self._observe(verdict, emission)
        emission.verdicts.append((verdict, time.perf_counter() - started))
        if verdict.event is not None and not duplicate:  # a re-delivered record is no news of time
            stream = record.stream or verdict.stream
            # A date beyond the wall clock by the outlier margin is a mistake whatever the
            # partition says: it does not even enter the stream-time window. One far before its
            # policy's previous event is no older era still being read (streams.core.event_time).
            if stream is not None and verdict.event.occurred_at <= now + self._outlier_after:
                task.observe(stream, min(verdict.event.occurred_at, now + self._skew),
                             outlier=timing is not None and timing.outlier)
        emission.extend(self.punctuate(task, wall))
        return emission

    def _timing(self, record: InputRecord, verdict: Verdict, previous: PolicyState | None,
                now: datetime, task: PartitionTask) -> Timing | None:
        """When the record counts as having happened for the clocks, and whether its stated time
        is an outlier (streams.core.event_time)."""
        event = verdict.event
        stream = record.stream or verdict.stream
        if event is None or stream is None:
            return None
        own = None
        if previous is not None:
            own = previous.policy_time if stream is Stream.POLICY else previous.endorsement_time
        judged = timing(event.occurred_at, policy_previous=own, now=now, tolerance=self._outlier_after, skew=self._skew)
        if judged.outlier:
            reached = task.observed.policy if stream is Stream.POLICY else task.observed.endorsement
            judged = dataclasses.replace(judged, reached=reached)
        return judged

    def _observe(self, verdict: Verdict, emission: Emission) -> None:
        if self.cross is None:
            return
        try:
            observation = self.cross.observe(verdict)
        except Exception as exc:  # noqa: BLE001 - the record is routed already; only its cross checks are lost
            emission.stage_errors["cross"] += 1
            log.error("cross-policy observation failed on %s: %s", verdict.origin.where, type(exc).__name__)
            return
        if observation is not None:
            emission.observations.append(observation)

    def _judge(self, record: InputRecord, now: datetime) -> Verdict:
        return process_record(record.raw, record.origin, now=now, ruleset=self.ruleset, stream=record.stream,
                              validator_version=self.validator_version)

    # -- time --------------------------------------------------------------------------

    def punctuate(self, task: PartitionTask, now: datetime) -> Emission:
        """Decide what the partition's stream time (the wall clock for an idle topic) made due."""
        emission = Emission()
        times = task.times(now)
        for key in task.index.due(times):
            self._guarded(task, key, now, emission, lambda working: self.machine.advance(working, times, now), times)
        return emission

    def finish(self, task: PartitionTask, now: datetime) -> Emission:
        """End of a replay: every held edit is judged; holds on the final stream time."""
        emission = Emission()
        times = task.final_times(now)
        for key in sorted(task.states):
            self._guarded(task, key, now, emission, lambda working: self.machine.finish(working, times, now), times)
        return emission

    def _guarded(self, task: PartitionTask, key: str, now: datetime, emission: Emission,
                 run: Callable[[PolicyState], Step], times: StreamTimes) -> None:
        """A timed decision: no input to quarantine, so a defect keeps the state and is counted,
        and the decision is tried again an hour of stream time later (and at the policy's next
        event): a held edit is never left undecided because one attempt failed."""
        rollback: bytes | None = None
        try:
            state = task.states.get(key)
            if state is None:
                return
            rollback = task.blob_of(key)
            step = run(state)
            outputs = [fit(output, self.max_message_bytes) for output in step.outputs]
            blob, deadlines = self._stored(step.state)
        except Exception as exc:  # noqa: BLE001 - see docstring
            _roll_back(task, key, rollback)
            emission.stage_errors["timer"] += 1
            log.error("timed decision failed for a policy of partition %d: %s", task.partition, type(exc).__name__)
            self._retry_later(task, key, times)
            return
        emission.outputs += outputs
        emission.steps.append(step)
        task.commit(key, step.state, blob, deadlines)

    def _retry_later(self, task: PartitionTask, key: str, times: StreamTimes) -> None:
        try:
            restored = task.states.get(key)
            deadlines = self.machine.deadlines(restored) if restored is not None else {}
        except Exception:  # noqa: BLE001 - even its state unreadable: its next event will tell
            task.index.discard(key)
            return
        task.index.set(key, {clock: max(at, times.on(clock) or at) + TIMER_RETRY for clock, at in deadlines.items()})

    # -- guards ------------------------------------------------------------------------

    def _stored(self, state: PolicyState | None) -> tuple[bytes | None, dict[Clock, datetime] | None]:
        """The state's changelog value and the deadlines written into it, which the task
        indexes too (computed once)."""
        if state is None:
            return None, None
        deadlines = self.machine.deadlines(state)
        blob = state.to_json(due=deadlines)
        if len(blob) > self.max_message_bytes:
            raise StageError("state", f"policy state of {len(blob):,} bytes exceeds {self.max_message_bytes:,}")
        return blob, deadlines

    def _fallback(self, record: InputRecord, verdict: Verdict, now: datetime, stage: str, exc: Exception) -> Output:
        """The input as a RULE_ERROR quarantine record naming the stage; cut to fit, and built
        from nothing but the raw bytes and our own text if even that fails."""
        reason = str(exc) if isinstance(exc, StageError | OutputTooLarge) else type(exc).__name__
        errors = [reason if reason.startswith(f"{stage}:") else f"{stage}: {reason}"]
        event = verdict.event
        try:
            quarantine = build_quarantine(
                record.raw, record.origin, QuarantineReason.RULE_ERROR, now=now, findings=verdict.findings,
                errors=errors, event_id=_safe(event.event_id) if event else None,
                policy_no=_safe(event.policy_no) if event else None,
            )
            return fit(quarantine_output(quarantine), self.max_message_bytes)
        except Exception:  # noqa: BLE001 - the findings themselves may be what failed
            bare = build_quarantine(record.raw, record.origin, QuarantineReason.RULE_ERROR, now=now, errors=errors)
            return quarantine_output(cut_quarantine(bare))


def _roll_back(task: PartitionTask, key: str | None, rollback: bytes | None) -> PolicyState | None:
    """Put back the state a failed stage may have changed half-way.

    Detection changes a policy's state in place (a deep copy per event cost more than all
    the rules); the state as last committed, serialised, is the restore point, and reading
    it back is how a restart restores state anyway."""
    if key is None or rollback is None:
        return None
    return task.reload(key, rollback)


def _safe(text: str | None) -> str | None:
    """Text any encoder can write (a lone surrogate becomes its escape)."""
    if text is None:
        return None
    return text.encode("utf-8", errors="backslashreplace").decode("utf-8")


