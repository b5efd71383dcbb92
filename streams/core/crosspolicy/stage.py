"""The cross-policy stage: a batch's observations → one index exchange → candidate alerts.

Sans I/O, so the worker (Redis, asynchronously) and replay (in process, or Redis when
``REDIS_URL`` is set) run the very same steps:

1. :meth:`CrossPolicyStage.request` — the writes and reads of a whole batch, in arrival order;
2. the shell has its store execute them in one round trip (writes first, so two workers
   judging two halves of a conflict at once cannot both miss it: whichever store call runs
   second sees the other's write);
3. :meth:`CrossPolicyStage.detect` — candidates from the view;
4. the store's claim keeps the alerts this batch's events own (see :class:`Claim`).

Where a batch starts and ends changes no answer: the index keeps every value a policy was
recorded with (not only its last), each anchored on the policy's first event that recorded
it, and the detectors judge facts, not the order they came in
(:mod:`streams.core.crosspolicy.detectors`). Batches only set how often the store is called.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from schemas.alert import Penalty
from schemas.enums import ActorRole
from schemas.policy_event import PolicyEvent
from streams.core.crosspolicy.config import CrossPolicyConfig
from streams.core.crosspolicy.detectors import (
    Candidate,
    UseFact,
    ValueFact,
    actor_list,
    epoch,
    identity_conflicts,
    shared_contacts,
    staff_phones,
)
from streams.core.crosspolicy.index import Request, View, holder_entry, person_entry
from streams.core.crosspolicy.keys import Hasher
from streams.core.crosspolicy.observation import Observation, observe
from streams.core.detection.config import DEFAULT_PENALTIES
from streams.core.pipeline import Verdict


@dataclass
class CrossPolicyStage:
    hasher: Hasher
    config: CrossPolicyConfig
    penalties: dict[ActorRole, Penalty | None]

    @classmethod
    def default(cls, secret: str, config: CrossPolicyConfig | None = None,
                penalties: dict[ActorRole, Penalty | None] | None = None) -> CrossPolicyStage:
        return cls(Hasher(secret), config or CrossPolicyConfig(), penalties or dict(DEFAULT_PENALTIES))

    def observe(self, verdict: Verdict) -> Observation | None:
        """What a judged input tells the index (None: not a readable policy event)."""
        event = verdict.event
        if not isinstance(event, PolicyEvent):
            return None
        return observe(event, verdict.findings, self.hasher)

    def request(self, observations: Sequence[Observation]) -> Request:
        """The batch's writes in arrival order (a policy's facts are anchored on its first event
        that records them), and the keys its detectors read."""
        request = Request()
        for obs in observations:
            at, actor = epoch(obs.at), actor_list(obs.actor)
            for sighting in obs.sightings:
                request.identities.append((sighting.person, obs.policy_no, person_entry(
                    at=at, event_id=obs.event_id, actor=actor, roles=list(sighting.roles),
                    attributes=dict(sighting.attributes), channel=obs.channel, branch_code=obs.branch_code)))
                request.persons.add(sighting.person)
            if obs.use is not None:
                request.uses.append((obs.use.mobile, obs.use.holder, holder_entry(
                    at=at, event_id=obs.event_id, actor=actor, policy_no=obs.policy_no, channel=obs.channel,
                    branch_code=obs.branch_code)))
                request.mobiles.add(obs.use.mobile)
            request.roster.update(phone.mobile for phone in obs.phones)
        return request

    def detect(self, observations: Sequence[Observation], view: View, now: datetime) -> list[Candidate]:
        """Every alert the batch's events find, in arrival order; the same alert found twice in
        one batch is listed once, under the first event that found it."""
        found: dict[str, Candidate] = {}
        values: dict[tuple[str, str], list[ValueFact]] = {}
        uses: dict[str, list[UseFact]] = {}
        for obs in observations:
            for candidate in (
                *staff_phones(obs, view, now, self.penalties),
                *identity_conflicts(obs, view, now, values),
                *shared_contacts(obs, view, now, self.config, uses),
            ):
                found.setdefault(candidate.alert.alert_id, candidate)
        return list(found.values())


__all__ = ["Candidate", "CrossPolicyStage"]
