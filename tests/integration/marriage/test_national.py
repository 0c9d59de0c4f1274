"""Marriage registration across regions on a real broker with the real registry worker: Ningxia
(640000), Sichuan (510000) and Shaanxi (610000) each run the marriage service; every case is
driven through a real gRPC server and channel.

One exchange (worker + three regions) serves the whole module: starting the worker and joining its
groups is the slow part, and every test uses people of its own, so the tests cannot see each other's
claims."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.clock import CHINA
from services.common.grpc_context import error_details
from services.common.telemetry import memory_tracing
from services.marriage.domain.values import start_of_china_day
from tests.integration.marriage.exchange import Region, region, register_request, registry_worker
from tests.support import wait_until
from tests.unit.marriage.people import (
    GUANGYUAN_OFFICE,
    NINGXIA,
    SICHUAN,
    YINCHUAN_OFFICE,
    YINCHUAN_OFFICE_2,
    clerk,
    couple,
    man,
    woman,
)
from tongban.marriage.v1 import events_pb2
from tongban.marriage.v1 import marriage_service_pb2 as api

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

START = datetime(2026, 3, 2, 9, 0, tzinfo=CHINA).astimezone(UTC)  # a Monday
YINCHUAN = clerk(YINCHUAN_OFFICE, NINGXIA)
YINCHUAN_2 = clerk(YINCHUAN_OFFICE_2, NINGXIA)
GUANGYUAN = clerk(GUANGYUAN_OFFICE, SICHUAN)
SHAANXI = "610000"
XIAN_OFFICE = "610102-MRO-01"  # 新城区婚姻登记处
XIAN = clerk(XIAN_OFFICE, SHAANXI)
AGREEMENT = events_pb2.DivorceAgreement(
    signed_by_both=True, intention="双方自愿离婚", children_arrangement="无子女",
    property_arrangement="各自名下财产归各自所有", debt_arrangement="无共同债务")


@pytest.fixture(scope="module")
def nation(kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Region, Region, Region]]:
    memory_tracing()  # spans get real trace ids, so the journey's trace can be followed
    prefix = f"t.marriage-national.{uuid.uuid4().hex[:10]}"
    data = tmp_path_factory.mktemp("nation")
    with registry_worker(kafka_broker.bootstrap, prefix, data / "registry"), \
            region(NINGXIA, kafka_broker.bootstrap, prefix, data, START) as ningxia, \
            region(SICHUAN, kafka_broker.bootstrap, prefix, data, START) as sichuan, \
            region(SHAANXI, kafka_broker.bootstrap, prefix, data, START) as shaanxi:
        yield ningxia, sichuan, shaanxi


def _refusal(call: Any) -> Any:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return error_details(caught.value)


def _claim(case: api.Case, party: str) -> str:
    return f"{case.case_id}-{party}"


def test_the_same_person_registering_in_both_regions_at_once_gets_exactly_one_marriage_民法典_1042(
        nation: tuple[Region, Region, Region]) -> None:
    ningxia, sichuan, _ = nation
    groom, first_bride, second_bride = man(), woman(), woman(address="510802")
    with ThreadPoolExecutor(max_workers=2) as pool:
        at_ningxia = pool.submit(ningxia.call, "RegisterMarriage", register_request(groom, first_bride), YINCHUAN)
        at_sichuan = pool.submit(sichuan.call, "RegisterMarriage", register_request(groom, second_bride), GUANGYUAN)
        cases = {NINGXIA: ningxia.settled(at_ningxia.result().case, YINCHUAN),
                 SICHUAN: sichuan.settled(at_sichuan.result().case, GUANGYUAN)}
    assert sorted(c.state for c in cases.values()) == ["refused", "registered"], "exactly one marriage"
    [(won, registered)] = [(code, c) for code, c in cases.items() if c.state == "registered"]
    [(lost, refused)] = [(code, c) for code, c in cases.items() if c.state == "refused"]
    assert registered.marriage.certificate_number.startswith("J")
    assert refused.marriage.refusal_rule == "NoExistingMarriage"
    assert refused.marriage.holder_region == won, "the refusal names where the person is held"
    loser = ningxia if lost == NINGXIA else sichuan
    winner = sichuan if loser is ningxia else ningxia
    # The refused case gives back the hold it got on the bride, so she is free to marry.
    loser.wait_for_claim(_claim(refused, "b"), "released")
    shown = loser.call("GetCase", api.GetCaseRequest(case_id=refused.case_id),
                       YINCHUAN if loser is ningxia else GUANGYUAN).case
    history = [h.type.rsplit(".", 1)[-1] for h in shown.history]
    assert history[0] == "MarriageApplicationReceived" and "MarriageRefused" in history
    # Both regions answer a status query from what they know: the winner from its own record, the
    # loser from the registry's view of the confirmed marriage elsewhere.
    winner.wait_for_claim(_claim(registered, "a"), "confirmed", other=loser)
    court = clerk(YINCHUAN_OFFICE if loser is ningxia else GUANGYUAN_OFFICE, lost, role="court")
    answer = loser.call("QueryMaritalStatus", api.QueryMaritalStatusRequest(
        citizen_id=groom, reason="重婚案件审理", requesting_body="人民法院"), court).case
    assert answer.status_query.answer.status == "married"
    assert answer.status_query.answer.source_region == won


def test_a_divorce_received_and_completed_in_one_region_frees_a_spouse_to_marry_in_the_other_民法典_1077_1078(
        nation: tuple[Region, Region, Region]) -> None:
    ningxia, sichuan, _ = nation
    people = couple()
    married = ningxia.settled(ningxia.call("RegisterMarriage", register_request(people.husband, people.wife),
                                           YINCHUAN).case, YINCHUAN)
    assert married.state == "registered"
    assert ningxia.host.store is not None
    journey = ningxia.host.store.read_stream(married.case_id)
    assert len({e.trace.traceparent.split("-")[1] for e in journey}) == 1, \
        "the registration is one trace, from the window through the registry and back (invariant 8)"
    spouses = {"spouse_a": events_pb2.Spouse(citizen_id=people.husband, name="男方"),
               "spouse_b": events_pb2.Spouse(citizen_id=people.wife, name="女方")}
    divorce = ningxia.call("ReceiveDivorce", api.ReceiveDivorceRequest(
        marriage_case_id=married.case_id, agreement=AGREEMENT, both_appear_in_person=True, **spouses), YINCHUAN).case
    assert divorce.state == "cooling_off"
    too_early = _refusal(lambda: ningxia.call("RequestDivorceCertificate", api.RequestDivorceCertificateRequest(
        divorce_case_id=divorce.case_id, both_appear_in_person=True), YINCHUAN))
    assert (too_early.code, too_early.rule) == (grpc.StatusCode.FAILED_PRECONDITION, "CoolingOffPeriod")
    # Still married: the bride cannot marry in Sichuan during the cooling-off.
    blocked = sichuan.call("RegisterMarriage", register_request(man(address="510802"), people.wife), GUANGYUAN).case
    assert (blocked.state, blocked.marriage.holder_region) == ("refused", NINGXIA)

    # To the end the case reports (a holiday rolls it), never a fixed count of days; the scheduler
    # thread then fires the end of the cooling-off.
    last_day = divorce.divorce.cooling_off_last_day
    ningxia.clock.set(start_of_china_day(date(last_day.year, last_day.month, last_day.day) + timedelta(days=1)))
    by_id = api.GetCaseRequest(case_id=divorce.case_id)
    wait_until(lambda: ningxia.call("GetCase", by_id, YINCHUAN).case.state == "awaiting_certificate_request",
               what="the cooling-off to end")
    queue = ningxia.call("ListCases", api.ListCasesRequest(queue="awaiting_certificate_request"), YINCHUAN)
    assert divorce.case_id in [c.case_id for c in queue.cases]
    ningxia.call("RequestDivorceCertificate", api.RequestDivorceCertificateRequest(
        divorce_case_id=divorce.case_id, both_appear_in_person=True), YINCHUAN)
    registered = ningxia.call("RegisterDivorce", api.RegisterDivorceRequest(divorce_case_id=divorce.case_id),
                              YINCHUAN).case
    assert registered.state == "registered" and registered.divorce.certificate_number.startswith("L")
    marriage = ningxia.call("GetCase", api.GetCaseRequest(case_id=married.case_id), YINCHUAN).case
    assert marriage.state == "dissolved_by_divorce"

    ningxia.wait_for_claim(_claim(married, "b"), "released", other=sichuan)
    remarried = sichuan.call("RegisterMarriage", register_request(man(address="510802"), people.wife), GUANGYUAN).case
    assert remarried.state == "registered", remarried.marriage.refusal_reason

    # 补领 of the (dissolved) marriage's certificate asked in Sichuan: Ningxia's archive says the
    # status changed, so Sichuan issues a registration record certificate (国务院令第804号).
    asked = sichuan.call("ReissueCertificate", api.ReissueCertificateRequest(
        record_case_id=married.case_id, applicant_citizen_id=people.husband, reason="遗失", wait_seconds=30),
        GUANGYUAN).case
    record = sichuan.settled_reissue(asked, GUANGYUAN)
    assert record.reissue.issued.issued_document == "registration_record_certificate"
    assert "dissolved by divorce" in record.reissue.issued.status_change
    assert record.reissue.issued.certificate_number.startswith(f"JLZ{GUANGYUAN_OFFICE}-")


def test_a_person_registering_a_moment_after_the_divorce_before_its_release_reached_the_registry_is_not_refused(
        nation: tuple[Region, Region, Region]) -> None:
    """Architecture invariant 9 (民法典 第1080条: registered, the divorce ends the marriage): Ningxia's
    release is held back on its way to the broker while the ex-wife registers in Sichuan, so her
    claim meets the old hold first. It waits for the release — shown as awaiting the registry, not
    refused — and is granted when the release arrives."""
    ningxia, sichuan, _ = nation
    people = couple()
    married = ningxia.settled(ningxia.call("RegisterMarriage", register_request(people.husband, people.wife),
                                           YINCHUAN).case, YINCHUAN)
    ningxia.wait_for_claim(_claim(married, "b"), "confirmed")
    spouses = {"spouse_a": events_pb2.Spouse(citizen_id=people.husband, name="男方"),
               "spouse_b": events_pb2.Spouse(citizen_id=people.wife, name="女方")}
    divorce = ningxia.call("ReceiveDivorce", api.ReceiveDivorceRequest(
        marriage_case_id=married.case_id, agreement=AGREEMENT, both_appear_in_person=True, **spouses), YINCHUAN).case
    last_day = divorce.divorce.cooling_off_last_day
    ningxia.clock.set(start_of_china_day(date(last_day.year, last_day.month, last_day.day) + timedelta(days=1)))
    wait_until(lambda: ningxia.call("GetCase", api.GetCaseRequest(case_id=divorce.case_id), YINCHUAN).case.state
               == "awaiting_certificate_request", what="the cooling-off to end")
    ningxia.call("RequestDivorceCertificate", api.RequestDivorceCertificateRequest(
        divorce_case_id=divorce.case_id, both_appear_in_person=True), YINCHUAN)

    # The network between Ningxia's relay and the broker is slow for a moment: whatever the relay
    # sends from now on waits until `arrives` (a send already under way included, so the gate
    # holds whatever the relay thread is doing when it closes).
    relay = ningxia.host._relay
    assert relay is not None
    arrives = threading.Event()
    start = relay._start

    def slow_network(batch: Any) -> Any:
        arrives.wait(timeout=60)
        return start(batch)

    relay._start = slow_network  # type: ignore[method-assign]
    try:
        ningxia.call("RegisterDivorce", api.RegisterDivorceRequest(divorce_case_id=divorce.case_id), YINCHUAN)
        early = sichuan.call("RegisterMarriage", register_request(man(address="510802"), people.wife, wait=1.5),
                             GUANGYUAN).case
        assert early.state == "awaiting_registry", "the claim waits for the release in flight; not refused"
    finally:
        arrives.set()
        relay._start = start  # type: ignore[method-assign]
    remarried = sichuan.settled(early, GUANGYUAN)
    assert remarried.state == "registered", remarried.marriage.refusal_reason
    ningxia.wait_for_claim(_claim(married, "b"), "released", other=sichuan)


def test_reissue_withdrawal_and_a_court_judgment_through_grpc(nation: tuple[Region, Region, Region]) -> None:
    ningxia, _, _ = nation
    people = couple()
    married = ningxia.call("RegisterMarriage", register_request(people.husband, people.wife), YINCHUAN).case
    assert married.state == "registered"
    reissue = api.ReissueCertificateRequest(record_case_id=married.case_id, applicant_citizen_id=people.wife,
                                            reason="遗失")
    first = ningxia.call("ReissueCertificate", reissue, YINCHUAN_2).case  # at any office
    assert first.reissue.issued.issued_document == "reissued_marriage_certificate"
    assert first.reissue.issued.certificate_number.startswith(f"BJ{YINCHUAN_OFFICE_2}-")

    spouses = {"spouse_a": events_pb2.Spouse(citizen_id=people.husband, name="男方"),
               "spouse_b": events_pb2.Spouse(citizen_id=people.wife, name="女方")}
    divorce = ningxia.call("ReceiveDivorce", api.ReceiveDivorceRequest(
        marriage_case_id=married.case_id, agreement=AGREEMENT, both_appear_in_person=True, **spouses), YINCHUAN).case
    withdraw = api.WithdrawDivorceRequest(divorce_case_id=divorce.case_id, citizen_id=people.husband, reason="和好")
    elsewhere = _refusal(lambda: ningxia.call("WithdrawDivorce", withdraw, YINCHUAN_2))
    assert elsewhere.rule == "AtReceivingOffice"
    assert ningxia.call("WithdrawDivorce", withdraw, YINCHUAN).case.state == "withdrawn"

    judgment = api.RecordCourtJudgmentRequest(
        marriage_case_id=married.case_id, judgment=api.JUDGMENT_VOID, court="银川市兴庆区人民法院",
        # Dated the day of the registration: a judgment cannot predate the marriage it judges.
        judgment_number="(2026)宁0104民初88号", judgment_date=married.marriage.registered_on, ground="重婚")
    voided = ningxia.call("RecordCourtJudgment", judgment, YINCHUAN).case
    assert voided.state == "void" and voided.marriage.judgment.judgment_number == "(2026)宁0104民初88号"
    assert voided.history[-1].actor.clerk_id == YINCHUAN.clerk_id
    ningxia.wait_for_claim(_claim(married, "a"), "released")
    second = ningxia.call("ReissueCertificate", reissue, YINCHUAN).case
    assert second.reissue.issued.issued_document == "registration_record_certificate"
    assert "void" in second.reissue.issued.status_change


def test_a_certificate_is_reissued_at_an_office_of_another_region_from_the_holding_archive_国务院令804(
        nation: tuple[Region, Region, Region]) -> None:
    ningxia, _, shaanxi = nation
    people = couple()
    married = ningxia.settled(ningxia.call("RegisterMarriage", register_request(people.husband, people.wife),
                                           YINCHUAN).case, YINCHUAN)
    assert married.state == "registered"
    asked = shaanxi.call("ReissueCertificate", api.ReissueCertificateRequest(
        record_case_id=married.case_id, applicant_citizen_id=people.wife, reason="遗失", wait_seconds=30), XIAN).case
    assert asked.reissue.requested.record_region == NINGXIA
    issued = shaanxi.settled_reissue(asked, XIAN)
    assert (issued.state, issued.region, issued.office_code) == ("issued", SHAANXI, XIAN_OFFICE)
    assert issued.reissue.issued.issued_document == "reissued_marriage_certificate"
    assert issued.reissue.issued.certificate_number.startswith(f"BJ{XIAN_OFFICE}-")
    assert issued.reissue.issued.original_certificate_number == married.marriage.certificate_number
    archive = issued.reissue.archive
    assert (archive.party_a_citizen_id, archive.party_b_citizen_id) == (people.husband, people.wife)
    assert archive.registered_on == married.marriage.registered_on

    unknown = shaanxi.call("ReissueCertificate", api.ReissueCertificateRequest(
        record_case_id="marriage-640000-0000000000000000", applicant_citizen_id=people.wife, reason="遗失"), XIAN).case
    refused = shaanxi.settled_reissue(unknown, XIAN)
    assert refused.state == "refused" and "marriage-640000-0000000000000000" in refused.reissue.refusal_reason


def test_bad_input_is_refused_unrecorded_and_a_refusal_to_register_is_recorded_with_its_reasons(
        nation: tuple[Region, Region, Region]) -> None:
    """Architecture invariant 7, through the real front door."""
    ningxia, _, _ = nation
    store = ningxia.host.store
    assert store is not None
    head = store.head()
    bad_id = man()[:-1] + "Y"
    invalid = _refusal(lambda: ningxia.call("RegisterMarriage", register_request(bad_id, woman()), YINCHUAN))
    assert invalid.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in invalid.field_violations] == ["party_a.citizen_id"]
    window = clerk(YINCHUAN_OFFICE, NINGXIA, role="window")
    nosy = _refusal(lambda: ningxia.call("QueryMaritalStatus", api.QueryMaritalStatusRequest(
        citizen_id=man(), reason="好奇", requesting_body="无"), window))
    assert (nosy.code, nosy.rule) == (grpc.StatusCode.PERMISSION_DENIED, "AuthorisedStatusQuery")
    missing = _refusal(lambda: ningxia.call("GetCase", api.GetCaseRequest(case_id="marriage-640000-none"), YINCHUAN))
    assert missing.code == grpc.StatusCode.NOT_FOUND
    foreign = _refusal(lambda: ningxia.call("RegisterMarriage", register_request(man(), woman()), GUANGYUAN))
    # Another region's clerk holds no token of this region's identity provider (invariant 8); the
    # ClerkOfThisRegion rule behind it stays, for any path that is not the front door.
    assert foreign.code == grpc.StatusCode.UNAUTHENTICATED and "unknown key id" in foreign.message
    assert store.head() == head, "nothing was appended"

    # 不予登记 is a decision, not bad input: the refused application is recorded with its reasons.
    too_young = man(born=date(2005, 1, 1))
    underage = ningxia.call("RegisterMarriage", register_request(too_young, woman()), YINCHUAN).case
    assert (underage.state, underage.marriage.refusal_rule) == ("refused", "MinimumMarriageAge")
    assert "未满22周岁" in underage.marriage.refusal_reason
    # Counted by the case's thread (invariant 2: whatever the refusal caused carries its correlation id),
    # not by the store's head: the module's stack is shared, and late answers to earlier tests' cases
    # may land in this store meanwhile (seen under load: head + 4).
    thread = store.read_stream(underage.case_id)[0].correlation_id
    caused = [(e.stream_id, e.type) for e in store.iter_log(after=head[0]) if e.correlation_id == thread]
    assert len(caused) == 2 and {stream for stream, _ in caused} == {underage.case_id}, \
        f"the application and its refusal, nothing else (no registry claim): {caused}"
    health = health_pb2_grpc.HealthStub(ningxia.channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert health.status == health_pb2.HealthCheckResponse.SERVING

