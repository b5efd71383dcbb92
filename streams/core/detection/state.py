"""What PolicyGuard remembers about one policy; JSON-serialisable for the changelog.

Identifiers in here are the customer's own data, as on the input topics; the state lives
only in the worker's store and its changelog topic (restrict it like the input topics).

Every record carries a format version (``v``). A worker meeting a version it does not know
stops with a clear message rather than misreading state another release wrote.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field, ValidationError, model_validator

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


class StateUnreadable(StateVersionError):
    """One record of this release's format whose content does not read (a defect, a bit flip):
    it costs that policy's events, never the partition."""


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


class EndorsementFact(BaseModel):
    """One event of an endorsement number, as far as authorization goes."""

    status: str
    at: AwareDatetime
    endorsement_type: str | None = None
    applicant: Applicant | None = None
    evidence: list[str] = Field(
        default_factory=list,
        description="kinds of authorization evidence it gave (signed, id_check, otp_old_mobile, face, "
        "power_of_attorney)",
    )
    changes: list[tuple[str, str, Any, Any]] | None = Field(
        default=None, description="(party, field, old value, new value) as it states them; None: it states none"
    )


@dataclass(frozen=True)
class EndorsementView:
    """An endorsement as its events up to some moment (event time) made it: the evidence any of
    them gave, the applicant the earliest named, the changes the latest stated. A view as of the
    edit plus the grace is the same whichever order those events were read in, and news after it
    never changes a past decision."""

    endorsement_no: str
    endorsement_type: str | None
    applicant: Applicant | None
    evidence: frozenset[str]
    changes: tuple[tuple[str, str, Any, Any], ...]
    statuses: tuple[tuple[str, datetime], ...]

    @property
    def customer_evidence(self) -> bool:
        """A signature with an ID check, an OTP to the OLD mobile, or a face-liveness check."""
        has = self.evidence
        return ("signed" in has and "id_check" in has) or "otp_old_mobile" in has or "face" in has

    @property
    def attorney_ok(self) -> bool:
        return "power_of_attorney" in self.evidence and "id_check" in self.evidence

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


class EndorsementRecord(BaseModel):
    """Every event read of one endorsement number, in whatever order they came; what it says as
    of a moment is :meth:`as_of`."""

    endorsement_no: str
    facts: list[EndorsementFact] = Field(default_factory=list)
    flagged: bool = Field(default=False, description="already alerted as an unauthorized edit")

    @model_validator(mode="before")
    @classmethod
    def _from_format_2(cls, data: Any) -> Any:
        """A record an earlier release wrote (merged fields and statuses): one fact per status,
        the merged fields on the first."""
        if not isinstance(data, dict) or "facts" in data or "statuses" not in data:
            return data
        facts = []
        for index, (status, at) in enumerate(sorted(data.get("statuses") or [], key=lambda item: str(item[1]))):
            fact: dict[str, Any] = {"status": status, "at": at}
            if index == 0:
                fact |= {"endorsement_type": data.get("endorsement_type"), "applicant": data.get("applicant"),
                         "evidence": data.get("evidence") or (["face"] if data.get("customer_evidence") else []),
                         "changes": data.get("changes") or None}
            facts.append(fact)
        return {"endorsement_no": data.get("endorsement_no"), "facts": facts, "flagged": data.get("flagged", False)}

    def as_of(self, cutoff: datetime | None = None) -> EndorsementView:
        """What its events up to ``cutoff`` (None: all read) say."""
        facts = sorted((fact for fact in self.facts if cutoff is None or fact.at <= cutoff), key=lambda f: f.at)
        named = [fact for fact in facts if fact.applicant is not None]
        stated = [fact for fact in facts if fact.changes is not None]
        typed = [fact for fact in facts if fact.endorsement_type is not None]
        return EndorsementView(
            endorsement_no=self.endorsement_no,
            endorsement_type=typed[-1].endorsement_type if typed else None,
            applicant=named[0].applicant if named else None,
            evidence=frozenset(kind for fact in facts for kind in fact.evidence),
            changes=tuple(stated[-1].changes or ()) if stated else (),
            statuses=tuple((fact.status, fact.at) for fact in facts),
        )

    @property
    def approved_at(self) -> datetime | None:
        """The first approval read (what the evidence of an alert shows)."""
        return min((fact.at for fact in self.facts if fact.status in APPROVING_STATUSES), default=None)

    def first_seen(self) -> datetime | None:
        return min((fact.at for fact in self.facts), default=None)


class ContactChange(BaseModel):
    party: str
    person: str | None
    was: str | None = Field(default=None, description="the person's ID before this event, when it changed it")
    field: str
    old: Any = None
    new: Any = None


class Layout(BaseModel):
    """Who stood in which place of the policy from a moment on (event time)."""

    at: AwareDatetime
    slots: list[Slot] = Field(description="label, person and birth date per place; no contact data")


class PhoneSwitch(BaseModel):
    """A post-lock change of the policyholder's mobile or landline: who put which number there."""

    field: str
    value: Any = None
    replaced: Any = None
    event_id: str
    actor: dict[str, Any] = Field(default_factory=dict)


class HeldVisit(BaseModel):
    """A return visit completed on a number that is not the one the customer confirmed at the
    lock, waiting like an edit for the endorsement stream to pass it plus the grace: then the
    customer's authorizations as of the visit decide whether the number was theirs."""

    event_id: str
    at: AwareDatetime
    called: str
    actor: dict[str, Any] = Field(default_factory=dict)
    channel: Channel | None = None
    branch_code: str | None = None
    holder_mobile: str | None = Field(default=None, description="the policyholder's mobile in the visit's own snapshot")
    slots: list[Slot] = Field(default_factory=list, description="who the policyholder was at the visit")
    switched_by: PhoneSwitch | None = Field(default=None, description="the change that put the number there, if any")


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
    judged_at: AwareDatetime | None = None
    """When an event whose stated time was flagged EVENT_TIME_OUTLIER counts as having happened
    (``at`` is not to be trusted): how far its topic partition had got when it was read. A
    correction typed a year ahead is no late correction; one typed years back, read after the
    partition passed the deadline, is."""


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
    policy_time: AwareDatetime | None = Field(default=None, description="latest event time of this policy's PolicyEvents")
    endorsement_time: AwareDatetime | None = Field(
        default=None, description="latest event time of this policy's endorsements"
    )
    terminated_at: AwareDatetime | None = None
    issued_at: AwareDatetime | None = None
    confirmed_phones: dict[str, Any] = Field(
        default_factory=dict, description="the policyholder's mobile and landline as confirmed at the lock (canonical)")
    phone_switches: list[PhoneSwitch] = Field(default_factory=list, description="the latest, oldest first")
    held_visits: list[HeldVisit] = Field(default_factory=list)
    layouts: list[Layout] = Field(
        default_factory=list,
        description="who stood in which place (policyholder, insureds[i]) from when: an endorsement names a place "
        "as it was when it was made, the latest, oldest first")
    departed: list[Slot] = Field(
        default_factory=list,
        description="people no longer on the policy, with their contact data and baseline, the latest, oldest first: "
        "one who comes back is the same person, not a new one")
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
            raise StateUnreadable(f"unreadable policy state record ({exc.error_count()} errors)") from None
        if "v" not in state.model_fields_set or state.v != STATE_VERSION:
            raise StateVersionError(
                f"policy state record of format {state.v if 'v' in state.model_fields_set else 1}; "
                f"this release reads format {STATE_VERSION}"
            )
        return state
