"""``policyguard audit`` on generated books: the report and worklists tell the injected truth, CSV
and JSON Lines agree, bad rows are listed, an interrupted run resumes to the same result, a resume
never loads a pickle from the output folder, and the report renders in headless Chromium."""
from __future__ import annotations

import csv
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from streams.audit.book import Book, generate, write_csv, write_jsonl
from streams.audit.demo import chromium, screenshot
from streams.audit.runner import CHECKPOINT, SPOOL
from streams.cli.main import main

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def book() -> Book:
    return generate(6_000, seed=7)


def worklist_rows(out: Path) -> list[dict[str, str]]:
    return [row for path in sorted(out.glob("worklists/*/*.csv")) for row in csv.DictReader(path.open(encoding="utf-8"))]


def summary_of(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def run_audit(files: list[Path], out: Path, *extra: str) -> None:
    assert main(["audit", *map(str, files), "--out", str(out), "--workers", "2", "--chunk-rows", "500", *extra]) == 0


def test_rates_and_worklists_match_the_injected_defects(book: Book, tmp_path: Path) -> None:
    out = tmp_path / "report"
    run_audit([write_jsonl(book, tmp_path / "book.jsonl")], out)
    summary = summary_of(out)
    truth = book.by_channel()
    assert {row["key"]: (row["policies"], row["defective"]) for row in summary["by_channel"]} == truth
    for row in summary["by_channel"]:
        assert row["rate"] == pytest.approx(truth[row["key"]][1] / truth[row["key"]][0])
    assert summary["policies"] == len(book.documents) and summary["defective"] == len(book.defective)
    rows = worklist_rows(out)
    assert sorted(row["policy_no"] for row in rows) == sorted(book.defective)  # exactly, and each once
    assert all(book.defective[row["policy_no"]] in row["rules"].split() for row in rows)
    assert all(row["problems"] and row["contact"] in ("电话", "信函", "上门") for row in rows)
    # Each department's own file: the channel and branch of every row are the file's.
    for path in out.glob("worklists/*/*.csv"):
        assert {(r["channel"], r["branch_code"]) for r in csv.DictReader(path.open(encoding="utf-8"))} == {
            (path.parent.name, path.stem)}
    assert sum(1 for _ in (out / "findings.jsonl").open()) == len(book.documents)
    holds = list(csv.DictReader((out / "commission_holds.csv").open(encoding="utf-8")))
    held = {d["intermediary_code"] for d in book.documents if d["policy_no"] in book.defective and d["intermediary_code"]}
    assert {row["intermediary_code"] for row in holds} == held


def test_worklists_hold_what_a_correcting_agent_needs_and_the_report_no_pii(book: Book, tmp_path: Path) -> None:
    out = tmp_path / "report"
    run_audit([write_jsonl(book, tmp_path / "book.jsonl")], out)
    by_policy = {d["policy_no"]: d for d in book.documents}
    for row in worklist_rows(out)[:200]:
        holder = by_policy[row["policy_no"]]["policyholder"]
        assert row["policyholder_name"] == (holder["name"] or "")
        assert "*" in row["policyholder_id_no"] and holder["id_no"] not in json.dumps(row, ensure_ascii=False)
        if holder["mobile"]:
            assert holder["mobile"] not in json.dumps(row)
    report = (out / "summary.html").read_text(encoding="utf-8") + (out / "summary.json").read_text(encoding="utf-8")
    report += (out / "findings.jsonl").read_text(encoding="utf-8")
    for document in book.documents[:2_000]:
        holder = document["policyholder"]
        for value in (holder["id_no"], holder["mobile"]):
            assert not value or value not in report
    html = (out / "summary.html").read_text(encoding="utf-8")
    assert not any(document["policyholder"]["name"] and f">{document['policyholder']['name']}<" in html
                   for document in book.documents[:2_000])


def test_a_csv_export_gives_the_same_result(book: Book, tmp_path: Path) -> None:
    run_audit([write_csv(book, tmp_path / "book.csv")], tmp_path / "csv")
    run_audit([write_jsonl(book, tmp_path / "book.jsonl")], tmp_path / "jsonl")
    csv_summary, jsonl_summary = summary_of(tmp_path / "csv"), summary_of(tmp_path / "jsonl")
    for key in ("policies", "defective", "by_channel", "by_branch", "by_intermediary", "by_rule"):
        assert csv_summary[key] == jsonl_summary[key], key
    assert sorted(r["policy_no"] for r in worklist_rows(tmp_path / "csv")) == sorted(book.defective)


def test_bad_rows_are_counted_and_listed_never_fatal(book: Book, tmp_path: Path) -> None:
    lines = [json.dumps(d, ensure_ascii=False).encode() for d in book.documents[:50]]
    lines[10] = b"\xff\xfe not json"
    lines[20] = json.dumps({**book.documents[20], "occurred_at": "yesterday"}, ensure_ascii=False).encode()
    lines[30] = json.dumps({"event_id": "e1", "event_type": "ENDORSEMENT_REQUESTED", "policy_no": "X"}).encode()
    jsonl = tmp_path / "mixed.jsonl"
    jsonl.write_bytes(b"\n".join(lines) + b"\n\n")
    export = tmp_path / "mixed.csv"
    write_csv(Book(book.documents[50:60], {}), export)
    text = export.read_text(encoding="utf-8").splitlines()
    text[3] = ",".join(text[3].split(",")[:5])  # a row cut short
    export.write_text("\n".join(text) + "\n", encoding="utf-8")
    out = tmp_path / "report"
    run_audit([jsonl, export], out)
    bad = [json.loads(line) for line in (out / "bad_rows.jsonl").read_text().splitlines()]
    assert [(Path(b["file"]).name, b["line"], b["reason"]) for b in bad] == [
        ("mixed.jsonl", 11, "DECODE_ERROR"), ("mixed.jsonl", 21, "SCHEMA_ERROR"), ("mixed.jsonl", 31, "SCHEMA_ERROR"),
        ("mixed.csv", 4, "MISSING_COLUMNS")]
    summary = summary_of(out)
    assert summary["bad_rows"] == 4 and summary["policies"] == 56 and summary["rows"] == 60


def test_a_csv_without_the_required_columns_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    export = tmp_path / "export.csv"
    export.write_text("policy,name\nP1,张三\n", encoding="utf-8")
    assert main(["audit", str(export), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "export.csv" in err and "policy_no" in err


def test_a_run_killed_half_way_resumes_to_the_same_result(tmp_path: Path) -> None:
    book = generate(30_000, seed=11)
    path = write_jsonl(book, tmp_path / "book.jsonl")
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "streams.cli.main", "audit", str(path), "--out", str(out), "--workers", "2",
               "--chunk-rows", "500"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    checkpoint = out / ".audit" / "checkpoint.json"
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and process.poll() is None:
        try:
            done = json.loads(checkpoint.read_text())["rows_done"]
        except (OSError, ValueError):
            done = 0
        if done >= 5_000:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)
    state = json.loads(checkpoint.read_text())
    assert 5_000 <= state["rows_done"] < 30_000 and not state["complete"], state["rows_done"]
    assert main(["audit", str(path), "--out", str(out), "--workers", "2", "--chunk-rows", "500", "--resume"]) == 0
    run_audit([path], tmp_path / "clean")
    clean, resumed = tmp_path / "clean", out
    assert (resumed / "findings.jsonl").read_bytes() == (clean / "findings.jsonl").read_bytes()
    assert worklist_rows(resumed) == worklist_rows(clean)
    assert (resumed / "commission_holds.csv").read_bytes() == (clean / "commission_holds.csv").read_bytes()
    ignore = {"generated_at", "workers"}
    strip = lambda s: {k: v for k, v in s.items() if k not in ignore}  # noqa: E731
    assert strip(summary_of(resumed)) == strip(summary_of(clean))
    assert summary_of(resumed)["defective"] == len(book.defective)


def test_resume_needs_the_same_inputs(book: Book, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_jsonl(book, tmp_path / "book.jsonl")
    assert main(["audit", str(path), "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    run_audit([path], tmp_path / "out")
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(book.documents[0], ensure_ascii=False) + "\n")
    assert main(["audit", str(path), "--out", str(tmp_path / "out"), "--resume"]) == 2
    assert "differ" in capsys.readouterr().err


class Exploit:
    """Loaded by pickle, it creates ``marker``: what anybody who can write into an output folder could
    leave there for ``--resume`` to run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def tamper(out: Path, spool: bytes | None = None, **checkpoint: Any) -> None:
    """Change a finished run's spool and checkpoint as somebody with write access to the folder could:
    the checkpoint agrees with the spool, and the run looks interrupted."""
    path = out / CHECKPOINT
    state = json.loads(path.read_text())
    if spool is not None:
        (out / SPOOL).write_bytes(spool)
        state["sizes"][SPOOL] = len(spool)
    state.update(complete=False, **checkpoint)
    path.write_text(json.dumps(state))


def test_a_spool_holding_a_pickle_is_refused_never_loaded(book: Book, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    path = write_jsonl(book, tmp_path / "book.jsonl")
    out = tmp_path / "out"
    run_audit([path], out)
    marker = tmp_path / "the-pickle-ran"
    tamper(out, pickle.dumps([Exploit(marker)], protocol=pickle.HIGHEST_PROTOCOL))
    capsys.readouterr()
    status = main(["audit", str(path), "--out", str(out), "--resume"])
    assert not marker.exists(), "the resume ran the pickle's code"
    assert status == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress lines
    assert error.startswith("policyguard audit: ") and SPOOL in error and "line 1" in error
    assert "without --resume" in error


def test_a_checkpoint_of_an_earlier_release_is_not_resumed(book: Book, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture) -> None:
    """Its spool is a pickle, which this release does not read: resuming would lose its observations."""
    path = write_jsonl(book, tmp_path / "book.jsonl")
    out = tmp_path / "out"
    run_audit([path], out)
    tamper(out, version=1)
    capsys.readouterr()
    assert main(["audit", str(path), "--out", str(out), "--resume"]) == 2
    assert "earlier release" in capsys.readouterr().err


def test_the_report_renders_in_headless_chromium(book: Book, tmp_path: Path) -> None:
    binary = chromium()
    if binary is None:
        pytest.fail("chromium is not installed: run `make install` (scripts/system-deps.sh)")
    out = tmp_path / "report"
    run_audit([write_jsonl(book, tmp_path / "book.jsonl")], out)
    page = out / "summary.html"
    dom = subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    channels = len(summary_of(out)["by_channel"])
    assert dom.count("<table") >= 4 and dom.count("<svg") == 2
    assert dom.count("<rect") >= channels and "BANCASSURANCE" in dom and "2014" in dom
    png = tmp_path / "summary.png"
    screenshot(page, png)
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 30_000  # a page of tables and bars, not a blank one
