"""The envelope shared by both input topics (docs/contract.md §2.1)."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.enums import ActorRole, Channel
from schemas.text import Code, EventTime, Identifier, OptIdentifier, OptText


class Actor(BaseModel):
    """Who made the change: the person an alert holds responsible."""

    model_config = ConfigDict(extra="allow")

    user_id: Identifier
    role: Annotated[ActorRole, Code]
    supervisor_id: OptIdentifier = None
    department: OptText = None


class Envelope(BaseModel):
    model_config = ConfigDict(extra="allow")

    event_id: Identifier = Field(description="Unique per event; the idempotency key")
    occurred_at: EventTime = Field(description="Event time in the source system, with offset")
    policy_no: Identifier = Field(description="Contract number, stable over the whole lifecycle")
    source_seq: int | None = None
    channel: Annotated[Channel | None, Code] = None
    branch_code: OptIdentifier = None
    agent_code: OptIdentifier = None
    intermediary_code: OptIdentifier = None
    actor: Actor
