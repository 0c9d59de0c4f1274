"""One 低保 place per person across regions (民发〔2021〕57号: 一处享受; architecture invariant 5),
decided by the real registry worker over the broker: a grandmother granted 低保 in Guangyuan
(Sichuan) is denied a place in a Yinchuan (Ningxia) household's application, which the county
then refuses naming the holder; once the Sichuan household tapers off, her place is released and
a new application in Yinchuan gets it. The per-member "entered 低保" / "left 低保" events the
disability service relies on are published on the relief events topic."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import grpc
import pytest
from kafka import KafkaConsumer, TopicPartition

from services.common.clock import CHINA
from services.common.events import RecordedEvent
from services.common.grpc_context import error_details
from services.relief.domain.dibao_names import check_handoff_id
from tests.integration.relief.exchange import SERVICE_TOPIC, Region, region, registry_worker
from tests.support import wait_until
from tests.unit.relief.people import ACCOUNT, LIZHOU, LIZHOU_TOWNSHIP, NINGXIA, SICHUAN, XINGQING, citizen, clerk
from tongban.relief.v1 import relief_service_pb2 as api

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

START = datetime(2026, 3, 2, 9, tzinfo=CHINA).astimezone(UTC)  # a Monday
YINCHUAN = clerk()
GUANGYUAN = clerk(LIZHOU_TOWNSHIP, SICHUAN)


@pytest.fixture(scope="module")
def nation(kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Region, Region, Any]]:
    prefix = f"t.relief-one-place.{uuid.uuid4().hex[:10]}"
    data = tmp_path_factory.mktemp("relief-nation")
    with registry_worker(kafka_broker.bootstrap, prefix, data / "registry"), \
            region(NINGXIA, kafka_broker.bootstrap, prefix, data, START) as ningxia, \
            region(SICHUAN, kafka_broker.bootstrap, prefix, data, START) as sichuan:
        yield ningxia, sichuan, lambda: _published(kafka_broker.bootstrap, f"{prefix}.{SERVICE_TOPIC}")


def _published(bootstrap: str, topic: str) -> list[RecordedEvent]:
    """Every relief event on the events topic, as the disability service's consumer sees them."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                             consumer_timeout_ms=1000)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        return [RecordedEvent.from_bytes(record.value) for record in consumer]
    finally:
        consumer.close()


def _member(person: str, relation: str, hukou: str, earned: int = 0) -> api.MemberInput:
    return api.MemberInput(citizen_id=person, name="成员", relation=relation, hukou_region=hukou,
                           earned_income_fen=earned)


def _answered(other: Region, answer: api.AnswerEconomicCheckRequest, other_clerk: Any) -> bool:
    try:
        other.call("AnswerEconomicCheck", answer, other_clerk)
    except grpc.RpcError as refused:
        if refused.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION):
            return False  # not arrived, or not taken on yet
        raise
    return True


def _opinion_given(here: Region, case_id: str, actor: Any) -> bool:
    try:
        here.call("GiveTownshipOpinion", api.GiveTownshipOpinionRequest(case_id=case_id, recommends=True), actor)
    except grpc.RpcError as refused:
        if error_details(refused).rule == "EconomicChecksAnswered":
            return False
        raise
    return True


def _places_answered(here: Region, case_id: str, actor: Any) -> Any:
    def answered() -> Any:
        case = here.call("GetCase", api.GetCaseRequest(case_id=case_id), actor).case
        types = [h.type.rsplit(".", 1)[-1] for h in case.history]
        members = types.count("HouseholdMemberDeclared")
        done = types.count("MemberPlaceGranted") + types.count("MemberPlaceDenied")
        return case if done == members else None
    return wait_until(answered, timeout=90, what=f"the registry's answers for {case_id}")


def _to_decision(here: Region, actor: Any, applicant: str, members: list[api.MemberInput],
                 checked_by: tuple[Region, Any] | None = None) -> str:
    """Through the procedure to the county's decision; `checked_by` (region, clerk) answers the family
    economic check of a member whose 户籍 is there (多地联办)."""
    case_id = here.call("ApplyForDibao", api.ApplyForDibaoRequest(applicant_citizen_id=applicant, members=members,
                                                                  area="urban", bank_account=ACCOUNT), actor).case_id
    here.call("AcceptDibao", api.AcceptDibaoRequest(case_id=case_id), actor)
    _places_answered(here, case_id, actor)
    here.call("StartInvestigation", api.StartInvestigationRequest(case_id=case_id), actor)
    for member in members if checked_by else ():
        if member.hukou_region[:2] != here.code[:2]:
            other, other_clerk = checked_by  # type: ignore[misc]
            answer = api.AnswerEconomicCheckRequest(handoff_id=check_handoff_id(case_id, member.citizen_id),
                                                    request_id=f"answer-{case_id}-{member.citizen_id}")
            wait_until(lambda a=answer, o=other, c=other_clerk: _answered(o, a, c),  # type: ignore[misc]
                       timeout=60, what="the check answered")
    here.call("RecordHomeVisit", api.RecordHomeVisitRequest(case_id=case_id, first_visitor="李明",
                                                            second_visitor="张华"), actor)
    wait_until(lambda: _opinion_given(here, case_id, actor), timeout=60, what="every check's answer recorded")
    here.call("StartPublicNotice", api.StartPublicNoticeRequest(case_id=case_id), actor)
    here.clock.advance(timedelta(days=8))  # the host's scheduler ends the notice
    wait_until(lambda: here.call("GetCase", api.GetCaseRequest(case_id=case_id), actor).case.summary.state
               == "awaiting_decision", timeout=30, what=f"the notice of {case_id} to end")
    return case_id


def test_a_person_enjoys_dibao_in_one_place_only(nation: tuple[Region, Region, Any]) -> None:
    ningxia, sichuan, published = nation
    grandmother = citizen(date(1950, 2, 1), address=LIZHOU)
    son = citizen(date(1975, 2, 1), address=LIZHOU)
    held = _to_decision(sichuan, GUANGYUAN, son, [_member(son, "self", LIZHOU, 10_000),
                                                 _member(grandmother, "parent", LIZHOU)])
    assert sichuan.call("DecideDibao", api.DecideDibaoRequest(case_id=held, approve=True), GUANGYUAN).state == \
        "granted"

    daughter = citizen(date(1980, 2, 1))
    elsewhere = _to_decision(ningxia, YINCHUAN, daughter, [_member(daughter, "self", XINGQING),
                                                           _member(grandmother, "parent", LIZHOU)],
                             checked_by=(sichuan, GUANGYUAN))
    refused = ningxia.call("DecideDibao", api.DecideDibaoRequest(case_id=elsewhere, approve=True), YINCHUAN)
    assert refused.state == "refused"
    case = ningxia.call("GetCase", api.GetCaseRequest(case_id=elsewhere), YINCHUAN).case
    [denied] = [h.payload_json for h in case.history if h.type.endswith("MemberPlaceDenied")]
    assert held in denied and grandmother in denied
    [refusal] = [h.payload_json for h in case.history if h.type.endswith("DibaoRefused")]
    assert "OnePlacePerMember" in refusal and held in refusal

    # The Sichuan household's income rises above the standard: paid through the 渐退期 (6 months),
    # then it leaves 低保 and only then are its members' places released.
    sichuan.call("RecordIncomeChange", api.RecordIncomeChangeRequest(case_id=held, citizen_id=son,
                                                                     earned_income_fen=200_000), GUANGYUAN)
    assert sichuan.call("GetCase", api.GetCaseRequest(case_id=held), GUANGYUAN).case.summary.state == "tapering"
    sichuan.clock.advance(timedelta(days=215))
    wait_until(lambda: sichuan.call("GetCase", api.GetCaseRequest(case_id=held), GUANGYUAN).case.summary.state
               == "ended", timeout=30, what="the 渐退期 to run out")
    def entered_and_left() -> bool:
        seen = {(e.type.rsplit(".", 1)[-1], e.message().citizen_id) for e in published()  # type: ignore[attr-defined]
                if e.type.endswith(("MemberEnteredDibao", "MemberLeftDibao")) and e.stream_id == held}
        return {("MemberEnteredDibao", grandmother), ("MemberLeftDibao", grandmother)} <= seen
    wait_until(entered_and_left, timeout=60, what="the events the disability service relies on, published")

    again = _to_decision(ningxia, YINCHUAN, daughter, [_member(daughter, "self", XINGQING),
                                                       _member(grandmother, "parent", LIZHOU)],
                         checked_by=(sichuan, GUANGYUAN))
    assert ningxia.call("DecideDibao", api.DecideDibaoRequest(case_id=again, approve=True), YINCHUAN).state == \
        "granted"
