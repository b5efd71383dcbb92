"""CommissionInstruction (docs/contract.md §3.4): 手续费暂缓 / 恢复 for an intermediary."""
from __future__ import annotations

from pydantic import AwareDatetime, BaseModel

from schemas.enums import Channel, CommissionAction


class CommissionInstruction(BaseModel):
    instruction_id: str
    action: CommissionAction
    policy_no: str
    intermediary_code: str
    channel: Channel | None = None
    reasons: list[str]
    at: AwareDatetime
