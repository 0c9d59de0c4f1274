"""Two sibling cases of one couple (a second application opened at another office while the first
still waits), on a real broker with the real registry worker (architecture invariant 9, issue 11;
rule ARefusalRestsOnASettledHold): the cases claim the two persons in opposite orders, so each may
hold one person while waiting for the other. Neither is refused while the other is unsettled: one
is registered, and the other is refused only once the registry holds the first as confirmed,
naming it (民法典 第1042条). The regions' clocks are fake: a case answered PENDING waits for its
retry deadline (invariant 6), which the test brings due by moving that region's clock on."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from services.common.clock import CHINA
from services.common.registry.projection import registry_entries
from tests.integration.marriage.exchange import Region, region, register_request, registry_worker
from tests.support import wait_until
from tests.unit.marriage.people import GUANGYUAN_OFFICE, NINGXIA, SICHUAN, YINCHUAN_OFFICE, clerk, couple
from tongban.marriage.v1 import marriage_service_pb2 as api
from tongban.registry.v1 import registry_pb2

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

START = datetime(2026, 3, 2, 9, 0, tzinfo=CHINA).astimezone(UTC)  # a Monday
YINCHUAN = clerk(YINCHUAN_OFFICE, NINGXIA)
GUANGYUAN = clerk(GUANGYUAN_OFFICE, SICHUAN)


@pytest.fixture(scope="module")
def two_regions(kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Region, Region]]:
    prefix = f"t.marriage-siblings.{uuid.uuid4().hex[:10]}"
    data = tmp_path_factory.mktemp("siblings")
    with registry_worker(kafka_broker.bootstrap, prefix, data / "registry"), \
            region(NINGXIA, kafka_broker.bootstrap, prefix, data, START) as ningxia, \
            region(SICHUAN, kafka_broker.bootstrap, prefix, data, START) as sichuan:
        yield ningxia, sichuan


def _history(case: api.Case) -> list[str]:
    return [h.type.rsplit(".", 1)[-1] for h in case.history]


def _retry_deadline_id(payload: dict[str, Any]) -> str:
    return str(payload.get("retry_deadline_id", payload.get("retryDeadlineId", "")))


def _decided_at(viewer: Region, case_id: str, status: str, latest: bool) -> int | None:
    """When the registry decided `status` on a claim of `case_id`, as `viewer`'s registry view shows it."""
    store = viewer.host.store
    assert store is not None
    column = registry_entries.c.decided_at_us
    with store.engine.connect() as conn:
        return conn.execute(select(func.max(column) if latest else func.min(column))
                            .where(registry_entries.c.case_id == case_id, registry_entries.c.status == status)
                            ).scalar()


def _register_both(ningxia: Region, sichuan: Region, husband: str, wife: str) -> dict[str, api.Case]:
    """The couple applies in Ningxia (husband first) and in Sichuan (wife first) at once."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(ningxia.call, "RegisterMarriage", register_request(husband, wife, wait=0), YINCHUAN)
        second = pool.submit(sichuan.call, "RegisterMarriage", register_request(wife, husband, wait=0), GUANGYUAN)
        return {ningxia.code: first.result().case, sichuan.code: second.result().case}


def _settle_and_check(ningxia: Region, sichuan: Region, cases: dict[str, api.Case]) -> tuple[str, set[str]]:
    """Both cases decided (moving a region's clock on when a case waits for its retry deadline):
    one registered, the other refused naming it, after its confirmation. Returns what to print."""
    where = {ningxia.code: (ningxia, YINCHUAN), sichuan.code: (sichuan, GUANGYUAN)}
    pending_seen: set[str] = set()

    def both_decided() -> bool:
        for code, case in list(cases.items()):
            here, actor = where[code]
            case = cases[code] = here.call("GetCase", api.GetCaseRequest(case_id=case.case_id), actor).case
            history = _history(case)
            if "PartyClaimPending" in history:
                pending_seen.add(code)
            scheduled = sum(1 for h in case.history if h.type.endswith("PartyClaimPending")
                            and _retry_deadline_id(json.loads(h.payload_json)))
            if case.state == "awaiting_registry" and history.count("PartyClaimsRetried") < scheduled:
                here.clock.advance(timedelta(minutes=2))  # bring the retry deadline due
        return all(c.state != "awaiting_registry" for c in cases.values())

    wait_until(both_decided, timeout=240, what="both sibling cases to be decided")
    assert sorted(c.state for c in cases.values()) == ["refused", "registered"], "no false refusal, no bigamy"
    [(won, registered)] = [(code, c) for code, c in cases.items() if c.state == "registered"]
    [(lost, refused)] = [(code, c) for code, c in cases.items() if c.state == "refused"]
    assert refused.marriage.refusal_rule == "NoExistingMarriage" and refused.marriage.holder_region == won
    refusal = next(h for h in refused.history if h.type.endswith("MarriageRefused"))
    payload = json.loads(refusal.payload_json)
    assert payload.get("holder_case_id", payload.get("holderCaseId")) == registered.case_id, "it names its sibling"

    # Refused only once the registry held the sibling as confirmed: the denial came after the
    # confirmation, both by the registry's clock, as the losing region's registry view shows them.
    loser = where[lost][0]
    wait_until(lambda: _decided_at(loser, registered.case_id, "confirmed", latest=True) is not None,
               timeout=60, what="the sibling's confirmation in the losing region's view")
    confirmed_at = _decided_at(loser, registered.case_id, "confirmed", latest=True)
    denied_at = _decided_at(loser, refused.case_id, "denied", latest=False)
    assert confirmed_at is not None and denied_at is not None and denied_at >= confirmed_at
    return (f"{won} registered, {lost} refused {(denied_at - confirmed_at) / 1e6:.1f}s after the confirmation; "
            f"pending answers seen in {sorted(pending_seen) or 'neither'}"), pending_seen


def test_sibling_cases_racing_end_one_registered_and_the_other_refused_after_its_confirmation(
        two_regions: tuple[Region, Region]) -> None:
    """As they race: whichever order the registry sees the claims in."""
    ningxia, sichuan = two_regions
    people = couple()
    line, _ = _settle_and_check(ningxia, sichuan, _register_both(ningxia, sichuan, people.husband, people.wife))
    print(f"\nsiblings racing: {line}")


def test_sibling_cases_each_holding_one_person_dissolve_through_pending_not_two_refusals(
        two_regions: tuple[Region, Region]) -> None:
    """The deadlock the race can make, made on purpose: each region's relay holds back its claim on
    the person the other case claims first, until the registry granted each case its first
    person. Each then waits for the other's unconfirmed hold; the lower-ranked gets PENDING, gives
    its person back and retries; the other registers; the retry is refused behind the confirmation."""
    ningxia, sichuan = two_regions
    people = couple()
    go = threading.Event()
    restore = [_hold_back(ningxia, people.wife, go), _hold_back(sichuan, people.husband, go)]
    try:
        cases = _register_both(ningxia, sichuan, people.husband, people.wife)
        for here, case, person in ((ningxia, cases[ningxia.code], "a"), (sichuan, cases[sichuan.code], "a")):
            here.wait_for_claim(f"{case.case_id}-{person}", "granted")
    finally:
        go.set()
        for undo in restore:
            undo()
    line, pending_seen = _settle_and_check(ningxia, sichuan, cases)
    print(f"\nsiblings each holding one: {line}")
    assert pending_seen, "the cycle was broken by a PENDING answer, not by a refusal"


def _hold_back(here: Region, citizen_id: str, go: threading.Event) -> Any:
    """Until `go`, `here`'s relay sends every event but its claim requests on `citizen_id`; those
    follow once `go` is set. Returns the call that puts the relay back as it was."""
    relay = here.host._relay
    assert relay is not None
    start = relay._start

    def held(event: Any) -> bool:
        return (event.type == registry_pb2.ClaimRequested.DESCRIPTOR.full_name
                and registry_pb2.ClaimRequested.FromString(event.payload).citizen_id == citizen_id)

    def selective(batch: Any) -> Any:
        events = batch.events
        if go.is_set() or not any(held(e) for e in events):
            return start(batch)
        keep = [i for i, e in enumerate(events) if not held(e)]
        later = [i for i, e in enumerate(events) if held(e)]

        def pick(indexes: list[int]) -> Any:
            part = type(batch)(events=[events[i] for i in indexes])
            part.messages = None if batch.messages is None else [batch.messages[i] for i in indexes]
            return part

        def send_later() -> None:
            go.wait(timeout=120)
            start(pick(later))()

        threading.Thread(target=send_later, daemon=True).start()
        return start(pick(keep)) if keep else (lambda: None)

    relay._start = selective  # type: ignore[method-assign]

    def undo() -> None:
        relay._start = start  # type: ignore[method-assign]
    return undo
