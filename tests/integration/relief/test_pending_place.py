"""A 低保 place met behind a household not yet decided (architecture invariant 9, issue 11; rule
ARefusalRestsOnASettledHold), through the real registry worker over the broker: PENDING and a
retry, no refusal, until that household's county grants it. Its own regions, at a fresh clock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from tests.integration.relief.exchange import Region, region, registry_worker
from tests.integration.relief.test_one_place import GUANGYUAN, START, YINCHUAN, _member, _to_decision
from tests.support import wait_until
from tests.unit.relief.people import ACCOUNT, LIZHOU, NINGXIA, SICHUAN, XINGQING, citizen
from tongban.relief.v1 import relief_service_pb2 as api

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture(scope="module")
def nation(kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Region, Region, Any]]:
    prefix = f"t.relief-pending.{uuid.uuid4().hex[:10]}"
    data = tmp_path_factory.mktemp("relief-pending")
    with registry_worker(kafka_broker.bootstrap, prefix, data / "registry"), \
            region(NINGXIA, kafka_broker.bootstrap, prefix, data, START) as ningxia, \
            region(SICHUAN, kafka_broker.bootstrap, prefix, data, START) as sichuan:
        yield ningxia, sichuan, None


def test_a_place_held_by_a_household_not_yet_decided_is_pending_not_denied_until_that_household_is_granted(
        nation: tuple[Region, Region, Any]) -> None:
    """Architecture invariant 9 (issue 11; ARefusalRestsOnASettledHold): the grandmother's place is
    held by a Sichuan household still awaiting its county's decision — not settled, it may yet be
    refused. The Yinchuan application's claim on her is answered PENDING and retried (its deadline
    brought due by moving Ningxia's clock on), not denied; once Sichuan's county grants its household
    (her place confirmed), the retry is denied naming it (57号: one place only)."""
    ningxia, sichuan, _ = nation
    grandmother = citizen(date(1951, 3, 1), address=LIZHOU)
    son = citizen(date(1976, 3, 1), address=LIZHOU)
    held = _to_decision(sichuan, GUANGYUAN, son, [_member(son, "self", LIZHOU, 10_000),
                                                 _member(grandmother, "parent", LIZHOU)])
    daughter = citizen(date(1981, 3, 1))
    waiting = ningxia.call("ApplyForDibao", api.ApplyForDibaoRequest(
        applicant_citizen_id=daughter, members=[_member(daughter, "self", XINGQING),
                                                _member(grandmother, "parent", LIZHOU)],
        area="urban", bank_account=ACCOUNT), YINCHUAN).case_id
    ningxia.call("AcceptDibao", api.AcceptDibaoRequest(case_id=waiting), YINCHUAN)

    def history() -> list[Any]:
        return list(ningxia.call("GetCase", api.GetCaseRequest(case_id=waiting), YINCHUAN).case.history)

    def types() -> list[str]:
        return [h.type.rsplit(".", 1)[-1] for h in history()]

    wait_until(lambda: "MemberPlacePending" in types(), timeout=120, what="the registry's PENDING answer")
    assert "MemberPlaceDenied" not in types(), "no refusal behind a household not yet decided"
    assert sichuan.call("DecideDibao", api.DecideDibaoRequest(case_id=held, approve=True), GUANGYUAN).state == \
        "granted"

    def denied() -> bool:
        now = types()
        if "MemberPlaceDenied" in now:
            return True
        if now.count("MemberPlaceRetried") < now.count("MemberPlacePending"):
            ningxia.clock.advance(timedelta(minutes=2))  # bring the retry deadline due
        return False

    wait_until(denied, timeout=180, what="the retried claim denied behind the confirmed place")
    [refused] = [h.payload_json for h in history() if h.type.endswith("MemberPlaceDenied")]
    assert held in refused and grandmother in refused
    assert "-r2" in refused or "-r3" in refused, "denied on a retry, not on the first claim"
