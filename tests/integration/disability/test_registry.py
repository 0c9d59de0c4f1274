"""One place per subsidy per person, on a real broker with the real registry worker: Ningxia and
Sichuan each run the disability service behind a real gRPC server; a person granted the nursing
subsidy in Ningxia who applies again in Sichuan is refused there naming the Ningxia case
(国发〔2015〕52号: one place only), and the living subsidy, held nowhere, goes on."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from services.common.events import Actor
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
