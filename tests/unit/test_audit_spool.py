"""The audit's observation spool and worker entry point: JSON Lines that give back exactly what
was spooled, refusing what is not one (a pickle above all); and a proper exception, not an
``assert`` (which ``python -O`` removes), when a worker has no judge."""
from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from streams.audit import spool
from streams.audit.runner import _judge_chunk
from streams.core.crosspolicy.observation import MobileUse, Observation, PhoneCheck, Sighting

EVERY_FIELD = Observation(
    event_id="E1", policy_no="P1", channel="BANCASSURANCE", branch_code="B01",
    at=datetime(2025, 3, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=8))),
    actor={"user_id": "U1", "role": "SALES_AGENT", "supervisor_id": None},
    sightings=(Sighting("p1", "110101********0071", ("policyholder", "insured"),
                        (("birth_date", "h1"), ("name", "h2"))),
               Sighting("p2", "110101********0082", ("beneficiary",), ())),
    phones=(PhoneCheck("m1", "138****0000", "p1", ("policyholder",)),
            PhoneCheck("m2", "139****1111", None, ("insureds[0]",))),
    use=MobileUse("m1", "138****0000", "p1"),
    documents=frozenset({"d1", "d2"}),
)
DEFAULTS = Observation(event_id="E2", policy_no="P2", channel=None, branch_code=None,
                       at=datetime(2025, 3, 2, tzinfo=UTC), actor={})


def test_spooled_observations_come_back_equal_in_order(tmp_path: Path) -> None:
    path = tmp_path / "observations.jsonl"
    with path.open("ab") as handle:
        spool.write(handle, [EVERY_FIELD, DEFAULTS])
        spool.write(handle, [])
        spool.write(handle, [DEFAULTS])
    back = list(spool.read(path))
    assert back == [EVERY_FIELD, DEFAULTS, DEFAULTS]
    assert [o.at.isoformat() for o in back] == [o.at.isoformat() for o in (EVERY_FIELD, DEFAULTS, DEFAULTS)]
    assert isinstance(back[0].sightings, tuple) and isinstance(back[0].documents, frozenset)


@pytest.mark.parametrize("content", [
    pickle.dumps([EVERY_FIELD]),
    b'{"event_id": "E3"}\n',
    b'{"event_id": 3, "policy_no": "P3", "channel": null, "branch_code": null, "at": "2025-03-02T00:00:00Z", '
    b'"actor": {}}\n',
])
def test_what_is_not_a_spool_is_refused_naming_the_line(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "observations.jsonl"
    with path.open("ab") as handle:
        spool.write(handle, [DEFAULTS])
    with path.open("ab") as handle:
        handle.write(content)
    read = spool.read(path)
    assert next(read) == DEFAULTS
    with pytest.raises(spool.SpoolError, match="line 2: not an observation"):
        next(read)


def test_a_worker_without_its_judge_raises_whatever_the_optimisation() -> None:
    with pytest.raises(RuntimeError, match="judge"):
        _judge_chunk([])
