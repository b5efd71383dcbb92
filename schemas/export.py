"""JSON Schema export of every input and output record (``policyguard schemas``)."""
from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.alert import Alert
from schemas.clean_event import CleanEndorsementEvent, CleanPolicyEvent
from schemas.commission import CommissionInstruction
from schemas.endorsement_event import EndorsementEvent
from schemas.policy_event import PolicyEvent
from schemas.quarantine import QuarantineRecord

RECORDS: dict[str, type[BaseModel]] = {
    "policy-event": PolicyEvent,
    "endorsement-event": EndorsementEvent,
    "clean-policy-event": CleanPolicyEvent,
    "clean-endorsement-event": CleanEndorsementEvent,
    "quarantine-record": QuarantineRecord,
    "alert": Alert,
    "commission-instruction": CommissionInstruction,
}

CHECKED_IN_DIR = Path(__file__).resolve().parent / "json"


def render(model: type[BaseModel]) -> str:
    """Stable text (sorted keys, trailing newline) so the checked-in files diff cleanly."""
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def rendered() -> dict[str, str]:
    return {f"{name}.schema.json": render(model) for name, model in RECORDS.items()}


def write(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, content in rendered().items():
        path = out_dir / filename
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
