"""The web console in a real browser (Debian's Chromium, driven by Playwright) against a real stack:
a clerk signs in, registers a marriage and follows it to `registered`, prints the certificate, and
an auditor opens the case's timeline. Every main page is screenshotted (test-artifacts/web/),
checked on a phone-sized screen, and scanned with axe-core (WCAG 2.1 AA)."""

from __future__ import annotations

import itertools
import random
import re
from datetime import date, timedelta
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from services.common.events import Actor
from services.common.identity.citizen_id import make_citizen_id
from services.stack.stackfile import StackInfo
from services.web.app import create_app
from services.web.credentials import credentials_for
from services.web.gateway import Gateway
from services.web.rendering import ConsoleConfig
from tests.fixtures.trust import token_for
from tests.integration.web.console import (
    accessibility_violations,
    screenshot,
    serving,
    sign_in,
    stack_today,
)
from tests.support import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

YINCHUAN = {"region": "640000", "office": "640104-MRO-01", "clerk": "yc-web-01"}
GUANGYUAN = {"region": "510000", "office": "510802-MRO-01", "clerk": "gy-web-01"}
PHONE = {"width": 390, "height": 844}
_sequences = itertools.count(random.randrange(0, 200) * 2 + 301, 2)


def person(sex: str, born: date | None = None) -> str:
    base = next(_sequences) % 998
    birth = born or date(1990 + base % 7, 1 + base % 12, 1 + base % 28)
    return make_citizen_id("640104", birth, base if sex == "male" else base + 1)


def no_accessibility_violations(page: Any, where: str) -> None:
    violations = accessibility_violations(page)
    assert violations == [], f"{where}: {violations}"


def register(page: Any, console: str, a: tuple[str, str], b: tuple[str, str]) -> None:
    page.goto(f"{console}/marriage/register")
    for side, (citizen_id, name) in (("a", a), ("b", b)):
        page.fill(f"#{side}_citizen_id", citizen_id)
        page.fill(f"#{side}_name", name)
        for declaration in ("consents", "no_spouse", "no_prohibited_kinship", "appears_in_person"):
            page.check(f"#{side}_{declaration}")
    page.click("main button[type=submit]")


def settled_state(page: Any, waiting: str = "awaiting_registry") -> str:
    """The case page's state once the registry answered (reloading while it waits)."""
    try:  # the form's answer is a case page: wait for it to load (a click returns before it has)
        page.wait_for_selector("[data-state]", timeout=30_000)
    except PlaywrightTimeout as exc:
        raise AssertionError(f"not a case page ({page.url}):\n{page.inner_text('main')}") from exc

    def state() -> str | None:
        current = page.get_attribute("[data-state]", "data-state")
        if current == waiting:
            page.reload()
            return None
        return current

    return wait_until(state, timeout=60, interval=0.5, what="the registry's answer on the case page")


def test_a_clerk_registers_a_marriage_and_an_auditor_reads_its_timeline(console: str, page: Any) -> None:
    sign_in(page, console, **YINCHUAN)
    assert page.url.endswith("/queues")
    header = page.inner_text("header")
    assert "宁夏回族自治区" in header and "640104-MRO-01" in header and "婚姻登记员" in header
    screenshot(page, "queues")
    no_accessibility_violations(page, "queues")

    husband, wife = person("male"), person("female")
    page.goto(f"{console}/marriage/register")
    screenshot(page, "register-marriage")
    no_accessibility_violations(page, "register form")
    register(page, console, (husband, "王磊"), (wife, "李娜"))
    assert settled_state(page) == "registered"
    certificate = page.inner_text("dl.facts >> nth=1")
    assert re.search(r"J640104-MRO-01-\d{4}-\d{6}", certificate), certificate
    screenshot(page, "case-registered")
    no_accessibility_violations(page, "case page")
    case_url = page.url

    page.click("text=打印结婚证")
    assert "结婚证" in page.inner_text("h1") and "王磊" in page.content() and "李娜" in page.content()
    screenshot(page, "print-certificate")

    page.goto(case_url)
    page.click("text=查看完整时间线")
    events = page.inner_text("ul.timeline")
    assert "受理结婚登记申请" in events and "结婚登记完成" in events and "yc-web-01" in events
    assert "全国登记库：准予（一方）" in events  # the registry's decisions, as the region recorded them
    screenshot(page, "auditor-timeline")
    no_accessibility_violations(page, "timeline")
    export = page.request.get(page.url + "/history.jsonl")
    assert export.ok and len(export.text().strip().splitlines()) >= 3

    page.goto(f"{console}/audit/verify")  # still the registrar: a store-wide check is not a window's work
    page.click("main button[type=submit]")
    assert "only an auditor may verify a store" in page.inner_text("main")

    sign_in(page, console, region="640000", office="640104-MRO-01", clerk="auditor-01", role="auditor")
    page.goto(f"{console}/audit/verify")
    page.click("main button[type=submit]")
    verdicts = page.locator("[data-verdict]").evaluate_all("cells => cells.map(c => c.dataset.verdict)")
    # Every store of the auditor's region: marriage, disability and relief of 640000 (another region's
    # front doors trust only their own identity provider).
    assert verdicts == ["ok"] * 3, page.inner_text("main")
    screenshot(page, "auditor-verify")
    no_accessibility_violations(page, "verify")


def test_fields_are_checked_as_typed_and_a_refused_form_keeps_what_was_typed(console: str, page: Any) -> None:
    sign_in(page, console, **YINCHUAN)
    page.goto(f"{console}/marriage/register")
    valid = person("male")
    wrong_check = valid[:17] + ("0" if valid[17] != "0" else "1")  # GB 11643: the check character is wrong
    page.fill("#a_citizen_id", wrong_check)
    wait_until(lambda: "公民身份号码无效" in page.inner_text("#a_citizen_id-msg"), timeout=30,
               what="the check character refused while typing")
    assert page.get_attribute("#a_citizen_id", "aria-invalid") == "true"

    husband = person("male")
    page.fill("#a_citizen_id", husband)
    page.fill("#a_name", "张伟")
    page.fill("#b_citizen_id", person("female"))
    page.fill("#b_name", "李<script>")
    page.click("main button[type=submit]")
    assert "姓名无效" in page.inner_text("#b_name-msg")
    assert page.input_value("#a_citizen_id") == husband and page.input_value("#a_name") == "张伟"


def test_a_refused_registration_is_shown_with_its_rule_and_can_be_printed_民法典_1047(
        console: str, page: Any, stack: StackInfo) -> None:
    sign_in(page, console, **YINCHUAN)
    today = stack_today(stack)
    young = person("male", born=date(today.year - 20, 1, 15))
    register(page, console, (young, "赵小明"), (person("female"), "钱芳"))
    assert settled_state(page) == "refused"
    refusal = page.inner_text("section.refusal")
    assert "第1047条" in refusal
    page.click("text=打印不予登记通知书")
    assert "不予办理婚姻登记告知书" in page.inner_text("h1")


def test_a_certificate_registered_in_another_region_is_reissued_through_a_hand_off_国务院令第804号(
        console: str, page: Any) -> None:
    sign_in(page, console, **GUANGYUAN)
    husband, wife = person("male"), person("female")
    register(page, console, (husband, "孙强"), (wife, "周敏"))
    assert settled_state(page) == "registered"
    record = page.url.rsplit("/", 1)[-1]
    assert record.startswith("marriage-510000-")

    sign_in(page, console, **YINCHUAN)
    page.goto(f"{console}/marriage/reissue")
    page.fill("#record_case_id", record)
    page.fill("#applicant_citizen_id", wife)
    page.click("main button[type=submit]")
    assert settled_state(page, waiting="awaiting_archive") == "issued"
    assert "补发证件字号" in page.inner_text("main") and "四川省" in page.inner_text("main")
    reissue_case = page.url.rsplit("/", 1)[-1]

    page.goto(f"{console}/handoffs")
    outgoing = page.inner_text("section.queue >> nth=1")
    assert reissue_case in outgoing and "补领婚姻登记证：调取档案" in outgoing and "已办结" in outgoing
    screenshot(page, "handoffs")
    no_accessibility_violations(page, "hand-offs")


def test_pages_fit_a_phone_screen(console: str, chromium: Any) -> None:
    context = chromium.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True)
    page = context.new_page()
    try:
        sign_in(page, console, **YINCHUAN)
        for path, name in (("/queues", "phone-queues"), ("/marriage/register", "phone-register"),
                           ("/disability/apply", "phone-disability-apply"),
                           ("/relief/dibao/apply", "phone-dibao-apply"),
                           ("/relief/assistance/apply", "phone-assistance-apply")):
            page.goto(console + path)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} is {overflow}px wider than a phone screen"
            screenshot(page, name)
    finally:
        context.close()


def test_a_service_that_is_down_is_explained_and_an_expired_session_asks_to_sign_in_again(
        stack: StackInfo, page: Any) -> None:
    def nowhere(region: str, service: str) -> str:
        return "127.0.0.1:9"  # the discard port: nothing listens for gRPC there

    def issue(clerk: Any) -> str:  # the test identity provider of the clerk's region
        return token_for(Actor("clerk", clerk.clerk_id, clerk.office, clerk.region, clerk.role))

    down = ConsoleConfig(gateway=Gateway(nowhere, credentials_for), regions=["640000"], issue_credential=issue)
    with serving(create_app(down)) as base:
        sign_in(page, base, **YINCHUAN)
        assert "服务暂时无法连接" in page.inner_text("main")
        assert "Traceback" not in page.content()

    expiring = ConsoleConfig(gateway=Gateway(nowhere, credentials_for), regions=["640000"],
                             issue_credential=issue, session_lifetime=timedelta(0))
    with serving(create_app(expiring)) as base:
        sign_in(page, base, **YINCHUAN)
        assert "/signin" in page.url and "登录已过期" in page.inner_text("main")
        assert "next=/queues" in page.url.replace("%2F", "/")
