"""``policyguard replay``: the live pipeline over JSON Lines files, without a broker.

Records are judged in file order by the same core the worker runs; the event type decides
the stream. Blank lines are not events and are skipped (and counted).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from streams.core.origin import Origin
from streams.core.outputs import REPLAY_FILES, OutputKind
from streams.clock import utc_now
from streams.core.detection import DetectionConfig, PolicyMachine, PolicyState, Step
from streams.core.pipeline import process_record
from streams.core.ruleset import RuleSet

Clock = Callable[[], datetime]


@dataclass
class ReplaySummary:
    records: int = 0
    blank_lines: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    written: Counter[str] = field(default_factory=Counter)


def read_records(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw bytes without the line ending) for each line."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            yield number, line.rstrip(b"\r\n")


def replay(
    files: Sequence[Path],
    out_dir: Path,
    *,
    ruleset: RuleSet,
    detection: DetectionConfig | None = None,
    clock: Clock = utc_now,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 10_000,
) -> ReplaySummary:
    """Judge every line, keep per-policy state in memory, and resolve held edits at the end."""
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"input file not found: {', '.join(missing)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = PolicyMachine(detection)
    states: dict[str, PolicyState] = {}
    summary = ReplaySummary()
    stream_time: datetime | None = None
    with ExitStack() as stack:
        sinks = {kind: stack.enter_context((out_dir / name).open("wb")) for kind, name in REPLAY_FILES.items()}

        def emit(step: Step) -> None:
            for output in step.outputs:
                sinks[output.kind].write(output.value + b"\n")
                summary.written[REPLAY_FILES[output.kind]] += 1
                reason = dict(output.headers).get("policyguard.reason")
                if reason is not None:
                    summary.reasons[reason.decode()] += 1
            for _, outcome in step.decided:
                summary.outcomes[outcome] += 1
            summary.duplicates += step.duplicate

        for path in files:
            for number, raw in read_records(path):
                if not raw.strip():
                    summary.blank_lines += 1
                    continue
                now = clock()
                verdict = process_record(raw, Origin(file=str(path), line=number), now=now, ruleset=ruleset)
                summary.records += 1
                event = verdict.event
                if event is not None:
                    stream_time = max(stream_time or event.occurred_at, event.occurred_at)
                step = machine.on_verdict(states.get(event.policy_no) if event else None, verdict, now)
                if event is not None and step.state is not None:
                    states[event.policy_no] = step.state
                emit(step)
                if progress is not None and summary.records % progress_every == 0:
                    progress(summary.records)
        for state in states.values():
            emit(machine.finish(state, clock(), stream_time))
    return summary


__all__ = ["OutputKind", "ReplaySummary", "replay"]
