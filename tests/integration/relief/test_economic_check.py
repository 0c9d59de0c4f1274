"""多地联办 (民发〔2021〕57号: the 户籍 place assists with the family economic check), across two regions
over the broker: a household applying in Yinchuan (Ningxia) has a member whose 户籍 is in Baoji
(Shaanxi); starting the investigation sends a recorded hand-off to 610000, which takes it on, and a
Shaanxi clerk answers with its findings; they are recorded in the Ningxia case, and the township's
opinion waits for them. A check not answered in time is overdue on both sides."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import grpc
import pytest

from services.common.clock import CHINA
from services.common.grpc_context import error_details
from services.common.handoff import Direction, list_overdue
from services.relief.domain.dibao_names import check_handoff_id
from tests.integration.relief.exchange import Region, region
from tests.support import wait_until
from tests.unit.relief.people import ACCOUNT, BAOJI, NINGXIA, SHAANXI, XINGQING, citizen, clerk
from tongban.relief.v1 import relief_service_pb2 as api

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

START = datetime(2026, 3, 2, 9, tzinfo=CHINA).astimezone(UTC)  # a Monday
YINCHUAN = clerk()
BAOJI_CLERK = clerk("610302-MZ-01", SHAANXI)


@pytest.fixture(scope="module")
def regions(kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Region, Region]]:
    prefix = f"t.relief-check.{uuid.uuid4().hex[:10]}"
    data = tmp_path_factory.mktemp("relief-check")
    with region(NINGXIA, kafka_broker.bootstrap, prefix, data, START) as ningxia, \
            region(SHAANXI, kafka_broker.bootstrap, prefix, data, START) as shaanxi:
        yield ningxia, shaanxi


def _investigating(ningxia: Region) -> tuple[str, str]:
    """A household in Yinchuan with a son whose 户籍 is in Baoji; the investigation started."""
    mother, son = citizen(date(1958, 1, 1)), citizen(date(1990, 1, 1), address=BAOJI)
    members = [api.MemberInput(citizen_id=mother, name="王芳", relation="self", hukou_region=XINGQING),
               api.MemberInput(citizen_id=son, name="王强", relation="child", hukou_region=BAOJI)]
    applied = api.ApplyForDibaoRequest(applicant_citizen_id=mother, members=members, area="urban",
                                       bank_account=ACCOUNT)
    case_id = ningxia.call("ApplyForDibao", applied, YINCHUAN).case_id
    ningxia.call("AcceptDibao", api.AcceptDibaoRequest(case_id=case_id), YINCHUAN)
    ningxia.call("StartInvestigation", api.StartInvestigationRequest(case_id=case_id), YINCHUAN)
    ningxia.call("RecordHomeVisit", api.RecordHomeVisitRequest(case_id=case_id, first_visitor="李明",
                                                               second_visitor="张华"), YINCHUAN)
    return case_id, son


def _history(here: Region, case_id: str) -> list[tuple[str, dict[str, Any]]]:
    case = here.call("GetCase", api.GetCaseRequest(case_id=case_id), YINCHUAN).case
    return [(h.type.rsplit(".", 1)[-1], json.loads(h.payload_json)) for h in case.history]


def test_the_hukou_region_answers_the_check_and_the_answer_is_recorded_in_the_case(
        regions: tuple[Region, Region]) -> None:
    ningxia, shaanxi = regions
    case_id, son = _investigating(ningxia)
    handoff_id = check_handoff_id(case_id, son)
    [(_, asked)] = [(t, p) for t, p in _history(ningxia, case_id) if t == "EconomicCheckRequested"]
    assert (asked["to_region"], asked["citizen_id"]) == (SHAANXI, son)

    opinion = api.GiveTownshipOpinionRequest(case_id=case_id, recommends=True)
    with pytest.raises(grpc.RpcError) as early:
        ningxia.call("GiveTownshipOpinion", opinion, YINCHUAN)
    assert error_details(early.value).rule == "EconomicChecksAnswered"

    def taken_on() -> bool:
        try:
            shaanxi.call("AnswerEconomicCheck", api.AnswerEconomicCheckRequest(
                handoff_id=handoff_id, monthly_income_fen=150_000, vehicles=1, note="社保缴费记录显示在职",
                request_id=f"answer-{handoff_id}"), BAOJI_CLERK)
        except grpc.RpcError as refused:
            if refused.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION):
                return False  # the request has not arrived, or is not taken on yet
            raise
        return True
    wait_until(taken_on, timeout=60, what=f"Shaanxi to take on and answer {handoff_id}")

    def recorded() -> dict[str, Any] | None:
        return next((p for t, p in _history(ningxia, case_id) if t == "EconomicCheckAnswered"), None)
    answer = wait_until(recorded, timeout=60, what="the answer recorded in the Ningxia case")
    assert (answer["from_region"], answer["citizen_id"], answer["monthly_income_fen"], answer["vehicles"]) == \
        (SHAANXI, son, "150000", "1")
    assert ningxia.call("GiveTownshipOpinion", opinion, YINCHUAN).state == "reviewed"


def test_a_check_not_answered_in_time_is_overdue_on_both_sides(regions: tuple[Region, Region]) -> None:
    ningxia, shaanxi = regions
    case_id, son = _investigating(ningxia)
    handoff_id = check_handoff_id(case_id, son)
    for here in (ningxia, shaanxi):
        here.clock.advance(timedelta(days=11))  # answer within 10 days

    def overdue(here: Region, direction: Direction) -> bool:
        assert here.host.store is not None
        return handoff_id in {h.handoff_id for h in list_overdue(here.host.store, direction=direction)}
    wait_until(lambda: overdue(ningxia, Direction.OUTGOING), timeout=30, what="overdue at the asking region")
    wait_until(lambda: overdue(shaanxi, Direction.INCOMING), timeout=30, what="overdue at the 户籍 region")
