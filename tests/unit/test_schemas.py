"""The checked-in JSON Schemas are what the models generate, and they accept real events."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from schemas.export import CHECKED_IN_DIR, RECORDS, rendered

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "samples"


def test_checked_in_schemas_match_the_models() -> None:
    expected = rendered()
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in CHECKED_IN_DIR.glob("*.schema.json")}
    assert set(on_disk) == set(expected), "run `policyguard schemas` and commit schemas/json"
    for name, text in expected.items():
        assert on_disk[name] == text, f"{name} drifted from the models: run `policyguard schemas`"


@pytest.mark.parametrize(("file", "record"), [("policy-events.jsonl", "policy-event"),
                                              ("endorsement-events.jsonl", "endorsement-event")])
def test_sample_events_satisfy_the_published_schema(file: str, record: str) -> None:
    schema = json.loads((CHECKED_IN_DIR / f"{record}.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for line in (SAMPLES / file).read_text(encoding="utf-8").splitlines():
        errors = list(validator.iter_errors(json.loads(line)))
        assert not errors, errors[0].message


def test_every_record_of_the_contract_is_exported() -> None:
    assert set(RECORDS) == {"policy-event", "endorsement-event", "clean-policy-event", "clean-endorsement-event",
                            "quarantine-record", "alert", "commission-instruction"}
