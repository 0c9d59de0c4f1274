"""The console's disability and relief pages in a real browser against the real stack (the package's
one stack, conftest.py): a disability application moved through the domestic flow to approval by
the township window, the county 残联 and the county 民政 (国发〔2015〕52号 三); a 低保 application
with its household accepted (民发〔2021〕57号); a 临时救助 paid at once, its refusal over the
ceiling shown with the rule and the amount typed kept (国发〔2014〕47号); queues and the chart per
service; every page axe-clean and screenshotted."""

from __future__ import annotations

import itertools
import random
from datetime import date
from typing import Any

import pytest

from services.common.identity.citizen_id import make_citizen_id
from services.stack.stackfile import StackInfo
from tests.integration.web.console import accessibility_violations, screenshot, sign_in, stack_today
from tests.support import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

TOWNSHIP = {"region": "640000", "office": "640104-DPO-01", "clerk": "yc-dp-01", "role": "window"}
CDPF = {"region": "640000", "office": "640104-CDPF", "clerk": "yc-cdpf-01", "role": "cdpf"}
COUNTY = {"region": "640000", "office": "640104-MZJ", "clerk": "yc-mz-01", "role": "approver"}
RELIEF = {"region": "640000", "office": "640104-MZ-01", "clerk": "yc-jz-01", "role": "relief"}
ACCOUNT = "6222 0212 3456 7890 123"
_sequences = itertools.count(random.randrange(0, 200) * 2 + 1, 2)


def citizen(born: date = date(1968, 4, 1)) -> str:
    return make_citizen_id("640104", born, next(_sequences) % 998)


def axe_clean(page: Any, where: str) -> None:
    violations = accessibility_violations(page)
    assert violations == [], f"{where}: {violations}"


def press(page: Any, button: str) -> None:
    page.get_by_role("button", name=button, exact=True).click()


def state_of(page: Any) -> str:
    return str(page.get_attribute("[data-state]", "data-state"))


def stage_of(page: Any) -> str:
    return str(page.get_attribute("[data-stage]", "data-stage")) if page.locator("[data-stage]").count() else ""


def test_a_disability_application_goes_through_the_domestic_flow_to_approval_国发2015_52号(
        console: str, page: Any, stack: StackInfo) -> None:
    sign_in(page, console, **TOWNSHIP)
    page.goto(f"{console}/disability/apply")
    applicant, someone_else = citizen(), citizen()
    page.fill("#citizen_id", applicant)
    page.fill("#certificate_number", someone_else + "41")  # the certificate of another person
    wait_until(lambda: "与申请人的不一致" in page.inner_text("#certificate_number-msg"), timeout=30,
               what="the certificate's ID part checked against the applicant's as typed")
    page.fill("#name", "马小红")
    page.fill("#certificate_valid_until", f"{stack_today(stack).year + 3}-06-30")
    page.check("#nursing")
    page.fill("#long_term_care_months", "24")
    page.fill("#bank_account", ACCOUNT)
    page.click("main button[type=submit]")
    # Refused by the form: what was typed is all still there, the number's problem next to it.
    assert page.input_value("#name") == "马小红" and page.input_value("#bank_account") == ACCOUNT
    assert page.get_attribute("#certificate_number", "aria-invalid") == "true"
    screenshot(page, "disability-apply")
    axe_clean(page, "disability application form")

    page.fill("#certificate_number", applicant + "41")  # 肢体残疾 一级
    page.click("main button[type=submit]")
    assert state_of(page) == "under_review" and stage_of(page) == "township_review", page.inner_text("main")
    case_url = page.url
    case_id = case_url.rsplit("/", 1)[-1]
    page.fill("#township-review-note", "入户核查属实")
    press(page, "审核通过，报县级残联")
    assert stage_of(page) == "certificate_check"

    sign_in(page, console, **CDPF)  # the county 残联 lists every application of its county
    listed = page.inner_text("[data-queue=disability-certificate_check]")
    assert case_id in listed and "马小红" in listed
    page.click(f"a[href='/disability/cases/{case_id}']")
    page.fill("#confirm-certificate-note", "肢体一级")
    press(page, "确认，报县级民政部门")
    assert stage_of(page) == "approval"

    sign_in(page, console, **COUNTY)
    page.goto(case_url)

    def registry_answered() -> bool:
        page.reload()
        return "已登记在本地区领取" in page.inner_text("main")

    wait_until(registry_answered, timeout=60, interval=0.5, what="the national registry's grants on the case page")
    page.select_option("#household", "dibao")
    press(page, "审定通过，开始发放")
    assert state_of(page) == "approved", page.inner_text("main")
    paid = page.inner_text("main")
    assert "困难残疾人生活补贴" in paid and "重度残疾人护理补贴" in paid and "发放中" in paid
    screenshot(page, "disability-approved")
    axe_clean(page, "disability case page")

    page.goto(f"{console}/audit/cases/{case_id}")  # the case's history, read (and recorded) like any case
    events = page.inner_text("ul.timeline")
    assert "受理两项补贴申请" in events and "审定通过" in events and "yc-cdpf-01" in events, events


def test_a_dibao_application_with_its_household_is_accepted_民发2021_57号(console: str, page: Any) -> None:
    sign_in(page, console, **RELIEF)
    page.goto(f"{console}/relief/dibao/apply")
    grandmother, grandchild = citizen(date(1958, 4, 1)), citizen(date(2014, 9, 1))
    page.fill("#applicant_citizen_id", grandmother)
    page.fill("#members-0-citizen_id", grandmother)
    page.fill("#members-0-name", "王芳")
    page.fill("#members-0-earned_income", "200")
    page.fill("#members-0-disability_subsidy", "180")
    page.fill("#members-1-citizen_id", grandchild)
    page.fill("#members-1-name", "王小明")
    page.select_option("#members-1-relation", "grandchild")
    page.fill("#bank_account", "6228480012345678901")
    screenshot(page, "relief-dibao-apply")
    axe_clean(page, "dibao application form")
    page.click("main button[type=submit]")
    assert state_of(page) == "received", page.inner_text("main")
    household = page.inner_text("main")
    assert "王芳" in household and "王小明" in household
    press(page, "受理")
    assert state_of(page) == "accepted", page.inner_text("main")
    assert "下一期限" in page.inner_text("dl.facts")  # the decision's limit, in working days
    screenshot(page, "relief-dibao-accepted")
    axe_clean(page, "relief case page")
    case_id = page.url.rsplit("/", 1)[-1]

    page.goto(f"{console}/queues")
    assert case_id in page.inner_text("[data-queue=relief-dibao_in_procedure]")


def test_urgent_assistance_over_the_ceiling_is_refused_with_its_rule_and_keeps_the_amount_国发2014_47号(
        console: str, page: Any) -> None:
    sign_in(page, console, **RELIEF)
    page.goto(f"{console}/relief/assistance/apply")
    page.fill("#citizen_id", citizen(date(1980, 2, 2)))
    page.fill("#name", "陈旅")
    page.select_option("#cause", "traffic_accident")
    page.fill("#urgent_amount", "5000")  # above the region's 先行救助 ceiling
    page.click("main button[type=submit]")
    assert state_of(page) == "received"
    refusal = page.inner_text("[role=alert]")
    assert "UrgentWithinCeiling" in refusal, refusal
    assert page.input_value("#pay-amount") == "5000", "the amount typed is kept to correct"
    page.fill("#pay-amount", "800")
    press(page, "立即发放")
    assert state_of(page) == "urgent_paid", page.inner_text("main")
    case_id = page.url.rsplit("/", 1)[-1]

    page.goto(f"{console}/queues")
    assert case_id in page.inner_text("[data-queue=relief-assistance_awaiting_proof]")
    chart = page.text_content("svg.chart desc") or ""
    assert "临时救助：已先行救助，待补齐证明" in chart, chart
    screenshot(page, "queues-services")
    axe_clean(page, "queues with every service")

    page.goto(f"{console}/audit/cases/{case_id}")
    events = page.inner_text("ul.timeline")
    assert "受理临时救助申请" in events and "先行救助：立即发放" in events and "yc-jz-01" in events


def test_an_application_from_another_province_is_forwarded_and_listed_as_a_hand_off_异地代收代办(
        console: str, page: Any, stack: StackInfo) -> None:
    sign_in(page, console, **TOWNSHIP)
    page.goto(f"{console}/disability/apply")
    applicant = make_citizen_id("510802", date(1966, 7, 1), next(_sequences) % 998)  # 户籍 in 广元, Sichuan
    page.fill("#citizen_id", applicant)
    page.fill("#name", "王芳")
    page.fill("#hukou_region", "510802")
    page.fill("#certificate_number", applicant + "42")
    page.fill("#certificate_valid_until", f"{stack_today(stack).year + 2}-12-31")
    page.fill("#bank_account", ACCOUNT)
    page.click("main button[type=submit]")
    assert state_of(page) == "forwarding" and stage_of(page) == "forwarding", page.inner_text("main")
    case_id = page.url.rsplit("/", 1)[-1]
    press(page, "转交户籍地")
    assert "已转交户籍地 四川省" in page.inner_text("dl.facts"), page.inner_text("main")

    page.goto(f"{console}/handoffs")
    outgoing = page.inner_text("section.queue >> nth=1")
    assert case_id in outgoing and "残疾人两项补贴：异地代收" in outgoing


def test_a_township_refusal_is_recorded_with_its_article_and_printed_for_the_applicant_国发2015_52号(
        console: str, page: Any, stack: StackInfo) -> None:
    sign_in(page, console, **TOWNSHIP)
    page.goto(f"{console}/disability/apply")
    applicant = citizen(date(1975, 3, 3))
    page.fill("#citizen_id", applicant)
    page.fill("#name", "李强")
    page.fill("#certificate_number", applicant + "43")
    page.fill("#certificate_valid_until", f"{stack_today(stack).year + 1}-01-31")
    page.fill("#bank_account", ACCOUNT)
    page.click("main button[type=submit]")
    assert stage_of(page) == "township_review", page.inner_text("main")
    page.fill("#refuse-reason", "入户核查：申请人已外出务工，家庭收入超过标准")
    press(page, "不予通过")
    assert state_of(page) == "refused", page.inner_text("main")
    assert "国发〔2015〕52号" in page.inner_text("section.refusal")
    page.click("text=打印不予发放告知书")
    notice = page.inner_text("main")
    assert "不予发放残疾人两项补贴告知书" in notice and "家庭收入超过标准" in notice and "国发〔2015〕52号" in notice
    screenshot(page, "disability-refusal-print")
