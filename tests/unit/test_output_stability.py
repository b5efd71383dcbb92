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
    return {name: {"lines": path.read_bytes().count(b"\n"), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
            for name, path in files.items()}


def test_replay_outputs_are_unchanged_on_the_fixed_corpus(tmp_path: Path) -> None:
    expected = json.loads(GOLDEN.read_text())
    actual = _digests(tmp_path)
    assert actual["corpus.jsonl"] == expected["corpus.jsonl"], "the generated corpus itself changed (bench/corpus.py)"
    changed = {name for name in expected if actual[name] != expected[name]}
    assert not changed, f"replay outputs changed: {sorted(changed)}"
    assert sum(int(v["lines"]) for k, v in actual.items() if k != "corpus.jsonl") > CORPUS_EVENTS  # type: ignore[call-overload]


if __name__ == "__main__" and sys.argv[1:] == ["--update"]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        GOLDEN.write_text(json.dumps(_digests(Path(tmp)), indent=2, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}")
