"""Event time that one record cannot move (docs/contract.md §2.1, "Stream time").

Source systems get timestamps wrong: a clerk types 2062 for 2026, a batch job stamps
1900-01-01, a host's clock is a month out. Such a record is still judged and routed like any
other, on what it says, but it must not move anybody's clock: not its partition's (which would
decide other policies' held edits before their authorization is read, or release their holds
overdue), not its policy's, and it must not make an edit wait for a date years ahead.

- A partition's stream time is the *median of its last five* event times on that topic,
  never going back: records far ahead cannot drag it unless three of five consecutive ones
  agree (a real jump, such as live traffic after a go-live backfill, moves it after three
  records), and it starts only once five records were read. A date beyond the wall clock by
  the outlier margin does not enter the window at all.
- It counts only as far as the *oldest era* still being read has got (:class:`Eras`, told by the
  order records arrive in): a backfill read beside live traffic keeps its own deadlines.
- A record dated more than ``outlier_after_days`` ahead of the wall clock (live, the record's
  own Kafka timestamp), or that far before its own policy's previous event, is an *outlier*: it
  gets an ``EVENT_TIME_OUTLIER`` warning finding and does not advance its policy's clocks. Both
  are facts of the record and its policy, never of how far its partition has got: a partition's
  progress depends on how many partitions there are, and no answer may.
- A record dated after the wall clock never waits for that date: its held decision falls due
  from the wall clock (coverage is still judged on the time it states, so nothing the customer
  authorized is missed). A record dated far before its policy's previous event is judged as
  of that previous event (a fact of the policy alone, so every interleaving of the two topics
  and every number of partitions gives the same time). Its date being wrong, an unauthorized
  edit found on it is alerted without a fine until someone checks it (docs/contract.md §3.3).
  A lock event dated that far ahead locks the policy at its previous event, not at its date.
  Known limit: a policy's *first* event mistyped before its partition has a stream time (its
  first five records) is not recognised, and its later, correct events may then be flagged.

The functions are pure; :class:`~streams.core.task.PartitionTask` keeps the windows.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from schemas.enums import QuarantineReason, Severity, ValidationStatus
from schemas.finding import Finding
from streams.core.pipeline import Verdict

OUTLIER_RULE = "EVENT_TIME_OUTLIER"
WINDOW = 5
"""How many of a topic partition's latest event times its stream time is the median of."""
ERA_MEMORY = 2_000
"""Records (of the partition, both topics) an older era is remembered for after its last record:
a backfill paused for fewer records than this keeps its hold on the stream time."""
ERA_GAP = timedelta(days=7)
"""How far apart two eras are at least: a record this much older than an older era's progress is
an older era still (it takes over); one within this much ahead of it moves it on; one further
ahead is a younger era's (it is remembered as seen, but does not move the oldest era's time)."""
PROBATION = ERA_MEMORY
"""Records for which a topic's stream time is held where it was when it formed or leapt by more
than :data:`ERA_GAP`: as long as an older era is remembered, for its next record to show itself
as one (a sparse topic that leaps at every record is held one step back, each hold replacing the
last; a dense topic does not leap)."""
ERA_QUIET = timedelta(seconds=30)
"""How long both topics of a partition must be caught up before an older era is taken as done and
the wall clock stands in again: a backfill job pausing for less keeps its hold. Short, because a
source that merely publishes some records out of order looks like an older era too, and its
held decisions wait this long once everything is read."""


def stream_time(window: Sequence[datetime], *, final: bool = False) -> datetime | None:
    """The median of the latest :data:`WINDOW` times (None until there are that many): a single
    outlier in it is neither the median nor able to become it. ``final``: the input has ended
    (replay), so the median of whatever the window holds is as far as the topic got."""
    window = window[-WINDOW:]
    if not window or (len(window) < WINDOW and not final):
        return None
    return sorted(window)[(len(window) - 1) // 2 if final else WINDOW // 2]


@dataclass(slots=True)
class Era:
    """One topic's older era: how far it has got (epoch seconds) and when it was last read."""

    progress: float | None = None
    seen: int = 0
    records: int = 0
    """Records read behind their topic since this era began: one may be a year typed wrong on a
    policy's first event, several are a backfill."""


@dataclass(slots=True)
class Eras:
    """How far the oldest era of event time still being read on a partition has got.

    A go-live backfill published while live traffic flows (or a source system replaying an old
    batch) interleaves eras on one partition. The median follows the denser one, and the other's
    deadlines (a correction's 30 days, an edit's authorization grace) would fall due before its
    own later records are read: a false alert. What tells the eras apart is the order records
    arrive in, not their spread in time: within one era a topic partition is near event-time
    order, so a record more than the lateness allowance behind its topic's stream time belongs to
    an older era still being read. Each topic's older era caps *both* topics' stream times (a
    backfill's endorsements may lag its policy events) until none of its records has come for
    :data:`ERA_MEMORY` records of the partition. While several such records show one, a caught-up
    topic does not hand over to the wall clock either (the backfill may publish its endorsements
    after a pause) until both topics have been caught up for :data:`ERA_QUIET`. When a topic's
    stream time forms, or leaps more than :data:`ERA_GAP`, it is held where it was for
    :data:`PROBATION` records, so that an older era's first records, read before the newer
    traffic, can show themselves by their next one. Holding the time back changes no answer, only
    when it is given: decisions are judged as of their own time, a late correction is overdue
    when it is read, retention is judged on a policy event's own time.

    A handful of numbers, kept in the partition's stream-times record, whatever the traffic.
    """

    policy: Era = field(default_factory=Era)
    endorsement: Era = field(default_factory=Era)
    count: int = 0
    """Records read on the partition, both topics."""
    probation_until: int = 0
    probation_cap: float | None = None

    def read(self, topic: str, stamp: float, stream_time: float | None, lateness_s: float) -> None:
        """One record's event time (epoch seconds) against its topic's stream time before it."""
        self.count += 1
        if stream_time is None or stamp >= stream_time - lateness_s:
            return
        era = self.policy if topic == "policy" else self.endorsement
        progress = era.progress if self._active(era) else None
        gap = ERA_GAP.total_seconds()
        if progress is None or stamp < progress - gap:
            era.progress, era.records = stamp, 0  # an older era begins (or one older still)
        elif stamp <= progress + gap:
            era.progress = max(progress, stamp)
        era.seen = self.count
        era.records += 1

    def hold(self, at: float) -> None:
        """A topic's stream time formed or leapt: hold the time at ``at`` for a while (the latest
        hold replaces an earlier one, so a sparse topic that leaps at every record trails by one
        step instead of freezing)."""
        self.probation_cap, self.probation_until = at, self.count + PROBATION

    def cap(self) -> float | None:
        """How far the partition's stream times may count, else None (one era only)."""
        caps = [cap for cap in (self.era_cap(), self.held_cap()) if cap is not None]
        return min(caps) if caps else None

    def era_cap(self, *, records: int = 1) -> float | None:
        """How far an older era seen in at least ``records`` records read behind their topic has
        got. Several are evidence enough that it is still being published, so a caught-up topic
        waits for it too; a single one (perhaps a year typed wrong) only holds the time back."""
        caps = [era.progress for era in (self.policy, self.endorsement)
                if era.progress is not None and self._active(era) and era.records >= records]
        return min(caps) if caps else None

    def held_cap(self) -> float | None:
        """Where a stream time that formed or leapt is held, while it is (a caught-up topic hands
        over to the wall clock as usual: a gap in a sparse topic is no evidence of another era)."""
        return self.probation_cap if self.probation_cap is not None and self.count < self.probation_until else None

    def _active(self, era: Era) -> bool:
        return self.count - era.seen <= ERA_MEMORY

    def to_json(self) -> dict[str, Any]:
        return {"policy": [self.policy.progress, self.policy.seen, self.policy.records],
                "endorsement": [self.endorsement.progress, self.endorsement.seen, self.endorsement.records],
                "count": self.count, "probation": [self.probation_cap, self.probation_until]}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Eras:
        def era(values: list[Any]) -> Era:
            return Era(float(values[0]) if values[0] is not None else None, int(values[1]), int(values[2]))

        cap, until = document.get("probation") or (None, 0)
        return cls(era(document["policy"]), era(document["endorsement"]), int(document["count"]),
                   int(until), float(cap) if cap is not None else None)


@dataclass(frozen=True, slots=True)
class Timing:
    """When a record counts as having happened for the clocks (``clock``), and whether its
    stated time is an outlier (then ``why`` says which way, in Chinese, for the finding)."""

    clock: datetime
    why: str | None = None
    arrived: datetime | None = None
    """For an outlier: the best word on when it really happened — where its own topic partition
    had got when it came in (a lock point is taken from here, not from a mistyped date)."""
    reached: datetime | None = None
    """How far the record's topic partition had got when it was read (its median, not held back
    for an older era): for an outlier, a floor on when it happened."""

    @property
    def outlier(self) -> bool:
        return self.why is not None


def timing(stated: datetime, *, policy_previous: datetime | None, now: datetime, tolerance: timedelta,
           skew: timedelta) -> Timing:
    """Judge one record's event time against the wall clock and its own policy's previous event.
    ``clock`` is when its held decision falls due from (and, for a record dated far in the
    past, when it is judged as of)."""
    latest = now + skew
    # Ahead of the wall clock only: a partition's own progress depends on how many partitions
    # there are (a sparse one legitimately jumps months), and the answer must not.
    if stated > now + tolerance:
        return Timing(latest, "事件时间远晚于当前时间", policy_previous)
    if policy_previous is not None and stated < policy_previous - tolerance:
        # Judged as of its policy's previous event: a fact of the policy alone, so the answer is
        # the same on any number of partitions.
        return Timing(min(policy_previous, latest), "事件时间远早于本保单的上一事件", policy_previous)
    return Timing(min(stated, latest))


def with_outlier_warning(verdict: Verdict, why: str) -> Verdict:
    """The verdict with an EVENT_TIME_OUTLIER warning added where its record carries findings."""
    finding = Finding(rule=OUTLIER_RULE, severity=Severity.WARNING, party=None, field="occurred_at",
                      message=f"{why}，疑似时间录入错误；按到达时的流时间处理，请核实")
    findings = (*verdict.findings, finding)
    if verdict.clean is not None:
        validation = verdict.clean.validation.model_copy(
            update={"findings": [*verdict.clean.validation.findings, finding],
                    "status": ValidationStatus.PASS_WITH_WARNINGS})
        clean = verdict.clean.model_copy(update={"validation": validation})
        return dataclasses.replace(verdict, findings=findings, clean=clean)
    if verdict.quarantine is not None and verdict.quarantine.reason is not QuarantineReason.DECODE_ERROR:
        quarantine = verdict.quarantine.model_copy(update={"findings": [*verdict.quarantine.findings, finding]})
        return dataclasses.replace(verdict, findings=findings, quarantine=quarantine)
    return verdict
