"""Records that once crashed, dropped or mis-reported: every kind issue 8 found, and a mixer.

Each builder returns the raw bytes of one input record for a given serial number, so a
fuzz run can make thousands of distinct ones. Shared by the pure processor tests and the
live fuzz test, so both judge the same inputs.
"""
from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

from streams.core.origin import Stream
from tests.oracle import encode, endorsement_event, person, policy_event, wrong_check

BANK = {"channel": "BANCASSURANCE", "intermediary_code": "BK532801007",
        "actor": {"user_id": "T0101", "role": "BANK_TELLER", "supervisor_id": None, "department": None}}


def _policy(n: int, **overrides: Any) -> dict[str, Any]:
    return policy_event(**{"event_id": f"fz-{n}", "policy_no": f"PFZ{n % 997:06d}", **overrides})


def _surrogate(document: dict[str, Any], path: tuple[str, ...]) -> bytes:
    """JSON with a ``\\udc80`` escape at ``path``: valid JSON text, not valid Unicode."""
    marker = "SURROGATE-MARKER"
    target = document
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = f"x{marker}y"
    return json.dumps(document, ensure_ascii=False).replace(marker, "\\udc80").encode()


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


POISON: dict[str, Callable[[int], bytes]] = {
    "surrogate in an extra field": lambda n: _surrogate(_policy(n, note="x"), ("note",)),
    "surrogate in actor.department": lambda n: _surrogate(_policy(n), ("actor", "department")),
    "surrogate in address.detail": lambda n: _surrogate(_policy(n), ("policyholder", "address", "detail")),
    "surrogate in event_id": lambda n: _surrogate(_policy(n), ("event_id",)),
    "surrogate in policy_no": lambda n: _surrogate(_policy(n), ("policy_no",)),
    "year 9999 on a failing bank policy": lambda n: encode(_policy(
        n, occurred_at="9999-12-31T23:59:59-08:00", policyholder=person(id_no=wrong_check(person()["id_no"])),
        **BANK)),
    "nested 300 deep": lambda n: encode(_policy(n, extra=_nested(300))),
    "NaN in an extra field": lambda n: encode(_policy(n)).replace(b'"source_seq": 1', b'"source_seq": 1, "x": NaN'),
    "integer of 5000 digits": lambda n: encode(_policy(n)).replace(b'"source_seq": 1', b'"source_seq": ' + b"7" * 5000),
    "date out of range": lambda n: encode(_policy(n, occurred_at="0001-01-01T00:00:00+08:00")),
    "NUL in policy_no": lambda n: encode(_policy(n, policy_no=f"P\u0000{n}")),
    "empty": lambda n: b"",
    "whitespace only": lambda n: b" \t ",
    "invalid UTF-8": lambda n: b"\xff\xfe" + str(n).encode(),
    "not an object": lambda n: b"[1, 2, 3]",
    "truncated JSON": lambda n: encode(_policy(n))[:-7],
    "unknown event type": lambda n: encode(_policy(n, event_type="SOMETHING_ELSE")),
    "wrong types": lambda n: encode(_policy(n, insureds="nobody")),
}

LARGE: dict[str, Callable[[int], bytes]] = {
    "a 5 MB string": lambda n: encode(_policy(n, blob="界" * 1_700_000)),
    "3.5 MB of invalid UTF-8": lambda n: b"\xff" * 3_500_000,
    "20,000 insureds": lambda n: encode(_policy(n, insureds=[
        dict(person(), relation_to_policyholder="OTHER") for _ in range(20_000)])),
}


def valid(n: int) -> tuple[Stream, bytes]:
    """A valid event of one of a few hundred policies, policy or endorsement."""
    if n % 3 == 0:
        return Stream.ENDORSEMENT, encode(endorsement_event(event_id=f"ok-{n}", policy_no=f"POK{n % 311:06d}",
                                                            endorsement_no=f"E{n}"))
    return Stream.POLICY, encode(policy_event(event_id=f"ok-{n}", policy_no=f"POK{n % 311:06d}"))


def mixed(count: int, *, seed: int = 8, poison_share: float = 0.5) -> list[tuple[Stream, bytes]]:
    """``count`` inputs, poison of every kind mixed with valid traffic, tombstones included
    (as empty bytes, which is what a null value reaches the core as)."""
    rng = random.Random(seed)
    kinds = sorted(POISON)
    out = []
    for n in range(count):
        if rng.random() < poison_share:
            stream = rng.choice([Stream.POLICY, Stream.ENDORSEMENT])
            out.append((stream, POISON[kinds[n % len(kinds)]](n)))
        else:
            out.append(valid(n))
    return out
