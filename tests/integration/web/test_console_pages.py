"""The console's later pages in a real browser against the package's one stack (conftest.py): a
disability subsidy stopped and resumed from its case page (国发〔2015〕52号 三(四)), a refused stop
keeping what was typed; the region of a member's 户籍 answering a family economic check (多地联办,
民发〔2021〕57号), the answer arriving in the handling region's case; and the auditor's charts —
deadline adherence per office and payments per month — showing the figures of those cases. Each
page axe-clean, screenshotted, and on a phone screen.

The cases are put in place through the services' gRPC front doors (as the console itself calls them,
with tokens of the stack's identity provider), each at an office no other browser test uses, so the
charts' figures for those offices are exactly this module's cases."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from services.common.identity.citizen_id import make_citizen_id
from services.common.trust.signin import mint
from services.stack.stackfile import StackInfo
from services.web.credentials import credentials_for
from services.web.gateway import Gateway, stack_addresses
from services.web.session import Clerk
from tests.integration.web.console import accessibility_violations, screenshot, sign_in, stack_today
from tests.support import wait_until
from tongban.disability.v1 import disability_service_pb2 as dpb
from tongban.payments.v1 import payment_service_pb2 as ppb
from tongban.relief.v1 import relief_service_pb2 as rpb

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

DISABILITY_WINDOW = ("640000", "640104-DPF-01", "window")  # used by no other browser test
CDPF = ("640000", "640104-CDPF", "cdpf")
COUNTY = {"region": "640000", "office": "640104-MZJ", "clerk": "yc-mz-09", "role": "approver"}
FINANCE = ("640000", "640104-CZJ", "finance")
RELIEF_WINDOW = ("640000", "640104-MZ-02", "relief")  # used by no other browser test
GUANGYUAN_RELIEF = {"region": "510000", "office": "510802-MZ-01", "clerk": "gy-jz-01", "role": "relief"}
AUDITOR = {"region": "640000", "office": "640104-MZJ", "clerk": "audit-09", "role": "auditor"}
PHONE = {"width": 390, "height": 844}
_sequences = itertools.count(random.randrange(0, 200) * 2 + 501, 2)


def citizen(county: str = "640104", born: date = date(1969, 5, 1)) -> str:
    return make_citizen_id(county, born, next(_sequences) % 998)


def axe_clean(page: Any, where: str) -> None:
    violations = accessibility_violations(page)
    assert violations == [], f"{where}: {violations}"


def fits_a_phone(chromium: Any, console: str, who: dict[str, str], paths: list[tuple[str, str]]) -> None:
    context = chromium.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True)
    page = context.new_page()
    try:
        sign_in(page, console, **who)
        for path, name in paths:
            page.goto(console + path)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} is {overflow}px wider than a phone screen"
            screenshot(page, name)
    finally:
        context.close()


class Front:
    """The stack's front doors, called as the console calls them: one clerk's token per call."""

    def __init__(self, stack: StackInfo) -> None:
        self.data_dir = Path(stack.data_dir)
        self.gateway = Gateway(stack_addresses(self.data_dir), credentials_for)

    def call(self, who: tuple[str, str, str], service: str, method: str, request: Any, api: str = "") -> Any:
        region, office, role = who
        token, _ = mint(self.data_dir, region, office=office, clerk_id=f"t-{role}", roles=[role])
        clerk = Clerk(region, office, f"t-{role}", role, expires_at="2999-01-01T00:00:00+00:00", credential=token)
        return self.gateway.call(clerk, service, method, request, api=api)


@pytest.fixture(scope="module")
def front(stack: StackInfo) -> Any:
    doors = Front(stack)
    yield doors
    doors.gateway.close()


@pytest.fixture(scope="module")
def approved_case(front: Front) -> str:
    """A disability application approved at the county, both subsidies paid (国发〔2015〕52号 三)."""
    applicant = citizen()
    case_id = front.call(DISABILITY_WINDOW, "disability", "ReceiveApplication", dpb.ReceiveApplicationRequest(
        applicant=dpb.ApplicantInput(citizen_id=applicant, name="马秀英", hukou_region="640104"),
        certificate_number=applicant + "41", household="dibao", bank_account="6222021234567890123",
        certificate_valid_until={"year": stack_today(front).year + 3, "month": 6, "day": 30}, living=True, nursing=True,
        circumstances=dpb.CircumstancesInput(long_term_care_months=24), request_id=str(uuid.uuid4()))).case.case_id
    front.call(DISABILITY_WINDOW, "disability", "CompleteTownshipReview", dpb.CompleteTownshipReviewRequest(
        case_id=case_id, request_id=str(uuid.uuid4())))
    front.call(CDPF, "disability", "ConfirmCertificate", dpb.ConfirmCertificateRequest(
        case_id=case_id, request_id=str(uuid.uuid4())))
    county = (COUNTY["region"], COUNTY["office"], COUNTY["role"])
    wait_until(lambda: len(front.call(county, "disability", "GetCase", dpb.GetCaseRequest(case_id=case_id))
                           .case.registry_held) == 2, timeout=60, interval=0.3, what="the national registry's grants")
    front.call(county, "disability", "ApproveApplication", dpb.ApproveApplicationRequest(
        case_id=case_id, household="dibao", request_id=str(uuid.uuid4())))
    return str(case_id)


def test_a_subsidy_is_stopped_and_resumed_from_its_case_page_and_a_refused_stop_keeps_what_was_typed_国发2015_52号(
        console: str, page: Any, approved_case: str, stack: StackInfo) -> None:
    sign_in(page, console, **COUNTY)
    page.goto(f"{console}/queues")
    page.fill("#find-disability", approved_case)  # an approved case is in no queue: opened by its number
    page.click("form.find button")
    assert page.url.endswith(f"/disability/cases/{approved_case}")
    assert page.get_attribute("[data-state]", "data-state") == "approved"

    page.select_option("#stop-subsidy", "nursing")
    page.select_option("#stop-reason", "own_request")
    page.fill("#stop-note", "本人书面申请停发护理补贴")
    page.get_by_role("button", name="停发", exact=True).click()  # no date of the event: refused
    assert "effective_on" in page.inner_text("[role=alert]")
    assert page.input_value("#stop-note") == "本人书面申请停发护理补贴", "the note typed is kept"
    assert page.input_value("#stop-reason") == "own_request" and page.input_value("#stop-subsidy") == "nursing"
    axe_clean(page, "a refused stop")

    page.fill("#stop-effective_on", stack_today(stack).isoformat())
    page.get_by_role("button", name="停发", exact=True).click()
    paid = page.inner_text("section[aria-labelledby=ent]")
    assert "起停发：本人申请停发" in paid and "发放中" in paid, paid  # the living subsidy is still paid
    screenshot(page, "disability-stopped")
    axe_clean(page, "a case with a stopped subsidy")

    page.fill("#resume-reason", "复核：本人撤回停发申请")
    page.get_by_role("button", name="恢复发放", exact=True).click()
    resumed = page.inner_text("section[aria-labelledby=ent]")
    assert "起停发" not in resumed and resumed.count("发放中") == 2, resumed
    events = page.request.get(f"{console}/audit/cases/{approved_case}/history.jsonl").text()
    assert "EntitlementStopped" in events and "EntitlementResumed" in events

    for path, name in (("/disability/data-match", "disability-data-match"), ("/relief/household", "relief-household")):
        page.goto(console + path)  # the other pages of this round: the finding of another department, a lookup
        screenshot(page, name)
        axe_clean(page, path)


@pytest.fixture(scope="module")
def dibao_in_investigation(front: Front) -> tuple[str, str]:
    """A 低保 application in Ningxia whose husband's 户籍 is in Sichuan: the investigation asks
    Sichuan for his family economic check (a recorded hand-off). Its case id and the husband's."""
    applicant, husband = citizen(born=date(1972, 3, 3)), citizen("510802", date(1970, 8, 8))
    members = [rpb.MemberInput(citizen_id=applicant, name="马兰", relation="self", hukou_region="640104"),
               rpb.MemberInput(citizen_id=husband, name="王建国", relation="spouse", hukou_region="510802",
                               residence_permit_region="640104")]
    case_id = front.call(RELIEF_WINDOW, "relief", "ApplyForDibao", rpb.ApplyForDibaoRequest(
        applicant_citizen_id=applicant, members=members, area="urban", bank_account="6228480012345678901",
        request_id=str(uuid.uuid4()))).case_id
    front.call(RELIEF_WINDOW, "relief", "AcceptDibao", rpb.AcceptDibaoRequest(case_id=case_id,
                                                                              request_id=str(uuid.uuid4())))
    front.call(RELIEF_WINDOW, "relief", "StartInvestigation", rpb.StartInvestigationRequest(
        case_id=case_id, request_id=str(uuid.uuid4())))
    return str(case_id), husband


def test_the_region_of_a_members_hukou_answers_the_family_economic_check_多地联办_民发2021_57号(
        console: str, page: Any, dibao_in_investigation: tuple[str, str], chromium: Any) -> None:
    case_id, husband = dibao_in_investigation
    check_id = f"{case_id}-check-{husband}"

    sign_in(page, console, **GUANGYUAN_RELIEF)  # the region of the husband's 户籍

    def listed() -> bool:
        page.goto(f"{console}/relief/economic-checks")
        return page.locator(f"[data-handoff='{check_id}']").count() == 1

    wait_until(listed, timeout=120, interval=0.5, what="the check asked by Ningxia, taken on in Sichuan")
    assert "王建国" in page.inner_text(f"[data-handoff='{check_id}']")
    page.click(f"a[href='/relief/economic-checks/{check_id}']")
    page.fill("#monthly_income", "1200")
    page.fill("#deposits", "3000")
    page.fill("#vehicles", "-1")
    page.fill("#note", "四川省：无房产、无工商登记")
    page.click("main button[type=submit]")
    assert "vehicles" in page.inner_text("[role=alert]")  # refused by the service: nothing recorded
    assert page.get_attribute("#vehicles", "aria-invalid") == "true" and page.inner_text("#vehicles-msg")
    assert page.input_value("#monthly_income") == "1200" and page.input_value("#note") == "四川省：无房产、无工商登记"
    screenshot(page, "relief-economic-check")
    axe_clean(page, "the economic check's answer form")
    page.fill("#vehicles", "0")
    page.click("main button[type=submit]")
    assert "已答复" in page.inner_text(f"[data-handoff='{check_id}']")
    axe_clean(page, "the economic checks asked of this region")

    sign_in(page, console, region="640000", office=RELIEF_WINDOW[1], clerk="yc-jz-09", role="relief")

    def arrived() -> bool:
        page.goto(f"{console}/relief/cases/{case_id}")
        return page.locator("[data-check-outcome=EconomicCheckAnswered]").count() == 1

    wait_until(arrived, timeout=120, interval=0.5, what="Sichuan's answer in the Ningxia case")
    answer = page.inner_text("[data-check-outcome=EconomicCheckAnswered]")
    assert "王建国" in answer and "月收入 1200.00 元" in answer and "车辆 0" in answer, answer
    screenshot(page, "relief-case-check-answered")
    axe_clean(page, "a relief case with a check answered")
    fits_a_phone(chromium, console, GUANGYUAN_RELIEF, [("/relief/economic-checks", "phone-economic-checks")])


def test_the_auditors_charts_show_deadline_adherence_and_payments_per_month_of_these_cases(
        console: str, page: Any, front: Front, approved_case: str, dibao_in_investigation: tuple[str, str],
        chromium: Any) -> None:
    month = stack_today(front).strftime("%Y-%m")
    run = front.call(FINANCE, "disability", "RunMonth", ppb.RunMonthRequest(month=month, request_id=str(uuid.uuid4())),
                     api="payments")
    assert run.batch.line_count >= 1

    sign_in(page, console, **AUDITOR)
    page.goto(f"{console}/charts")
    office = page.locator(f"[data-chart=deadlines] tr[data-office='{DISABILITY_WINDOW[1]}']")
    assert office.locator("[data-on-time]").inner_text() == "1", page.inner_text("main")  # decided within its limits
    assert office.locator("[data-late]").inner_text() == "0"
    assert DISABILITY_WINDOW[1] in (page.text_content("[data-chart=deadlines] svg desc") or "")
    relief = page.locator(f"[data-chart=deadlines] tr[data-office='{RELIEF_WINDOW[1]}']")
    assert relief.locator("[data-open]").inner_text() == "1"  # the 低保 under investigation, within its limits
    assert relief.locator("[data-open-overdue]").inner_text() == "0"
    paid = page.locator(f"[data-chart=payments] tr[data-month='{month}'][data-service='残疾人两项补贴']")
    assert paid.locator("[data-lines]").inner_text() == str(run.batch.line_count), page.inner_text("main")
    shown_total = paid.locator("[data-total]").inner_text()
    assert shown_total == f"{run.batch.total_fen / 100:.2f} 元", shown_total
    screenshot(page, "charts")
    axe_clean(page, "charts")
    fits_a_phone(chromium, console, AUDITOR, [("/charts", "phone-charts")])
