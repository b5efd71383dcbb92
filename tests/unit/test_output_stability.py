"""Replay's outputs on a fixed generated corpus are pinned byte for byte.

Performance work rewrites the hot path (rules, normalisation, state, encoding); this is
what proves it changed nothing a consumer can see. A deliberate change of the outputs
updates the digests with ``python -m tests.unit.test_output_stability --update``, and the
commit says why.
"""
from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from contextlib import chdir
from datetime import UTC, datetime
from pathlib import Path

from bench.corpus import generate, jsonl
from streams.core.outputs import REPLAY_FILES
from streams.core.ruleset import RuleSet
from streams.replay import replay

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden" / "replay-digests.json"
CORPUS_EVENTS = 3_000
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def _digests(tmp: Path) -> dict[str, dict[str, object]]:
    corpus = tmp / "corpus.jsonl"
    corpus.write_bytes(jsonl(generate(CORPUS_EVENTS)))
    with chdir(tmp):  # quarantine records name the file as given: keep it free of the temp path
        replay([Path("corpus.jsonl")], Path("out"), ruleset=RuleSet.default(), clock=lambda: NOW,
               validator_version="golden")
    files = {"corpus.jsonl": corpus} | {name: tmp / "out" / name for name in sorted(REPLAY_FILES.values())}
    return {name: {"lines": path.read_bytes().count(b"\n"), "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                   "kinds": _kinds(path) if name != "corpus.jsonl" else {}}
            for name, path in files.items()}


def _kinds(path: Path) -> dict[str, int]:
    """What the records of one output are, counted: status and rule per clean record, reason per
    quarantine record, type and penalty per alert, action per instruction. When the bytes change,
    this says which records changed kind (and how many), or that none did and only content or
    order moved."""
    kinds: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "validation" in record:
            kinds[record["validation"]["status"]] += 1
            kinds.update(f"rule {f['rule']}" for f in record["validation"]["findings"])
        elif "reason" in record:
            kinds[f"reason {record['reason']}"] += 1
        elif "alert_type" in record:
            kinds[f"alert {record['alert_type']} penalty {json.dumps(record.get('penalty'), sort_keys=True)}"] += 1
        elif "action" in record:
            kinds[f"instruction {record['action']}"] += 1
    return dict(sorted(kinds.items()))


def _what_changed(expected: dict[str, object], actual: dict[str, object]) -> str:
    was, now = expected.get("kinds", {}), actual["kinds"]
    assert isinstance(was, dict) and isinstance(now, dict)
    moved = {kind: (was.get(kind, 0), now.get(kind, 0)) for kind in sorted({*was, *now})
             if was.get(kind, 0) != now.get(kind, 0)}
    if moved:
        return ", ".join(f"{kind}: {before} -> {after}" for kind, (before, after) in moved.items())
    return f"the same records by kind ({expected['lines']} -> {actual['lines']} lines): content or order changed"


def test_replay_outputs_are_unchanged_on_the_fixed_corpus(tmp_path: Path) -> None:
    expected = json.loads(GOLDEN.read_text())
    actual = _digests(tmp_path)
    assert actual["corpus.jsonl"]["sha256"] == expected["corpus.jsonl"]["sha256"], \
        "the generated corpus itself changed (bench/corpus.py)"
    changed = {name: _what_changed(expected[name], actual[name]) for name in expected
               if name != "corpus.jsonl" and actual[name]["sha256"] != expected[name]["sha256"]}
    assert not changed, "replay outputs changed:\n" + "\n".join(f"  {name}: {what}" for name, what in changed.items())
    assert sum(int(v["lines"]) for k, v in actual.items() if k != "corpus.jsonl") > CORPUS_EVENTS  # type: ignore[call-overload]


if __name__ == "__main__" and sys.argv[1:] == ["--update"]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        GOLDEN.write_text(json.dumps(_digests(Path(tmp)), indent=2, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
