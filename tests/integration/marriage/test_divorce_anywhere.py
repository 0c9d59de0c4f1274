"""Divorce at any office in the country (国务院令第804号, in force 2025-05-10) on a real broker with the
real registry worker: a marriage Ningxia (640000) records is divorced at an office in Sichuan
(510000) through a recorded hand-off (多地联办), every step through a real gRPC server; the
national record then answers "divorced" in Sichuan (issue 12, items 3 and 4).

Runs on the session's broker (tansu by default; TONGBAN_TEST_BROKER=apache for Apache Kafka)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.common.clock import CHINA
from services.marriage.domain.values import start_of_china_day
from tests.integration.marriage.exchange import Region, region, register_request, registry_worker
from tests.support import wait_until
from tests.unit.marriage.people import GUANGYUAN_OFFICE, NINGXIA, SICHUAN, YINCHUAN_OFFICE, clerk, couple
from tongban.marriage.v1 import events_pb2
from tongban.marriage.v1 import marriage_service_pb2 as api

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

START = datetime(2026, 3, 2, 9, 0, tzinfo=CHINA).astimezone(UTC)  # a Monday
YINCHUAN = clerk(YINCHUAN_OFFICE, NINGXIA)
GUANGYUAN = clerk(GUANGYUAN_OFFICE, SICHUAN)
AGREEMENT = events_pb2.DivorceAgreement(
    signed_by_both=True, intention="双方自愿离婚", children_arrangement="无子女",
    property_arrangement="各自名下财产归各自所有", debt_arrangement="无共同债务")


@pytest.fixture(scope="module")
def two_regions(kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Region, Region]]:
    prefix = f"t.divorce-anywhere.{uuid.uuid4().hex[:10]}"
    data = tmp_path_factory.mktemp("divorce-anywhere")
    with registry_worker(kafka_broker.bootstrap, prefix, data / "registry"), \
            region(NINGXIA, kafka_broker.bootstrap, prefix, data, START) as ningxia, \
            region(SICHUAN, kafka_broker.bootstrap, prefix, data, START) as sichuan:
        yield ningxia, sichuan


def _case(at: Region, case_id: str, actor: Any) -> api.Case:
    return at.call("GetCase", api.GetCaseRequest(case_id=case_id), actor).case


def _until(at: Region, case_id: str, actor: Any, what: str, ready: Any) -> api.Case:
    latest: list[api.Case] = []

    def check() -> bool:
        latest[:] = [_case(at, case_id, actor)]
        return bool(ready(latest[0]))

    wait_until(check, timeout=60, what=what)
    return latest[0]


def _spouses(husband: str, wife: str, names: tuple[str, str] = ("男方", "女方")) -> dict[str, events_pb2.Spouse]:
    return {"spouse_a": events_pb2.Spouse(citizen_id=husband, name=names[0]),
            "spouse_b": events_pb2.Spouse(citizen_id=wife, name=names[1])}


def _status(at: Region, citizen_id: str) -> events_pb2.MaritalStatusQueried:
    case = at.call("QueryMaritalStatus", api.QueryMaritalStatusRequest(
        citizen_id=citizen_id, reason="婚姻登记审查", requesting_body="广元市民政局"), GUANGYUAN).case
    return case.status_query.answer


def test_a_divorce_received_in_sichuan_is_dissolved_by_ningxia_and_shows_divorced_in_sichuan_国务院令804(
        two_regions: tuple[Region, Region]) -> None:
    ningxia, sichuan = two_regions
    people = couple()
    married = ningxia.settled(ningxia.call("RegisterMarriage", register_request(people.husband, people.wife),
                                           YINCHUAN).case, YINCHUAN)
    assert married.state == "registered"
    ningxia.wait_for_claim(f"{married.case_id}-b", "confirmed", other=sichuan)
    before = _status(sichuan, people.wife)
    assert (before.status, before.source_region) == ("married", NINGXIA)

    received = sichuan.call("ReceiveDivorce", api.ReceiveDivorceRequest(
        marriage_case_id=married.case_id, agreement=AGREEMENT, both_appear_in_person=True,
        **_spouses(people.husband, people.wife)), GUANGYUAN).case
    assert received.case_id.startswith("divorce-510000-") and received.state == "cooling_off"
    assert received.divorce.record_region == NINGXIA
    confirmed = _until(sichuan, received.case_id, GUANGYUAN, "Ningxia to confirm the record",
                       lambda c: c.divorce.record_step == "record_confirmed")
    opened = _case(ningxia, married.case_id, YINCHUAN)
    assert opened.marriage.open_divorce_case_id == received.case_id

    last_day = confirmed.divorce.cooling_off_last_day  # counted and fired at the receiving office
    sichuan.clock.set(start_of_china_day(date(last_day.year, last_day.month, last_day.day) + timedelta(days=1)))
    _until(sichuan, received.case_id, GUANGYUAN, "the cooling-off to end in Sichuan",
           lambda c: c.state == "awaiting_certificate_request")
    sichuan.call("RequestDivorceCertificate", api.RequestDivorceCertificateRequest(
        divorce_case_id=received.case_id, both_appear_in_person=True), GUANGYUAN)
    asked = sichuan.call("RegisterDivorce", api.RegisterDivorceRequest(divorce_case_id=received.case_id),
                         GUANGYUAN).case
    assert asked.state == "awaiting_dissolution"
    registered = _until(sichuan, received.case_id, GUANGYUAN, "Ningxia to dissolve the marriage",
                        lambda c: c.state == "registered")
    assert registered.divorce.certificate_number.startswith(f"L{GUANGYUAN_OFFICE}-2026-")
    dissolved = _case(ningxia, married.case_id, YINCHUAN)
    assert dissolved.state == "dissolved_by_divorce"
    assert dissolved.marriage.dissolved_by_divorce_case_id == received.case_id

    ningxia.wait_for_claim(f"{married.case_id}-b", "released", other=sichuan)
    after = _status(sichuan, people.wife)
    assert (after.status, after.source_region) == ("divorced", NINGXIA)
    assert (after.since.year, after.since.month, after.since.day) == (
        registered.divorce.registered_on.year, registered.divorce.registered_on.month,
        registered.divorce.registered_on.day)


def test_a_divorce_naming_the_spouses_otherwise_than_the_record_is_refused_by_the_record_region_民法典_1076(
        two_regions: tuple[Region, Region]) -> None:
    ningxia, sichuan = two_regions
    people = couple()
    married = ningxia.settled(ningxia.call("RegisterMarriage", register_request(people.husband, people.wife),
                                           YINCHUAN).case, YINCHUAN)
    received = sichuan.call("ReceiveDivorce", api.ReceiveDivorceRequest(
        marriage_case_id=married.case_id, agreement=AGREEMENT, both_appear_in_person=True,
        **_spouses(people.husband, people.wife, names=("女方", "男方"))), GUANGYUAN).case
    refused = _until(sichuan, received.case_id, GUANGYUAN, "Ningxia's refusal", lambda c: c.state == "refused")
    assert "SpousesNamedAsOnRecord" in refused.divorce.closing_reason
    assert _case(ningxia, married.case_id, YINCHUAN).marriage.open_divorce_case_id == ""
