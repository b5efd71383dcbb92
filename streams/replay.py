"""``policyguard replay``: the live pipeline over JSON Lines files, without a broker.

Records are judged in file order by the same core the worker runs; the event type decides
the stream. Blank lines are not events and are skipped (and counted).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from streams.core.origin import Origin
from streams.core.outputs import REPLAY_FILES, OutputKind, outputs_of
from streams.core.pipeline import process_record
from streams.core.ruleset import RuleSet

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ReplaySummary:
    records: int = 0
    blank_lines: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
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
    clock: Clock = utc_now,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 10_000,
) -> ReplaySummary:
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"input file not found: {', '.join(missing)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = ReplaySummary()
    with ExitStack() as stack:
        sinks = {kind: stack.enter_context((out_dir / name).open("wb")) for kind, name in REPLAY_FILES.items()}
        for path in files:
            for number, raw in read_records(path):
                if not raw.strip():
                    summary.blank_lines += 1
                    continue
                verdict = process_record(raw, Origin(file=str(path), line=number), now=clock(), ruleset=ruleset)
                summary.records += 1
                summary.outcomes[verdict.outcome] += 1
                if verdict.reason is not None:
                    summary.reasons[verdict.reason.value] += 1
                for output in outputs_of(verdict):
                    sinks[output.kind].write(output.value + b"\n")
                    summary.written[REPLAY_FILES[output.kind]] += 1
                if progress is not None and summary.records % progress_every == 0:
                    progress(summary.records)
    return summary


__all__ = ["OutputKind", "ReplaySummary", "replay", "utc_now"]
