"""Two sibling cases of one couple (a second application opened at another office while the first
still waits), on a real broker with the real registry worker (architecture invariant 9, issue 11;
rule ARefusalRestsOnASettledHold): the cases claim the two persons in opposite orders, so each may
hold one person while waiting for the other. Neither is refused while the other is unsettled: one
is registered, and the other is refused only once the registry holds the first as confirmed,
naming it (民法典 第1042条). The regions' clocks are fake: a case answered PENDING waits for its
retry deadline (invariant 6), which the test brings due by moving that region's clock on."""

from __future__ import annotations

import json
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


def _decided_at(viewer: Region, case_id: str, status: str, latest: bool) -> int | None:
    """When the registry decided `status` on a claim of `case_id`, as `viewer`'s registry view shows it."""
    store = viewer.host.store
    assert store is not None
    column = registry_entries.c.decided_at_us
    with store.engine.connect() as conn:
        return conn.execute(select(func.max(column) if latest else func.min(column))
                            .where(registry_entries.c.case_id == case_id, registry_entries.c.status == status)
                            ).scalar()


@pytest.mark.parametrize("round_", range(3))
def test_sibling_cases_of_one_couple_end_one_registered_and_the_other_refused_after_its_confirmation(
        two_regions: tuple[Region, Region], round_: int) -> None:
    ningxia, sichuan = two_regions
    people = couple()
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(ningxia.call, "RegisterMarriage", register_request(people.husband, people.wife, wait=0),
                            YINCHUAN)
        second = pool.submit(sichuan.call, "RegisterMarriage", register_request(people.wife, people.husband, wait=0),
                             GUANGYUAN)
        cases = {ningxia.code: first.result().case, sichuan.code: second.result().case}
    where = {ningxia.code: (ningxia, YINCHUAN), sichuan.code: (sichuan, GUANGYUAN)}
    pending_seen: list[str] = []

    def both_decided() -> bool:
        for code, case in list(cases.items()):
            here, actor = where[code]
            case = cases[code] = here.call("GetCase", api.GetCaseRequest(case_id=case.case_id), actor).case
            history = _history(case)
            if history.count("PartyClaimPending") and case.state == "awaiting_registry":
                pending_seen.append(code)
                # A PENDING answer schedules the retry as a deadline of the case: bring it due.
                if history.count("PartyClaimsRetried") < sum(
                        1 for h in case.history if h.type.endswith("PartyClaimPending")
                        and json.loads(h.payload_json).get("retryDeadlineId")):
                    here.clock.advance(timedelta(minutes=2))
        return all(c.state != "awaiting_registry" for c in cases.values())

    wait_until(both_decided, timeout=240, what="both sibling cases to be decided")
    assert sorted(c.state for c in cases.values()) == ["refused", "registered"], "no false refusal, no bigamy"
    [(won, registered)] = [(code, c) for code, c in cases.items() if c.state == "registered"]
    [(lost, refused)] = [(code, c) for code, c in cases.items() if c.state == "refused"]
    assert refused.marriage.refusal_rule == "NoExistingMarriage" and refused.marriage.holder_region == won
    refusal = next(h for h in refused.history if h.type.endswith("MarriageRefused"))
    assert json.loads(refusal.payload_json)["holderCaseId"] == registered.case_id, "it names its sibling"

    # Refused only once the registry held the sibling as confirmed: the denial came after the
    # confirmation, both by the registry's clock, as the losing region's registry view shows them.
    loser = where[lost][0]
    wait_until(lambda: _decided_at(loser, registered.case_id, "confirmed", latest=True) is not None,
               timeout=60, what="the sibling's confirmation in the losing region's view")
    confirmed_at = _decided_at(loser, registered.case_id, "confirmed", latest=True)
    denied_at = _decided_at(loser, refused.case_id, "denied", latest=False)
    assert confirmed_at is not None and denied_at is not None and denied_at >= confirmed_at
    print(f"\nsiblings round {round_}: {won} registered, {lost} refused; pending answers seen in "
          f"{sorted(set(pending_seen)) or 'neither'}; refused {(denied_at - confirmed_at) / 1e6:.1f}s "
          f"after the confirmation")
