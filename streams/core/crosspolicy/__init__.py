"""Cross-policy detection: what only shows across policies (docs/contract.md §3.3).

A staff member's own phone typed in as the customer's, one ID number carrying different
names on two policies, one mobile shared by unrelated policyholders. The detectors are pure:
they take an event's :class:`~streams.core.crosspolicy.observation.Observation` and a
:class:`~streams.core.crosspolicy.index.View` of the customer index, and return candidate
alerts; the index itself lives behind :class:`~streams.core.crosspolicy.store.CrossStore`
(Redis live, a dictionary in replay). Everything stored is a keyed hash of the customer's
data, never the data.
"""
from streams.core.crosspolicy.config import CrossPolicyConfig
from streams.core.crosspolicy.keys import DEV_SECRET, Hasher
from streams.core.crosspolicy.observation import Observation, observe
from streams.core.crosspolicy.stage import Candidate, CrossPolicyStage
from streams.core.crosspolicy.store import CrossStore, MemoryStore

__all__ = [
    "DEV_SECRET", "Candidate", "CrossPolicyConfig", "CrossPolicyStage", "CrossStore", "Hasher", "MemoryStore",
    "Observation", "observe",
]
