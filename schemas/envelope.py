"""The envelope shared by both input topics (CONTRACT.md §2.1)."""
from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.enums import ActorRole, Channel
from schemas.text import Code, OptText, Text


class Actor(BaseModel):
    """Who made the change: the person an alert holds responsible."""

    model_config = ConfigDict(extra="allow")

    user_id: Text
    role: Annotated[ActorRole, Code]
    supervisor_id: OptText = None
    department: OptText = None


class Envelope(BaseModel):
    model_config = ConfigDict(extra="allow")

    event_id: Text = Field(description="Unique per event; the idempotency key")
    occurred_at: AwareDatetime = Field(description="Event time in the source system, with offset")
    policy_no: Text = Field(description="Contract number, stable over the whole lifecycle")
    source_seq: int | None = None
    channel: Annotated[Channel | None, Code] = None
    branch_code: OptText = None
    agent_code: OptText = None
    intermediary_code: OptText = None
    actor: Actor
