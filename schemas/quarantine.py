"""QuarantineRecord (docs/contract.md §3.2): everything that may not reach a clean topic."""
from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from schemas.enums import QuarantineReason
from schemas.finding import Finding


class QuarantineRecord(BaseModel):
    source_topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    file: str | None = Field(default=None, description="Input file, when replayed")
    line: int | None = Field(default=None, description="1-based line in that file, when replayed")
    key: str | None = None
    raw: str = Field(description="The original bytes: UTF-8 text, or base64 (see raw_encoding)")
    raw_encoding: Literal["utf-8", "base64"] = "utf-8"
    raw_bytes: int | None = Field(
        default=None, description="Set when raw holds only the first bytes: the original's full size"
    )
    raw_sha256: str | None = Field(default=None, description="Set with raw_bytes: SHA-256 of the whole original")
    reason: QuarantineReason
    findings: list[Finding] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list, description="Decode, schema or rule-crash errors")
    event_id: str | None = Field(default=None, description="When the record could be read that far")
    policy_no: str | None = None
    quarantined_at: AwareDatetime
