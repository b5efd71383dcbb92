"""Cross-policy detection on the in-process store: each alert type on its case, silent on look-alikes,
the same alerts whatever the arrival order and partitioning, idempotent index writes."""
from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from copy import deepcopy
from datetime import datetime
from pathlib import Path

import pytest

from streams.core.crosspolicy import CrossPolicyConfig, Hasher, MemoryStore
from streams.core.crosspolicy.detectors import crowded_uses
from streams.core.crosspolicy.index import holder_entry, merge_holder, merge_person, person_entry, put_capped
from streams.core.crosspolicy.roster import RosterFileError, parse_roster
from streams.core.masking import mask_phone
from streams.core.origin import Origin
from streams.core.pipeline import Verdict, process_record
from streams.core.ruleset import RuleSet
from streams.customer_view import CustomerView
from tests.cross_cases import (
    STAFF_MOBILE,
    all_events,
    cases,
    comparable,
    cross_alerts,
    driver_with,
    interleave,
    pipe_all,
)
from tests.oracle import encode

CASES = cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_case_raises_exactly_its_alerts(name: str) -> None:
    case = CASES[name]
    driver = driver_with(MemoryStore())
    alerts = cross_alerts(pipe_all(driver, case.events))
    assert Counter(alert["alert_type"] for alert in alerts) == case.alerts, [a["summary_zh"] for a in alerts]


def test_all_cases_together_raise_the_sum_of_their_alerts() -> None:
    """No case leaks into another: the shared index holds them all at once."""
    alerts = cross_alerts(pipe_all(driver_with(MemoryStore()), all_events()))
    assert Counter(alert["alert_type"] for alert in alerts) == sum((c.alerts for c in CASES.values()), Counter())


def _shuffled_by_policy(seed: int) -> list:
    """Each policy's events in order, policies interleaved at random (as partitions are)."""
    queues: dict[str, list] = {}
    for event in all_events():
        queues.setdefault(event[1]["policy_no"], []).append(event)
    return interleave(queues, random.Random(seed))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("partitions", [1, 4])
def test_alerts_and_ids_do_not_depend_on_arrival_order_or_partitions(seed: int, partitions: int) -> None:
    reference = sorted((comparable(a) for a in cross_alerts(pipe_all(driver_with(MemoryStore()), all_events()))),
                       key=lambda a: a["alert_id"])
    shuffled = cross_alerts(pipe_all(driver_with(MemoryStore(), partitions=partitions), _shuffled_by_policy(seed)))
    assert sorted((comparable(a) for a in shuffled), key=lambda a: a["alert_id"]) == reference


def test_identity_conflict_names_the_newer_policy_from_its_own_first_record() -> None:
    """The alert is about XIC2's name, contradicted by XIC1's earlier record: its content comes from
    XIC2's first event with that name, so whichever policy is read first it reads the same."""
    alerts = cross_alerts(pipe_all(driver_with(MemoryStore()), CASES["identity-conflict"].events))
    (alert,) = alerts
    assert alert["policy_no"] == "XIC2" and alert["evidence"]["fields"] == ["name"]
    assert alert["channel"] == "BANCASSURANCE" and alert["severity"] == "HIGH"
    assert alert["source_event_ids"] == ["XIC2-p01"] and alert["event_time"].startswith("2024-07-04")
    assert alert["responsible"]["user_id"] == "A0107" and alert["penalty"] is None
    assert "*" in alert["evidence"]["id_no"] and "XIC2" in alert["summary_zh"]


def test_staff_phone_names_the_staff_member_and_masks_the_number() -> None:
    (alert,) = cross_alerts(pipe_all(driver_with(MemoryStore()), CASES["staff-phone"].events))
    assert alert["responsible"]["user_id"] == "A0107" and alert["penalty"] == {"direct_cny": 200, "supervisor_cny": 100}
    assert alert["source_event_ids"] == ["XSP1-p01"]  # the first event carrying it; later ones add nothing
    assert STAFF_MOBILE not in json.dumps(alert) and mask_phone(STAFF_MOBILE) in alert["summary_zh"]
    assert {c["party"] for c in alert["changes"]} == {"policyholder", "insureds[0]"}


def test_without_a_roster_no_staff_phone_alert() -> None:
    alerts = cross_alerts(pipe_all(driver_with(MemoryStore(), roster=None), CASES["staff-phone"].events))
    assert alerts == []


def test_interception_blames_who_switched_the_number() -> None:
    alerts = [a for a in pipe_all(driver_with(MemoryStore()), CASES["visit-intercepted"].events)
              if a["alert_type"] == "RETURN_VISIT_INTERCEPTION"]
    (alert,) = alerts
    # The edit that put the number there and the visit that reached it (switching back after
    # the visit changes nothing about which number it reached).
    assert alert["source_event_ids"] == ["XRV1-p04", "XRV1-p05"]
    assert alert["responsible"]["user_id"] == "A0107"
    # One person in two slots (SELF): one switched number.
    assert [(c["party"], c["field"]) for c in alert["changes"]] == [("policyholder", "mobile")]
    # The switch itself is an unauthorized contact edit; switching back to the confirmed
    # value is a correction, not a second edit (nobody is fined for restoring it).
    edits = [a for a in pipe_all(driver_with(MemoryStore()), CASES["visit-intercepted"].events)
             if a["alert_type"] == "UNAUTHORIZED_CONTACT_EDIT"]
    assert [a["source_event_ids"] for a in edits] == [["XRV1-p04"]]


def _holders(uses: dict[str, tuple[int, int]]) -> dict:
    """Mobile entries of policyholders with one policy each, used from the first to the second day."""
    day = 86_400
    return {holder: {"l": last * day, "p": {f"P-{holder}": [first * day, last * day, first * day, f"e-{holder}", [],
                                                             None, None]}}
            for holder, (first, last) in uses.items()}


def _crowded(uses: dict[str, tuple[int, int]]) -> list[str]:
    return [use.holder for use in crowded_uses(_holders(uses), CrossPolicyConfig())]


def test_shared_contact_flags_every_policy_in_a_crowded_window_and_none_outside() -> None:
    assert _crowded({"a": (0, 0), "b": (1, 1), "c": (2, 2)}) == ["a", "b", "c"]
    assert _crowded({"a": (0, 0), "b": (20, 20), "c": (40, 40)}) == []  # no 30 days hold three
    assert _crowded({"a": (0, 0), "b": (15, 15), "c": (30, 30)}) == ["a", "b", "c"]  # the window's ends count
    # A later crowd flags its own policies; the first stays flagged, the lone use between is not.
    assert _crowded({"a": (0, 0), "b": (1, 1), "c": (2, 2), "d": (60, 60), "e": (100, 100), "f": (101, 101),
                     "g": (102, 102)}) == ["a", "b", "c", "e", "f", "g"]
    # A policyholder whose uses span the window counts in it.
    assert _crowded({"a": (0, 50), "b": (45, 45), "c": (46, 46)}) == ["a", "b", "c"]


def test_index_writes_are_idempotent_and_never_roll_back() -> None:
    """Every event re-delivered, in order and newest first: the index does not change."""
    store = MemoryStore()
    driver = driver_with(store)
    pipe_all(driver, all_events())
    snapshot = deepcopy((store.persons, store.mobiles))
    stage = driver.cross.stage  # type: ignore[union-attr]
    observations = [o for o in (stage.observe(verdict) for verdict in _verdicts(all_events())) if o is not None]
    asyncio.run(store.exchange(stage.request(observations)))
    asyncio.run(store.exchange(stage.request(list(reversed(observations)))))
    assert (store.persons, store.mobiles) == snapshot


def _verdicts(events: list) -> list[Verdict]:
    now = datetime.fromisoformat(max(doc["occurred_at"] for _, doc in events))
    ruleset = RuleSet.default()
    return [process_record(encode(doc), Origin(topic="policy-events"), now=now, ruleset=ruleset, stream=stream)
            for stream, doc in events]


def test_merges_keep_each_first_record_and_widen_its_span() -> None:
    actor = ["u1", "SALES_AGENT", None]
    first = person_entry(at=10, event_id="e1", actor=actor, roles=["policyholder"], attributes={"name": "a"},
                         channel="AGENCY", branch_code=None)
    same_later = person_entry(at=20, event_id="e2", actor=["u2", "SYSTEM", None], roles=["insured"],
                              attributes={"name": "a"}, channel="BANK", branch_code="B1")
    merged = merge_person(first, same_later)
    assert merged["v"]["name"]["a"] == [10, 20]  # first recorded by the record's own first event
    assert (merged["f"], merged["l"], merged["e"], merged["c"], merged["r"]) == (10, 20, "e1", "AGENCY",
                                                                               ["policyholder"])
    # An older event read late widens the span back; the anchor stays the first event read.
    older = person_entry(at=5, event_id="e0", actor=actor, roles=["policyholder"], attributes={"name": "a"},
                         channel="AGENCY", branch_code=None)
    assert merge_person(merged, older)["v"]["name"]["a"] == [5, 20]
    # A corrected value is a second fact, anchored on the event that brought it; the first is kept.
    corrected = person_entry(at=30, event_id="e3", actor=actor, roles=["insured", "policyholder"],
                             attributes={"name": "b"}, channel="AGENCY", branch_code=None)
    both = merge_person(merged, corrected)
    assert both["v"]["name"] == {"a": [10, 20], "b": [30, 30, 30, "e3", actor, ["insured", "policyholder"]]}
    assert merge_person(both, corrected) == both and merge_person(merged, same_later) == merged  # idempotent
    use = holder_entry(at=10, event_id="e1", actor=[], policy_no="P1", channel="AGENCY", branch_code=None)
    other = holder_entry(at=5, event_id="e0", actor=[], policy_no="P2", channel="BANK", branch_code=None)
    assert merge_holder(use, other, 20) == {"l": 10, "p": use["p"] | other["p"]}
    assert merge_holder(use, use, 20) == use


def test_a_full_map_keeps_the_newest_and_drops_what_is_older_than_all_it_keeps() -> None:
    def keep(old: list, new: list) -> list:
        return old

    kept = {"x": [10, 10], "y": [20, 20]}
    assert put_capped(kept, "z", [30, 30], 2, keep) and set(kept) == {"y", "z"}
    assert not put_capped(kept, "w", [15, 15], 2, keep) and set(kept) == {"y", "z"}
    assert put_capped(kept, "y", [5, 5], 2, keep) and set(kept) == {"y", "z"}  # a merge, never dropped
    # A tie on the time: the smaller name counts as the older.
    records = {"x": {"l": 10}, "y": {"l": 10}}
    assert not put_capped(records, "w", {"l": 10}, 2, keep) and set(records) == {"x", "y"}
    assert put_capped(records, "z", {"l": 10}, 2, keep) and set(records) == {"y", "z"}


def test_the_index_holds_keyed_hashes_only() -> None:
    store = MemoryStore()
    pipe_all(driver_with(store), all_events())
    dump = json.dumps([store.persons, store.mobiles, {k: v.to_entry() for k, v in store.roster.items()},
                       store.claims, store.alerts], ensure_ascii=False)
    for _, document in all_events():
        for party in [document["policyholder"], *document["insureds"]] if "policyholder" in document else []:
            for value in (party["id_no"], party["mobile"], party["name"], party.get("landline")):
                assert not value or value not in dump


def test_roster_file_reports_counts_and_rejected_lines_without_their_numbers() -> None:
    hasher = Hasher("secret")
    roster = parse_roster(
        "user_id,role,mobile,id_no\n"
        "A1,SALES_AGENT,139 1186 2740,\n"
        ",SALES_AGENT,13911862741,\n"
        "A2,CUSTOMER,13911862742,\n"
        "A3,SALES_AGENT,12345,\n"
        "A4,sales_agent,+86 13911862743,\n"
        "A5,SALES_AGENT,13911862740,\n"
        "\n",
        hasher,
    )
    assert len(roster.entries) == 2 and roster.rows == 6 and roster.staff == {"A1", "A4"}
    assert [line.split(":")[0] for line in roster.rejected] == ["line 3", "line 4", "line 5", "line 7"]
    assert not any("1391186" in line or "12345" in line for line in roster.rejected)
    with pytest.raises(RosterFileError, match="missing: mobile"):
        parse_roster("user_id,role\nA1,SALES_AGENT\n", hasher)


def test_customer_view_lists_policies_conflicts_and_alerts_masked() -> None:
    store = MemoryStore()
    driver = driver_with(store)
    pipe_all(driver, CASES["identity-conflict"].events)
    holder = CASES["identity-conflict"].events[0][1]["policyholder"]
    stage = driver.cross.stage  # type: ignore[union-attr]
    record = asyncio.run(store.customer(stage.hasher.person("RESIDENT_ID", holder["id_no"])))
    view = CustomerView("1101**********3110", "RESIDENT_ID", record)
    text = "\n".join(view.lines())
    assert "XIC1" in text and "XIC2" in text and "BANCASSURANCE" in text and "姓名不一致" in text
    assert "IDENTITY_CONFLICT" in text
    assert holder["id_no"] not in text and holder["name"] not in text
    assert view.as_json()["conflicts"] == [{"policies": ["XIC1", "XIC2"], "fields": ["name"]}]


def test_a_detector_defect_costs_the_checks_not_the_records(monkeypatch: pytest.MonkeyPatch) -> None:
    driver = driver_with(MemoryStore())
    stage = driver.cross.stage  # type: ignore[union-attr]

    def broken(*_: object, **__: object) -> list:
        raise KeyError("boom")

    monkeypatch.setattr(stage, "detect", broken)
    alerts = pipe_all(driver, CASES["identity-conflict"].events)
    assert cross_alerts(alerts) == []
    assert len(driver.outputs) >= len(CASES["identity-conflict"].events)  # every record still routed


def test_the_audits_disk_index_gives_the_in_process_answers(tmp_path: Path) -> None:
    from streams.core.crosspolicy.store import LocalStore
    from streams.sqlite_index import SqliteBackend

    expected = sorted(map(comparable, cross_alerts(pipe_all(driver_with(MemoryStore()), all_events()))),
                      key=lambda a: a["alert_id"])
    disk = LocalStore(backend=SqliteBackend(tmp_path / "index.sqlite"))
    driver = driver_with(disk, partitions=4)
    found = cross_alerts(pipe_all(driver, _shuffled_by_policy(3)))
    assert sorted(map(comparable, found), key=lambda a: a["alert_id"]) == expected
    holder = CASES["identity-conflict"].events[0][1]["policyholder"]
    stage = driver.cross.stage  # type: ignore[union-attr]
    record = asyncio.run(disk.customer(stage.hasher.person("RESIDENT_ID", holder["id_no"])))
    assert sorted(record.policies) == ["XIC1", "XIC2"] and [a["alert_type"] for a in record.alerts] == [
        "IDENTITY_CONFLICT"]


def test_a_visit_on_a_wrong_number_is_caught_without_a_known_issue_time() -> None:
    """A policy whose state predates the issue-time field (or whose issue was never seen)."""
    from tests.cross_cases import customer, visit
    from tests.lifecycle import policy

    holder = customer("孙涛", "M", "1970-12-12", region="210102", serial=93, mobile="13840001111")
    events = [policy("XNI1", 1, "APPLICATION_CONFIRMED", 0, holder=holder), visit("XNI1", 2, 60, holder, "13840009999")]
    alerts = cross_alerts(pipe_all(driver_with(MemoryStore()), events))
    assert [(a["alert_type"], a["source_event_ids"]) for a in alerts] == [("RETURN_VISIT_INTERCEPTION", ["XNI1-p02"])]


def test_a_roster_file_with_no_usable_line_replaces_nothing_unless_asked(tmp_path: Path) -> None:
    from streams.roster_file import load_roster_file

    store = MemoryStore()
    hasher = Hasher("k")
    good, bad, empty = tmp_path / "good.csv", tmp_path / "bad.csv", tmp_path / "empty.csv"
    good.write_text(f"user_id,role,mobile\nA0107,SALES_AGENT,{STAFF_MOBILE}\n")
    bad.write_text("user_id,role,mobile\nA0107,SALES_AGENT,12345\nX,NOBODY,13911112222\n")
    empty.write_text("user_id,role,mobile\n")
    asyncio.run(load_roster_file(good, hasher, store))
    for path in (bad, empty):
        with pytest.raises(RosterFileError, match="no usable roster line"):
            asyncio.run(load_roster_file(path, hasher, store))
        assert set(store.roster) == {hasher.mobile(STAFF_MOBILE)}  # the live roster stays
    asyncio.run(load_roster_file(empty, hasher, store, allow_empty=True))
    assert store.roster == {}


def test_a_waiting_check_reads_back_from_disk_as_it_was_and_in_order(tmp_path: Path) -> None:
    """The backlog a Redis outage leaves on disk: every observation of the cases comes back equal,
    oldest first, across a reopen; what ran is gone."""
    from streams.core.crosspolicy import DEV_SECRET, CrossPolicyStage
    from streams.cross_backlog import DiskBacklog
    from streams.local_state import RocksBacking
    from tests.cross_cases import all_events, observations

    seen = observations(all_events(), CrossPolicyStage.default(DEV_SECRET))
    assert any(o.use for o in seen) and any(o.phones for o in seen) and any(o.sightings for o in seen)
    backlog = DiskBacklog(RocksBacking(tmp_path / "b"))
    backlog.append(seen[:10])
    backlog.append(seen[10:])
    assert backlog.peek(len(seen) + 5) == seen
    backlog.drop(7)
    backlog.close()
    reopened = DiskBacklog(RocksBacking(tmp_path / "b"))
    assert len(reopened) == len(seen) - 7 and reopened.peek(len(seen)) == seen[7:]
    reopened.append(seen[:2])
    assert reopened.peek(len(seen))[-2:] == seen[:2]
