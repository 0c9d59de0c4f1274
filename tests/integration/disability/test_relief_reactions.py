"""The disability service reacts to the relief service's 低保 events over the broker (国发〔2015〕52号
二(一): the living subsidy is for disabled persons in 低保 households). One Yinchuan household, two
disabled members: 马建国 already receives both subsidies, 马秀兰's living-subsidy application is
still under review with her household's status "as declared". Relief grants the household 低保:
her declaration is verified from relief's record, and she is approved — which leaves the household's
低保 amount as it was (the subsidies are not income). The household's income rises, the 渐退期 runs
out and it leaves 低保: their living subsidies stop from the month after its last 低保 month, his
nursing subsidy goes on — both services hosted as `tongban serve` hosts them, the real registry
worker deciding the places, every message signed and verified."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from kafka import KafkaConsumer, TopicPartition

from services.common.clock import CHINA
from services.common.events import Actor, RecordedEvent
from services.common.grpc_context import error_details
from services.common.kafka_settings import ensure_topics
from services.common.registry import CLAIMS_TOPIC, DECISIONS_TOPIC
from services.relief.application import reactions_disability as relief_income
from tests.integration.disability import exchange as disability
from tests.integration.relief import exchange as relief
from tests.support import wait_until
from tests.unit.relief.people import ACCOUNT, NINGXIA, XINGQING, citizen, clerk
from tongban.disability.v1 import disability_service_pb2 as dapi
from tongban.relief.v1 import relief_service_pb2 as rapi

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
START = datetime(2026, 3, 2, 9, tzinfo=CHINA).astimezone(UTC)  # a Monday
RELIEF_CLERK = clerk()
WINDOW = Actor("clerk", "w-1", "640104-DPO-01", NINGXIA, "window")
CDPF = Actor("clerk", "c-1", "640104-CDPF", NINGXIA, "cdpf")
COUNTY = Actor("clerk", "m-1", "640104-MZJ", NINGXIA, "approver")


@contextlib.contextmanager
def registry_worker(bootstrap: str, prefix: str, datadir: Path) -> Iterator[None]:
    """The real registry worker, deciding the places of both services (one --service-topic each)."""
    services = [f"{prefix}.tongban.{name}.events.v1" for name in ("disability", "relief")]
    claims, decisions = f"{prefix}.{CLAIMS_TOPIC}", f"{prefix}.{DECISIONS_TOPIC}"
    ensure_topics(bootstrap, [*services, claims, decisions], partitions=disability.PARTITIONS)
    argv = [sys.executable, "-m", "services.common.registry.worker", "--kafka", bootstrap,
            *(arg for topic in services for arg in ("--service-topic", topic)), "--claims-topic", claims,
            "--decisions-topic", decisions, "--app-id", f"{prefix}-registry", "--partitions",
            str(disability.PARTITIONS), "--datadir", str(datadir), "--expiry-check-interval", "1",
            "--loglevel", "warning"]
    datadir.parent.mkdir(parents=True, exist_ok=True)
    with (datadir.parent / "registry-worker.log").open("wb") as log:
        worker = subprocess.Popen(argv, cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)


@pytest.fixture(scope="module")
def ningxia(kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[relief.Region, disability.Region]]:
    prefix = f"t.reactions.{uuid.uuid4().hex[:10]}"
    data = tmp_path_factory.mktemp("reactions")
    with registry_worker(kafka_broker.bootstrap, prefix, data / "registry"), \
            relief.region(NINGXIA, kafka_broker.bootstrap, prefix, data, START) as relief_here, \
            disability.region(NINGXIA, kafka_broker.bootstrap, prefix, data, START) as disability_here:
        yield relief_here, disability_here


def _apply(here: disability.Region, who: str, *, nursing: bool) -> str:
    return here.call("ReceiveApplication", dapi.ReceiveApplicationRequest(
        applicant=dapi.ApplicantInput(citizen_id=who, name="马建国", hukou_region=XINGQING),
        certificate_number=f"{who}41", certificate_valid_until={"year": 2030, "month": 6, "day": 30},
        household="dibao", bank_account=ACCOUNT, living=True, nursing=nursing,
        circumstances=dapi.CircumstancesInput(long_term_care_months=24)), WINDOW).case.case_id


def _approved(here: disability.Region, case_id: str, subsidies: list[str]) -> Any:
    here.call("CompleteTownshipReview", dapi.CompleteTownshipReviewRequest(case_id=case_id, note="入户核查"), WINDOW)
    here.call("ConfirmCertificate", dapi.ConfirmCertificateRequest(case_id=case_id, note="肢体一级"), CDPF)
    here.until(case_id, COUNTY, lambda c: sorted(c.registry_held) == subsidies, "the registry's grants")
    approved = here.call("ApproveApplication", dapi.ApproveApplicationRequest(case_id=case_id, household="dibao"),
                         COUNTY).case
    assert approved.state == "approved"
    return approved


def _relief_amount(here: relief.Region, case_id: str) -> tuple[int, int]:
    """The household's monthly amount, and how many events its case holds."""
    case = here.call("GetCase", rapi.GetCaseRequest(case_id=case_id), RELIEF_CLERK).case
    return case.summary.monthly_amount_fen, len(case.history)


def _published_grant(here: disability.Region, who: str) -> Any:
    """The EntitlementGranted of `who` as published on the disability events topic (signed)."""
    consumer = KafkaConsumer(bootstrap_servers=here.host.config.kafka, enable_auto_commit=False, group_id=None,
                             consumer_timeout_ms=1000)
    try:
        topic = here.host.events_topic
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        return next((r for r in consumer if (e := RecordedEvent.from_bytes(r.value)).type.endswith(
            "EntitlementGranted") and who in str(here.host.store.read_stream(e.stream_id)[0].message())), None)
    finally:
        consumer.close()


def _opinion_given(here: relief.Region, case_id: str) -> bool:
    try:
        here.call("GiveTownshipOpinion", rapi.GiveTownshipOpinionRequest(case_id=case_id, recommends=True),
                  RELIEF_CLERK)
    except grpc.RpcError as refused:
        if error_details(refused).rule in ("EconomicChecksAnswered", "RegistryAnswersFirst"):
            return False
        raise
    return True


def _relief_state(here: relief.Region, case_id: str) -> str:
    return str(here.call("GetCase", rapi.GetCaseRequest(case_id=case_id), RELIEF_CLERK).case.summary.state)


def _granted_dibao(here: relief.Region, members: list[str]) -> str:
    inputs = [rapi.MemberInput(citizen_id=who, name="马", relation=relation, hukou_region=XINGQING)
              for who, relation in zip(members, ("self", "spouse"), strict=True)]
    case_id = here.call("ApplyForDibao", rapi.ApplyForDibaoRequest(applicant_citizen_id=members[0], members=inputs,
                                                                   area="urban", bank_account=ACCOUNT),
                        RELIEF_CLERK).case_id
    here.call("AcceptDibao", rapi.AcceptDibaoRequest(case_id=case_id), RELIEF_CLERK)
    here.call("StartInvestigation", rapi.StartInvestigationRequest(case_id=case_id), RELIEF_CLERK)
    here.call("RecordHomeVisit", rapi.RecordHomeVisitRequest(case_id=case_id, first_visitor="李明",
                                                             second_visitor="张华"), RELIEF_CLERK)
    wait_until(lambda: _opinion_given(here, case_id), timeout=60, what="the township opinion")
    here.call("StartPublicNotice", rapi.StartPublicNoticeRequest(case_id=case_id), RELIEF_CLERK)
    here.clock.advance(timedelta(days=8))  # the host's scheduler ends the 7-day notice
    wait_until(lambda: _relief_state(here, case_id) == "awaiting_decision", timeout=30, what="the notice to end")

    def decided() -> bool:
        try:
            here.call("DecideDibao", rapi.DecideDibaoRequest(case_id=case_id, approve=True), RELIEF_CLERK)
        except grpc.RpcError as refused:
            if error_details(refused).rule == "RegistryAnswersFirst":
                return False
            raise
        return True
    wait_until(decided, timeout=60, what="the registry's answers on the members' places")
    assert _relief_state(here, case_id) == "granted"
    return case_id


def _history(here: disability.Region, case_id: str) -> list[Any]:
    return list(here.host.store.read_stream(case_id))


def test_relief_enrolment_verifies_and_termination_stops_the_living_subsidy(
        ningxia: tuple[relief.Region, disability.Region]) -> None:
    """国发〔2015〕52号 二(一) and 三(四): entering 低保 verifies a waiting living-subsidy application's
    household status; leaving it stops the living subsidy from the month after (the nursing subsidy
    goes on)."""
    relief_here, disability_here = ningxia
    husband, wife = citizen(date(1962, 3, 1)), citizen(date(1964, 7, 1))
    paid = _apply(disability_here, husband, nursing=True)
    _approved(disability_here, paid, ["living", "nursing"])
    waiting = _apply(disability_here, wife, nursing=False)
    assert not [e for e in _history(disability_here, waiting) if e.type.endswith("HouseholdStatusConfirmed")]

    household = _granted_dibao(relief_here, [husband, wife])
    disability_here.clock.advance(timedelta(days=8))  # one calendar for both services

    def verified() -> list[Any]:
        return [e.message() for e in _history(disability_here, waiting) if e.type.endswith("HouseholdStatusConfirmed")]
    [confirmed] = wait_until(verified, timeout=60, what="the enrolment seen by the disability service")
    assert (confirmed.household, confirmed.source) == ("dibao", "relief")
    shown = disability_here.call("GetCase", dapi.GetCaseRequest(case_id=waiting), COUNTY).case
    assert (shown.state, shown.household, shown.household_source) == ("under_review", "dibao", "relief")
    untouched = disability_here.call("GetCase", dapi.GetCaseRequest(case_id=paid), COUNTY).case
    assert all(not e.stop_month for e in untouched.entitlements)

    # Verified, she is approved; relief sees the grant to a member of a 低保 household and leaves
    # the household's amount as it was (国发〔2015〕52号 二(四): the subsidies are not income).
    amount_before = _relief_amount(relief_here, household)
    approved = _approved(disability_here, waiting, ["living"])
    assert [e.subsidy for e in approved.entitlements] == ["living"]
    granted = wait_until(lambda: _published_grant(disability_here, wife), timeout=30, what="her grant published")
    relief_here.host.dispatch(granted.topic, granted.key, granted.value, granted.headers)
    assert _relief_amount(relief_here, household) == amount_before
    assert not relief_here.host.store.is_processed(relief_income.CONSUMER, RecordedEvent.from_bytes(
        granted.value).event_id)

    # The household's income rises above the standard: 渐退期, then it leaves 低保.
    relief_here.call("RecordIncomeChange", rapi.RecordIncomeChangeRequest(
        case_id=household, citizen_id=wife, earned_income_fen=300_000), RELIEF_CLERK)
    assert _relief_state(relief_here, household) == "tapering"
    disability_here.clock.advance(timedelta(days=215))
    relief_here.clock.advance(timedelta(days=215))
    wait_until(lambda: _relief_state(relief_here, household) == "ended", timeout=30, what="the 渐退期 to run out")
    [last_month] = [e.message().last_month for e in relief_here.host.store.read_stream(household)
                    if e.type.endswith("DibaoEnded")]
    year, month = (int(p) for p in last_month.split("-"))
    month_after = f"{year + month // 12}-{month % 12 + 1:02d}"

    stopped = disability_here.until(paid, COUNTY, lambda c: any(e.stop_month for e in c.entitlements),
                                    "the living subsidy to stop")
    by_subsidy = {e.subsidy: e for e in stopped.entitlements}
    assert by_subsidy["living"].stop_month == month_after
    assert not by_subsidy["nursing"].stop_month
    hers = disability_here.until(waiting, COUNTY, lambda c: any(e.stop_month for e in c.entitlements),
                                 "her living subsidy to stop")
    assert [(e.subsidy, e.stop_month) for e in hers.entitlements] == [("living", month_after)]
    matches = {m.citizen_id: m for e in disability_here.host.store.read_log(limit=10_000)
               if e.type.endswith("DataMatchReceived") and (m := e.message())}
    assert matches[husband].kind == "dibao_ended" and household in matches[husband].source
    assert (matches[husband].affected_case_ids, matches[wife].affected_case_ids) == (paid, waiting)
