"""``policyguard audit``: the whole book through the worker's rules, on every core, resumable.

Pass 1 streams the rows to worker processes in chunks (a bounded number in flight, so memory
does not grow with the book) and takes their results back in input order: it writes
``findings.jsonl``, appends to ``worklists/<channel>/<branch>.csv``, counts, and spools each
policy's cross-policy observation (keyed hashes) to disk, as JSON Lines (:mod:`streams.audit.spool`:
never a pickle, which would run whatever code a file left in the output folder names). After each
chunk it flushes the files and records a checkpoint (rows done, every output's size, the counts);
``--resume`` cuts the outputs back to the last checkpoint and goes on from there, so an interrupted
run ends as an uninterrupted one would. Pass 2 runs the cross-policy detectors over the whole book's
observations (identity conflicts and shared mobiles across all of it), then the reports are
written.
"""
from __future__ import annotations

import asyncio
import csv
import json
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

from streams.audit import spool
from streams.audit.csv_format import CsvHeaderError, check_header
from streams.audit.judge import BadRow, Judge, Judged, describe_findings
from streams.audit.reading import Progress, Row, is_csv, rows
from streams.audit.report import summary, write_holds, write_html, write_json
from streams.audit.tally import Tally
from streams.core.crosspolicy import CrossPolicyConfig, CrossPolicyStage, CrossStore, Observation
from streams.core.crosspolicy.roster import parse_roster
from streams.core.crosspolicy.store import LocalStore
from streams.cross_runner import CrossPolicyRunner
from streams.sqlite_index import SqliteBackend

CHECKPOINT = ".audit/checkpoint.json"
CHECKPOINT_VERSION = 2
"""2: the spool is JSON Lines. A version-1 checkpoint's spool is a pickle, which is not read."""
SPOOL = ".audit/observations.jsonl"
INDEX = ".audit/index.sqlite"
"""Pass 2's customer index without Redis: on disk, so a book of any size fits."""
WORKLIST_COLUMNS = ["policy_no", "channel", "branch_code", "agent_code", "intermediary_code", "policyholder_name",
                    "policyholder_id_no", "policyholder_phone", "problems", "rules", "contact", "source"]
CONTACT_ZH = {"phone": "电话", "letter": "信函", "visit": "上门"}
CROSS_BATCH = 2_000
"""Spooled observations per exchange with the customer index in pass 2: a round-trip size, not a
semantic one (the alerts do not depend on it)."""


class AuditInputError(ValueError):
    """An input, output or resume problem the audit cannot start with; the message says which."""


@dataclass
class AuditResult:
    tally: Tally
    out_dir: Path
    seconds: float
    resumed_from: int = 0


# -- worker processes ----------------------------------------------------------------------

_judge: Judge | None = None


def _start_worker(rules_file: str | None, secret: str, now: datetime) -> None:
    from streams.rules_file import load_ruleset

    global _judge
    _judge = Judge(load_ruleset(rules_file), CrossPolicyStage.default(secret), now)


def _judge_chunk(chunk: list[Row]) -> list[Judged | BadRow]:
    if _judge is None:  # not an assert: python -O would drop it, and this would fail later and less clearly
        raise RuntimeError("no judge in this process: chunks are judged by the pool's workers, set up by _start_worker")
    return [_judge(row) for row in chunk]


# -- the run -------------------------------------------------------------------------------


class Outputs:
    """The audit's files, appended as results come, cut back to a checkpoint on resume."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.handles: dict[Path, TextIO] = {}
        self.writers: dict[Path, Any] = {}
        self.spool = (out_dir / SPOOL).open("ab")

    def text(self, relative: str) -> TextIO:
        path = self.out_dir / relative
        handle = self.handles.get(path)
        if handle is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fresh = not path.exists() or path.stat().st_size == 0
            handle = self.handles[path] = path.open("a", encoding="utf-8", newline="")
            if relative.startswith("worklists/"):
                self.writers[path] = csv.writer(handle)
                if fresh:
                    self.writers[path].writerow(WORKLIST_COLUMNS)
        return handle

    def worklist(self, channel: str, branch: str, row: list[Any]) -> None:
        relative = f"worklists/{_safe(channel)}/{_safe(branch)}.csv"
        self.text(relative)
        self.writers[self.out_dir / relative].writerow(row)

    def sizes(self) -> dict[str, int]:
        for handle in self.handles.values():
            handle.flush()
        self.spool.flush()
        return {str(path.relative_to(self.out_dir)): path.stat().st_size for path in _pass_one_files(self.out_dir)}

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()
        self.handles.clear()
        self.spool.close()


def _pass_one_files(out_dir: Path) -> list[Path]:
    """The files pass 1 appends to, as they exist now: what a checkpoint records and a resume cuts back."""
    candidates = [*out_dir.joinpath("worklists").rglob("*.csv"), out_dir / "findings.jsonl",
                  out_dir / "bad_rows.jsonl", out_dir / SPOOL]
    return [path for path in candidates if path.exists()]


def _safe(name: str) -> str:
    """A channel or branch code as a file name (nothing that could climb out of the folder)."""
    cleaned = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
    return cleaned or "UNKNOWN"


def _inputs_fingerprint(files: list[Path]) -> list[list[Any]]:
    return [[str(path), path.stat().st_size, int(path.stat().st_mtime)] for path in files]


def _check(files: list[Path], out_dir: Path) -> None:
    problems = [f"input file not found: {p}" for p in files if not p.exists()]
    problems += [f"{p} is a directory, not a file" for p in files if p.is_dir()]
    if out_dir.exists() and not out_dir.is_dir():
        problems.append(f"--out {out_dir} exists and is not a directory")
    for path in files:
        if path.is_file() and is_csv(path):
            with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
                try:
                    check_header(next(csv.reader(handle), None))
                except CsvHeaderError as exc:
                    problems.append(f"{path}: {exc}")
    if problems:
        raise AuditInputError("; ".join(problems))


def _prepare(files: list[Path], out_dir: Path, resume: bool) -> dict[str, Any] | None:
    """The checkpoint to go on from (None: a fresh run), outputs cut back to it."""
    checkpoint_path = out_dir / CHECKPOINT
    if not resume:
        if out_dir.exists() and any(out_dir.iterdir()):
            if not checkpoint_path.exists():
                raise AuditInputError(f"--out {out_dir} is not empty and holds no audit: choose an empty folder")
            _clear(out_dir)
        (out_dir / ".audit").mkdir(parents=True, exist_ok=True)
        return None
    if not checkpoint_path.exists():
        raise AuditInputError(f"nothing to resume in {out_dir}: no checkpoint (run without --resume)")
    checkpoint = json.loads(checkpoint_path.read_text())
    if checkpoint.get("version") != CHECKPOINT_VERSION:
        raise AuditInputError(f"{checkpoint_path} was written by an earlier release, whose observation spool this "
                              "one does not read: start again without --resume")
    if checkpoint["inputs"] != _inputs_fingerprint(files):
        raise AuditInputError("the input files differ from the interrupted run's (names, sizes or times): "
                              "resume with the same files, or start again without --resume")
    kept = checkpoint["sizes"]
    for path in _pass_one_files(out_dir):
        relative = str(path.relative_to(out_dir))
        if relative in kept:
            with path.open("r+b") as handle:
                handle.truncate(kept[relative])
        else:
            path.unlink()
    return checkpoint


def _clear(out_dir: Path) -> None:
    for path in sorted(out_dir.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_file():
            path.unlink()
        elif path.is_dir():
            path.rmdir()


def _chunks(source: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while chunk := list(islice(source, size)):
        yield chunk


def audit(
    files: list[Path],
    out_dir: Path,
    *,
    rules_file: str | None = None,
    secret: str,
    workers: int | None = None,
    chunk_rows: int = 2_000,
    resume: bool = False,
    roster: Path | None = None,
    store: CrossStore | None = None,
    config: CrossPolicyConfig | None = None,
    now: Callable[[], datetime] = lambda: datetime.now().astimezone(),
    progress: Callable[[str], None] | None = None,
    progress_every_s: float = 2.0,
) -> AuditResult:
    """``store``: the customer index for pass 2 (default: a SQLite file in the output folder)."""
    _check(files, out_dir)
    checkpoint = _prepare(files, out_dir, resume)
    started = time.monotonic()
    tally = Tally.from_json(checkpoint["tally"]) if checkpoint else Tally()
    skip = checkpoint["rows_done"] if checkpoint else 0
    judged_at = datetime.fromisoformat(checkpoint["judged_at"]) if checkpoint else now()
    outputs = Outputs(out_dir)
    findings = outputs.text("findings.jsonl")
    bad = outputs.text("bad_rows.jsonl")
    reading = Progress(files)
    source = rows(files, reading)
    for _ in islice(source, skip):
        pass
    workers = workers or os.cpu_count() or 1
    last_report = time.monotonic()
    fresh_rows = 0

    done_bytes = 0  # input bytes behind the results taken so far (the reader runs ahead of them)

    def report(final: bool = False) -> None:
        nonlocal last_report
        if progress is None or (not final and time.monotonic() - last_report < progress_every_s):
            return
        last_report = time.monotonic()
        elapsed = max(time.monotonic() - started, 1e-6)
        rate = fresh_rows / elapsed
        share = 1.0 if final else (done_bytes / reading.total if reading.total else 1.0)
        eta = (elapsed / share - elapsed) if share > 0 and not final else 0.0
        progress(f"{tally.rows:,} rows · {rate:,.0f} rows/s · {share:.0%} · ETA {eta:,.0f} s · "
                 f"{tally.defective:,} policies to correct, {tally.bad_rows:,} bad rows")

    def take(results: list[Judged | BadRow]) -> None:
        nonlocal fresh_rows
        observations: list[Observation] = []
        for result in results:
            tally.add(result)
            fresh_rows += 1
            if isinstance(result, BadRow):
                bad.write(json.dumps({"file": result.file, "line": result.line, "reason": result.reason,
                                      "detail": result.detail}, ensure_ascii=False) + "\n")
                continue
            findings.write(json.dumps(_finding_line(result), ensure_ascii=False) + "\n")
            if result.errors:
                outputs.worklist(result.channel, result.branch_code, _worklist_row(result))
            if result.observation is not None:
                observations.append(result.observation)
        spool.write(outputs.spool, observations)
        _save_checkpoint(out_dir, files, tally, outputs.sizes(), judged_at, complete=False)
        report()

    # Workers from a fork server, not forks of this process: they start small whatever the caller
    # holds (a forked worker's resident size counts every page it shares with its parent).
    with ProcessPoolExecutor(max_workers=workers, initializer=_start_worker, initargs=(rules_file, secret, judged_at),
                             mp_context=multiprocessing.get_context("forkserver")) as pool:
        in_flight: deque[tuple[Future[list[Judged | BadRow]], int]] = deque()

        def take_oldest() -> None:
            nonlocal done_bytes
            future, done_bytes = in_flight.popleft()
            take(future.result())

        for chunk in _chunks(source, chunk_rows):
            in_flight.append((pool.submit(_judge_chunk, chunk), reading.read))
            while len(in_flight) >= workers * 2:
                take_oldest()
        while in_flight:
            take_oldest()
    report(final=True)
    sizes = outputs.sizes()
    outputs.close()
    _save_checkpoint(out_dir, files, tally, sizes, judged_at, complete=False)
    alerts = _cross_pass(out_dir, tally, secret, roster, store, config, judged_at, progress, progress_every_s)
    meta = {"generated_at": judged_at.isoformat(), "inputs": [str(p) for p in files], "workers": workers,
            "cross_policy_alerts_file": "alerts.jsonl", "alerts_written": alerts}
    document = summary(tally, meta)
    write_json(document, out_dir / "summary.json")
    write_html(document, out_dir / "summary.html")
    write_holds(tally, out_dir / "commission_holds.csv")
    _save_checkpoint(out_dir, files, tally, sizes, judged_at, complete=True)
    return AuditResult(tally, out_dir, time.monotonic() - started, resumed_from=skip)


def _finding_line(result: Judged) -> dict[str, Any]:
    return {
        "policy_no": result.policy_no, "channel": result.channel, "branch_code": result.branch_code,
        "agent_code": result.agent_code, "intermediary_code": result.intermediary_code,
        "status": "ERROR" if result.errors else ("WARNING" if result.findings else "PASS"),
        "findings": [{"rule": rule, "severity": severity, "party": party, "field": field, "message": message}
                     for rule, severity, party, field, message in result.findings],
        "file": result.file, "line": result.line,
    }


def _worklist_row(result: Judged) -> list[Any]:
    return [result.policy_no, result.channel, result.branch_code, result.agent_code or "",
            result.intermediary_code or "", result.holder_name or "", result.holder_id, result.holder_phone,
            describe_findings(result.findings, "ERROR"), " ".join(result.errors), CONTACT_ZH[result.contact],
            f"{Path(result.file).name}:{result.line}"]


def _save_checkpoint(out_dir: Path, files: list[Path], tally: Tally, sizes: dict[str, int], judged_at: datetime, *,
                     complete: bool) -> None:
    document = {"version": CHECKPOINT_VERSION, "inputs": _inputs_fingerprint(files), "rows_done": tally.rows,
                "sizes": sizes, "tally": tally.to_json(), "judged_at": judged_at.isoformat(), "complete": complete}
    path = out_dir / CHECKPOINT
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, ensure_ascii=False))
    os.replace(temporary, path)


def _cross_pass(out_dir: Path, tally: Tally, secret: str, roster: Path | None, store: CrossStore | None,
                config: CrossPolicyConfig | None, now: datetime, progress: Callable[[str], None] | None = None,
                every_s: float = 2.0) -> int:
    """Identity conflicts, shared mobiles and staff phones across the whole book."""
    config = config or CrossPolicyConfig()
    stage = CrossPolicyStage.default(secret, config)
    if store is None:
        index = out_dir / INDEX
        index.unlink(missing_ok=True)  # pass 2 always starts over: it reads the whole spool
        store = LocalStore(config, SqliteBackend(index))
    index_store: CrossStore = store
    runner = CrossPolicyRunner(stage, index_store)
    tally.cross = {}
    written = 0

    async def run() -> list[Any]:
        try:
            return await check_all()
        finally:
            await runner.close()

    async def check_all() -> list[Any]:
        if roster is not None:
            await index_store.load_roster(parse_roster(roster.read_text(encoding="utf-8-sig"), stage.hasher).entries)
        found = []
        batch: list[Observation] = []
        checked, started, last = 0, time.monotonic(), time.monotonic()
        for observation in spool.read(out_dir / SPOOL):
            batch.append(observation)
            if len(batch) >= CROSS_BATCH:
                found += await runner.run(batch, now)
                checked += len(batch)
                batch = []
                if progress is not None and time.monotonic() - last >= every_s:
                    last = time.monotonic()
                    rate = checked / max(last - started, 1e-6)
                    eta = (tally.policies - checked) / rate if rate else 0.0
                    progress(f"cross-policy checks: {checked:,} of {tally.policies:,} policies · {rate:,.0f}/s · "
                             f"ETA {eta:,.0f} s · {len(found):,} alerts")
        found += await runner.run(batch, now)
        return found

    try:
        alerts = asyncio.run(run())
    except spool.SpoolError as exc:
        raise AuditInputError(f"{exc}: the output folder was changed by something other than policyguard audit; "
                              "start again without --resume") from None
    outputs = Outputs(out_dir)
    with (out_dir / "alerts.jsonl").open("w", encoding="utf-8") as handle:
        for alert in alerts:
            handle.write(alert.model_dump_json() + "\n")
            tally.cross[alert.alert_type.value] = tally.cross.get(alert.alert_type.value, 0) + 1
            channel = alert.channel.value if alert.channel else "UNKNOWN"
            responsible = alert.responsible.user_id if alert.responsible else ""
            outputs.worklist(channel, alert.branch_code or "UNKNOWN", [
                alert.policy_no, channel, alert.branch_code or "", responsible or "", "", "", "", "",
                alert.summary_zh, alert.alert_type.value, CONTACT_ZH["visit"], f"alert:{alert.alert_id}"])
            written += 1
    outputs.close()
    return written


__all__ = ["AuditInputError", "AuditResult", "audit"]
