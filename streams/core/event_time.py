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
- It counts only as far as the *oldest era* among the topic's latest :data:`RECENT` event times
  has got (:func:`oldest_era_end`): a backfill read beside live traffic keeps its own deadlines.
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
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.enums import QuarantineReason, Severity, ValidationStatus
from schemas.finding import Finding
from streams.core.pipeline import Verdict

OUTLIER_RULE = "EVENT_TIME_OUTLIER"
WINDOW = 5
"""How many of a topic partition's latest event times its stream time is the median of."""
RECENT = 256
"""How many of a topic partition's latest event times are looked at for eras still being read."""
ERA_GAP = timedelta(days=7)
"""The least gap between two eras of event time read together (see :func:`oldest_era_end`)."""
ERA_GAP_FACTOR = 20
"""How many times the median gap of one era a gap between two eras is at least: in one era a gap
that wide is rare (2 of 6,000 windows of a random sparse and bursty era split, tests/unit/test_eras.py),
and a false split only makes decisions wait, never come early."""


def stream_time(window: Sequence[datetime], *, final: bool = False) -> datetime | None:
    """The median of the latest :data:`WINDOW` times (None until there are that many): a single
    outlier in it is neither the median nor able to become it. ``final``: the input has ended
    (replay), so the median of whatever the window holds is as far as the topic got."""
    window = window[-WINDOW:]
    if not window or (len(window) < WINDOW and not final):
        return None
    return sorted(window)[(len(window) - 1) // 2 if final else WINDOW // 2]


def oldest_era_end(recent: Sequence[float]) -> float | None:
    """How far the oldest era among a topic partition's latest event times (epoch seconds) has
    got: the stream time counts only up to here (None: no times yet).

    A go-live backfill published while live traffic flows, or a source system replaying a
    year-old batch, interleaves two eras of event time on one partition. The median follows the
    denser one, and the other's deadlines (a correction's 30 days, an edit's authorization
    grace) would fall due before its own later records are read: a false alert. So the recent
    times, sorted, are split where a gap is wider than :data:`ERA_GAP` and than
    :data:`ERA_GAP_FACTOR` times their median gap between distinct times (one era, however sparse
    or bursty, has no such gap: its gaps are alike, and a mistyped year far ahead or a sparse era beside a dense one does not
    widen the median gap the way it widens the span), and the end of the oldest part is as far
    as the partition has got. With one era that is its latest time, never behind the median;
    once the newer era stops (the live feed paused, or ended before the backfill), it is the
    older era's own progress, however far the median went meanwhile. A lone mistyped year far
    back makes a part of its own too: decisions then wait, never come early, until it leaves the
    latest :data:`RECENT` times."""
    if not recent:
        return None
    ordered = sorted(recent)
    gaps = [later - earlier for earlier, later in zip(ordered, ordered[1:], strict=False)]
    distinct = sorted(gap for gap in gaps if gap > 0)  # a group policy's burst shares one time
    if distinct:
        wide = max(ERA_GAP.total_seconds(), distinct[len(distinct) // 2] * ERA_GAP_FACTOR)
        for index, gap in enumerate(gaps):
            if gap > wide:
                return ordered[index]
    return ordered[-1]


@dataclass(frozen=True, slots=True)
class Timing:
    """When a record counts as having happened for the clocks (``clock``), and whether its
    stated time is an outlier (then ``why`` says which way, in Chinese, for the finding)."""

    clock: datetime
    why: str | None = None
    arrived: datetime | None = None
    """For an outlier: the best word on when it really happened — where its own topic partition
    had got when it came in (a lock point is taken from here, not from a mistyped date)."""

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
