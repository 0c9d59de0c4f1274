"""The disability service across regions, on a real broker with the real registry worker: Ningxia
and Sichuan each run it behind a real gRPC server (one exchange for the module: starting the worker
is the slow part; every test has people of its own).

* One place per subsidy per person: a person granted the nursing subsidy in Ningxia who applies
  again in Sichuan is refused there naming the Ningxia case, and the living subsidy goes on.
* 异地代收代办: a Yinchuan window receives for a person whose 户籍 is in Guangyuan, forwards it;
  Sichuan reviews, decides and pays; the result comes back and the window informs the applicant —
  each limit a deadline on its side."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.events import Actor
from services.common.handoff import list_handoffs
from tests.integration.disability.exchange import Region, region, registry_worker
from tests.unit.disability.people import citizen
from tongban.disability.v1 import disability_service_pb2 as api

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

START = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)  # Monday 10:00 in China
YINCHUAN = Actor("clerk", "w-1", "640104-DPO-01", "640000", "window")
GUANGYUAN = Actor("clerk", "w-2", "510802-DPO-01", "510000", "window")


@pytest.fixture(scope="module")
def nation(kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Region, Region]]:
    prefix = f"t.disability-registry.{uuid.uuid4().hex[:10]}"
    data = tmp_path_factory.mktemp("nation")
    with registry_worker(kafka_broker.bootstrap, prefix, data / "registry"), \
            region("640000", kafka_broker.bootstrap, prefix, data, START) as ningxia, \
            region("510000", kafka_broker.bootstrap, prefix, data, START) as sichuan:
        yield ningxia, sichuan


def _apply(who: str, hukou: str, *, living: bool, nursing: bool) -> api.ReceiveApplicationRequest:
    return api.ReceiveApplicationRequest(
        applicant=api.ApplicantInput(citizen_id=who, name="马小红", hukou_region=hukou),
        certificate_number=f"{who}41", certificate_valid_until={"year": 2030, "month": 6, "day": 30},
        household="dibao", bank_account="6222021234567890123", living=living, nursing=nursing,
        circumstances=api.CircumstancesInput(long_term_care_months=12))


def test_a_second_application_elsewhere_is_refused_naming_the_holder_one_place_only(
        nation: tuple[Region, Region]) -> None:
    ningxia, sichuan = nation
    who = citizen("640104")
    first = ningxia.call("ReceiveApplication", _apply(who, "640104", living=False, nursing=True), YINCHUAN).case
    ningxia.until(first.case_id, YINCHUAN, lambda c: "nursing" in c.registry_held, "the nursing grant in Ningxia")
    # Moved: the 户籍 is now in Guangyuan, and the person applies there for both subsidies.
    second = sichuan.call("ReceiveApplication", _apply(who, "510802", living=True, nursing=True), GUANGYUAN).case
    refused = sichuan.until(second.case_id, GUANGYUAN, lambda c: c.refusals, "the registry's denial in Sichuan")
    assert len(refused.refusals) == 1 and refused.refusals[0].startswith("nursing: OnePlacePerSubsidy")
    assert first.case_id in refused.refusals[0] and "640000" in refused.refusals[0], "the holder is named"
    assert refused.state == "under_review", "the living subsidy, held nowhere, goes on"
    for step, actor in (("CompleteTownshipReview", GUANGYUAN), ("ConfirmCertificate", GUANGYUAN)):
        sichuan.call(step, getattr(api, f"{step}Request")(case_id=second.case_id), actor)
    sichuan.until(second.case_id, GUANGYUAN, lambda c: c.registry_held == ["living"], "the living grant")
    case = sichuan.call("ApproveApplication", api.ApproveApplicationRequest(case_id=second.case_id,
                                                                            household="dibao"), GUANGYUAN).case
    assert [e.subsidy for e in case.entitlements] == ["living"]


GUANGYUAN_CDPF = Actor("clerk", "c-2", "510802-CDPF", "510000", "cdpf")
GUANGYUAN_COUNTY = Actor("clerk", "m-2", "510802-MZJ", "510000", "approver")


def test_applied_in_yinchuan_for_a_guangyuan_hukou_forwarded_decided_in_sichuan_and_informed_跨省通办(
        nation: tuple[Region, Region]) -> None:
    ningxia, sichuan = nation
    who = citizen("510802")
    received = ningxia.call("ReceiveApplication", _apply(who, "510802", living=True, nursing=True), YINCHUAN).case
    assert (received.state, received.stage) == ("forwarding", "forwarding")
    assert (received.stage_due_on.month, received.stage_due_on.day) == (3, 12), "3 working days after Monday"
    case_id = received.case_id
    forwarded = ningxia.call("ForwardApplication", api.ForwardApplicationRequest(case_id=case_id), YINCHUAN).case
    assert (forwarded.forwarded_to, forwarded.stage) == ("510000", "")

    here = sichuan.until(case_id, GUANGYUAN, lambda c: c.stage == "township_review", "the case opened in Sichuan")
    assert (here.received_from, here.office_code, here.state) == ("640000", "510802", "under_review")
    work = sichuan.call("ListWork", api.ListWorkRequest(office_code="510802"), GUANGYUAN).items
    assert case_id in [i.case_id for i in work], "on the 户籍 county's work queue"
    sichuan.call("CompleteTownshipReview", api.CompleteTownshipReviewRequest(case_id=case_id), GUANGYUAN)
    sichuan.call("ConfirmCertificate", api.ConfirmCertificateRequest(case_id=case_id), GUANGYUAN_CDPF)
    sichuan.until(case_id, GUANGYUAN, lambda c: sorted(c.registry_held) == ["living", "nursing"], "both grants")
    decided = sichuan.call("ApproveApplication", api.ApproveApplicationRequest(case_id=case_id, household="dibao"),
                           GUANGYUAN_COUNTY).case
    assert [(e.subsidy, e.start_month) for e in decided.entitlements] == [("living", "2026-03"),
                                                                          ("nursing", "2026-03")], "Sichuan pays"

    answered = ningxia.until(case_id, YINCHUAN, lambda c: c.stage == "informing", "the result back in Yinchuan")
    assert answered.state == "approved" and answered.hukou_region_result.startswith("approved by region 510000")
    assert list(answered.entitlements) == [], "the window pays nothing: the 户籍 region does"
    informed = ningxia.call("InformApplicant", api.InformApplicantRequest(case_id=case_id, note="电话告知"),
                            YINCHUAN).case
    assert informed.stage == "" and informed.informed_on.year == 2026
    store = ningxia.host.store
    assert store is not None
    [handoff] = [h for h in list_handoffs(store) if h.case_id == case_id]
    assert handoff.state.value == "answered", "both sides recorded their part"
