"""``policyguard replay``: the live pipeline over JSON Lines files, without a broker.

Records go through the same :class:`~streams.core.processor.Processor` the worker runs, in
file order, as one partition; the event type decides the stream. Held edits are decided
as the files' stream time passes them, and whatever is still held at the end of input is
decided then. Blank lines are not events and are skipped (and counted).
"""
from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from streams import __version__
from streams.clock import utc_now
from streams.core.crosspolicy import Observation
from streams.core.crosspolicy.roster import Roster
from streams.core.detection import DetectionConfig
from streams.core.origin import Origin
from streams.core.outputs import REPLAY_FILES, OutputKind
from streams.core.processor import DEFAULT_MAX_MESSAGE_BYTES, Emission, InputRecord, Processor
from streams.core.ruleset import RuleSet
from streams.cross_runner import CrossPolicyRunner
from streams.roster_file import load_roster_file

Clock = Callable[[], datetime]


@dataclass
class ReplaySummary:
    records: int = 0
    blank_lines: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    written: Counter[str] = field(default_factory=Counter)
    stage_errors: Counter[str] = field(default_factory=Counter)
    roster: Roster | None = None
    cross_skipped: int = 0
    """Events whose cross-policy checks could not run (the customer index stayed unavailable)."""


CROSS_BATCH = 500
"""Records judged between two exchanges with the customer index. It sets how often the index is
called, never what it answers: the cross-policy alerts are the same for any batching (the worker's
batches differ), see :mod:`streams.core.crosspolicy.detectors`."""


def read_records(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw bytes without the line ending) for each line."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            yield number, line.rstrip(b"\r\n")


class ReplayInputError(ValueError):
    """An input or output path replay cannot use; the message names it and says why."""


def check_paths(files: Sequence[Path], out_dir: Path) -> None:
    """Every problem with the paths at once, before anything is read or written."""
    problems = []
    for path in files:
        if path.is_dir():
            problems.append(f"{path} is a directory, not a JSON Lines file")
        elif not path.exists():
            problems.append(f"input file not found: {path}")
    if out_dir.exists() and not out_dir.is_dir():
        problems.append(f"--out {out_dir} exists and is not a directory (replay writes five files into a directory)")
    elif not out_dir.exists() and out_dir.parent.exists() and not out_dir.parent.is_dir():
        problems.append(f"--out {out_dir}: {out_dir.parent} is not a directory")
    if problems:
        raise ReplayInputError("; ".join(problems))


def replay(
    files: Sequence[Path],
    out_dir: Path,
    *,
    ruleset: RuleSet,
    detection: DetectionConfig | None = None,
    clock: Clock = utc_now,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 10_000,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    validator_version: str = __version__,
    cross: CrossPolicyRunner | None = None,
    roster: Path | None = None,
) -> ReplaySummary:
    """Judge every line, keep per-policy state in memory, and resolve held edits at the end.
    ``cross``: the cross-policy stage and its store (None: no cross-policy checks); ``roster``:
    a staff roster file loaded into that store first (on the same event loop as the store's
    connections)."""
    check_paths(files, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    processor = Processor(ruleset, detection, max_message_bytes=max_message_bytes,
                          validator_version=validator_version, cross=cross.stage if cross else None)
    task = processor.new_task()
    summary = ReplaySummary()
    loop = asyncio.new_event_loop()
    with ExitStack() as stack:
        stack.callback(loop.close)
        if cross is not None:
            stack.callback(lambda: loop.run_until_complete(cross.close()))
        if roster is not None:
            if cross is None or cross.store is None:
                raise ReplayInputError("--roster needs the cross-policy stage")
            summary.roster = loop.run_until_complete(load_roster_file(roster, cross.stage.hasher, cross.store))

        sinks = {kind: stack.enter_context((out_dir / name).open("wb")) for kind, name in REPLAY_FILES.items()}

        def emit(emission: Emission) -> None:
            for output in emission.outputs:
                sinks[output.kind].write(output.value + b"\n")
                summary.written[REPLAY_FILES[output.kind]] += 1
                reason = dict(output.headers).get("policyguard.reason")
                if reason is not None:
                    summary.reasons[reason.decode()] += 1
            summary.outcomes.update(emission.outcomes)
            summary.duplicates += emission.duplicates
            summary.stage_errors.update(emission.stage_errors)
            observed.extend(emission.observations)

        observed: list[Observation] = []

        def cross_check(*, final: bool = False) -> None:
            if cross is None:
                return
            batch = observed[:]
            observed.clear()
            alerts = loop.run_until_complete(cross.run(batch, clock()))
            while final and cross.pending and cross.down_since is None:
                alerts += loop.run_until_complete(cross.run([], clock()))
            if final:
                summary.cross_skipped += cross.pending
            emit(Emission.of_alerts(alerts))

        for path in files:
            for number, raw in read_records(path):
                if not raw.strip():
                    summary.blank_lines += 1
                    continue
                summary.records += 1
                emit(processor.process(task, InputRecord(raw, Origin(file=str(path), line=number)), clock()))
                if len(observed) >= CROSS_BATCH:
                    cross_check()
                if progress is not None and summary.records % progress_every == 0:
                    progress(summary.records)
        emit(processor.finish(task, clock()))
        cross_check(final=True)
    return summary


__all__ = ["OutputKind", "ReplaySummary", "replay"]
