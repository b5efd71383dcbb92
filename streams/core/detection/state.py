"""What PolicyGuard remembers about one policy; JSON-serialisable for the changelog.

Identifiers in here are the customer's own data, as on the input topics; the state lives
only in the worker's store and its changelog topic (restrict it like the input topics).

Every record carries a format version (``v``). A worker meeting a version it does not know
stops with a clear message rather than misreading state another release wrote.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, ValidationError

from schemas.enums import Applicant, Channel

STATE_VERSION = 2

PAYLOAD_FIELDS = ("clean_json", "quarantine_json")
"""The fields of a held edit kept outside its policy's state record."""

APPROVING_STATUSES = frozenset({"ENDORSEMENT_APPROVED", "ENDORSEMENT_EFFECTIVE"})


class Clock(StrEnum):
    """Which stream's time a deadline is measured on."""

    POLICY = "policy"
    ENDORSEMENT = "endorsement"
    ANY = "any"  # the later of the two


class StateVersionError(RuntimeError):
    """A state record written in a format this release cannot read."""


class Slot(BaseModel):
    """One party slot of the last snapshot: who (ID type + number) and their contact fields."""

    label: str
    person: str | None = Field(default=None, description="id_type:id_no, or None when unknown")
    name: str | None = Field(default=None, description="the name's canonical form, to follow a person across ID changes")
    birth_date: date | None = None
    contacts: dict[str, Any] = Field(default_factory=dict, description="as the last snapshot shows them (canonical)")
    authorized: dict[str, Any] | None = Field(
        default=None,
        description="the contact values the customer confirmed or authorized since, when they differ from "
        "``contacts`` (an unauthorized or still undecided edit); None: the same",
    )


class EndorsementRecord(BaseModel):
    """What is known of one endorsement number, accumulated over all its events in whatever
    order they were read: a later event's missing field never erases an earlier one's."""

    endorsement_no: str
    endorsement_type: str | None = None
    applicant: Applicant | None = None
    applicant_at: AwareDatetime | None = Field(default=None, description="event time of the event naming it")
    evidence: list[str] = Field(
        default_factory=list,
        description="kinds of authorization evidence any of its events gave (signed, id_check, otp_old_mobile, "
        "face, power_of_attorney)",
    )
    changes: list[tuple[str, str, Any, Any]] = Field(
        default_factory=list, description="(party, field, old value, new value) as the endorsement states them"
    )
    changes_at: AwareDatetime | None = Field(default=None, description="event time of the event stating them")
    statuses: list[tuple[str, AwareDatetime]] = Field(default_factory=list)
    flagged: bool = Field(default=False, description="already alerted as an unauthorized edit")

    @property
    def customer_evidence(self) -> bool:
        """A signature with an ID check, an OTP to the OLD mobile, or a face-liveness check."""
        has = set(self.evidence)
        return ("signed" in has and "id_check" in has) or "otp_old_mobile" in has or "face" in has

    @property
    def attorney_ok(self) -> bool:
        has = set(self.evidence)
        return "power_of_attorney" in has and "id_check" in has

    @property
    def approved_at(self) -> datetime | None:
        """The first approval ever read (what the evidence of an alert shows)."""
        return min((at for status, at in self.statuses if status in APPROVING_STATUSES), default=None)

    def rejected_by(self, cutoff: datetime) -> bool:
        """Rejected at or before ``cutoff`` (event time): later news cannot change a past decision."""
        return any(status == "ENDORSEMENT_REJECTED" and at <= cutoff for status, at in self.statuses)

    def approval(self, approved_by: datetime, rejected_by: datetime) -> datetime | None:
        """When the approval in force came: the first approval after the last rejection, both
        in event time, an approval counting up to ``approved_by`` and a rejection (which
        revokes what came before it) up to ``rejected_by``. A number returned and resubmitted
        (REQUESTED, REJECTED, REQUESTED, APPROVED) is approved; APPROVED then REJECTED is not."""
        rejections = [at for status, at in self.statuses if status == "ENDORSEMENT_REJECTED" and at <= rejected_by]
        last_rejection = max(rejections, default=None)
        approvals = [
            at for status, at in self.statuses
            if status in APPROVING_STATUSES and at <= approved_by
            and (last_rejection is None or at > last_rejection)
        ]
        return min(approvals, default=None)

    def first_seen(self) -> datetime | None:
        return min((at for _, at in self.statuses), default=None)


class ContactChange(BaseModel):
    party: str
    person: str | None
    field: str
    old: Any = None
    new: Any = None


class VisitOnHeld(BaseModel):
    """A return visit completed on a number that only a still-undecided edit put there: an
    interception if that edit turns out unauthorized, nothing if it was covered."""

    event_id: str
    at: AwareDatetime
    called: str
    actor: dict[str, Any] = Field(default_factory=dict)
    channel: Channel | None = None
    branch_code: str | None = None
    holder_mobile: str | None = Field(default=None, description="the policyholder's mobile in the visit's own snapshot")


class PendingEdit(BaseModel):
    """An edit waiting for what decides it, measured on stream time.

    A policy edit (``endorsement_no`` None) waits until the policy's endorsement stream has
    passed the edit plus the arrival grace, so an authorization consumed late still clears
    it. An approved endorsement without customer authorization (``endorsement_no`` set)
    waits until the policy stream has passed it plus the grace, so its policy's lock point
    and parties are known whichever topic was read first.
    """

    event_id: str
    endorsement_no: str | None = None
    event_time: AwareDatetime
    due_from: AwareDatetime | None = Field(
        default=None, description="when its wait starts, if not its own time: the wall clock for a record dated "
        "ahead of it, the time it came in for a record dated far before its policy's previous event")
    held_since: AwareDatetime
    changes: list[ContactChange]
    slots: list[Slot] = Field(default_factory=list, description="the policy's parties right after the edit")
    actor: dict[str, Any]
    channel: Channel | None = None
    branch_code: str | None = None
    source_topic: str | None = None
    clean_json: str | None = Field(default=None, description="the clean record, when validation passed")
    quarantine_json: str | None = Field(
        default=None, description="the record to emit if unauthorized (findings added then); always set in memory")
    outcome: str = Field(default="clean", description="the validation outcome, emitted if the edit is covered")
    visits: list[VisitOnHeld] = Field(
        default_factory=list,
        description="completed return visits that called the number this edit put in place, judged with it",
    )


class LedgerKind(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    HELD = "HELD"


class LedgerEntry(BaseModel):
    """A policy event's effect on commission, applied in policy-event order.

    While an earlier edit is held, later events queue behind it, so HOLD and RELEASE come
    out the same whichever topic was read first.
    """

    kind: LedgerKind
    event_id: str
    at: AwareDatetime
    intermediary_code: str | None = None
    channel: Channel | None = None
    branch_code: str | None = None
    actor: dict[str, Any] = Field(default_factory=dict)
    reasons: list[str] = Field(default_factory=list)


class CommissionHold(BaseModel):
    intermediary_code: str
    channel: Channel | None = None
    branch_code: str | None = None
    opened_by: str
    opened_by_actor: dict[str, Any] = Field(default_factory=dict)
    opened_at: AwareDatetime
    deadline: AwareDatetime
    reasons: list[str]
    overdue_alerted: bool = False


class VisitWatch(BaseModel):
    """A contact field changed after issue, waiting to see whether a return visit reaches the
    new value and the old one comes back afterwards (A → B → visit → A)."""

    party: str
    person: str | None = None
    field: str
    original: Any = None
    switched: Any = None
    switched_by: str
    replaced: Any = Field(default=None, description="the value the latest switch replaced")
    switched_at: AwareDatetime
    actor: dict[str, Any] = Field(default_factory=dict)
    visit_event_id: str | None = Field(default=None, description="the completed visit that reached the new value")
    visit_at: AwareDatetime | None = None


class PolicyState(BaseModel):
    v: int = STATE_VERSION
    policy_no: str
    lock_at: AwareDatetime | None = None
    lock_event_id: str | None = None
    slots: list[Slot] = Field(default_factory=list)
    endorsements: dict[str, EndorsementRecord] = Field(default_factory=dict)
    pending: list[PendingEdit] = Field(default_factory=list)
    ledger: list[LedgerEntry] = Field(default_factory=list)
    hold: CommissionHold | None = None
    seen: dict[str, str] = Field(default_factory=dict, description="recent event_id → content digest, oldest first")
    last_event_at: AwareDatetime | None = Field(default=None, description="latest event time on either stream")
    policy_time: AwareDatetime | None = Field(default=None, description="latest event time of this policy's PolicyEvents")
    endorsement_time: AwareDatetime | None = Field(
        default=None, description="latest event time of this policy's endorsements"
    )
    terminated_at: AwareDatetime | None = None
    issued_at: AwareDatetime | None = None
    visit_watch: list[VisitWatch] = Field(default_factory=list)

    @property
    def hold_channel(self) -> str | None:
        """The channel of the open commission hold (``UNKNOWN`` when the hold has none), or None."""
        if self.hold is None:
            return None
        return self.hold.channel.value if self.hold.channel else "UNKNOWN"

    def to_json(self, due: Mapping[Clock, datetime] | None = None) -> bytes:
        """The changelog value. With ``due`` (the policy's next deadline per stream clock) an
        index entry leads the record, ``"pg":{"due":{…},"hold":channel}``, so a restart can
        index every policy from the record's first bytes without parsing its state; readers of
        the state ignore it.
        """
        # The version is written even though it is the default: a reader must never guess it.
        # A held edit's records (about twice the event: a group policy's is hundreds of KB)
        # are stored beside the state, one record each (PAYLOAD_FIELDS), never inside it.
        exclude: dict[str, Any] = {"v": True}
        if self.pending:
            exclude["pending"] = {"__all__": set(PAYLOAD_FIELDS)}
        body = self.model_dump_json(exclude_defaults=True, exclude=exclude).encode()
        head = b'{"v":%d,' % self.v
        if due is not None:
            entry: dict[str, Any] = {"due": {clock: at.isoformat() for clock, at in due.items()}}
            if self.hold_channel is not None:
                entry["hold"] = self.hold_channel
            head += b'"pg":%s,' % json.dumps(entry, separators=(",", ":")).encode()
        return head + body[1:]  # policy_no is required, so the body is never "{}"

    @classmethod
    def from_json(cls, raw: bytes | str) -> PolicyState:
        try:
            state = cls.model_validate_json(raw)
        except ValidationError as exc:
            try:
                version = json.loads(raw).get("v", 1)
            except (ValueError, AttributeError):
                version = None
            if version != STATE_VERSION:
                raise StateVersionError(
                    f"policy state record of format {version}; this release reads format {STATE_VERSION}"
                ) from None
            raise StateVersionError(f"unreadable policy state record ({exc.error_count()} errors)") from None
        if "v" not in state.model_fields_set or state.v != STATE_VERSION:
            raise StateVersionError(
                f"policy state record of format {state.v if 'v' in state.model_fields_set else 1}; "
                f"this release reads format {STATE_VERSION}"
            )
        return state
