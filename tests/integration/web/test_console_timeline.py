"""The auditor's cross-region pages in a real browser against the package's stack (two regions,
conftest.py): a certificate registered in Guangyuan is reissued in Yinchuan through a hand-off
(国务院令第804号; 国办发〔2020〕35号 跨省通办), and each region's auditor reads the one timeline —
their own region's part in full, the other region's part named as not visible and why (each
region's front door trusts only its own identity provider) — and the national auditor, whom every
region trusts for audit reads, sees both parts; the as-of view; the HTML and JSONL
exports; a person looked up by citizen ID (个人信息保护法 第三十四条: every read recorded with its
reason). Screenshots, axe-core and a phone-sized screen."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.integration.web.console import accessibility_violations, screenshot, sign_in
from tests.integration.web.test_console_browser import GUANGYUAN, PHONE, YINCHUAN, person, register, settled_state
from tests.support import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

YINCHUAN_AUDITOR = {"region": "640000", "office": "640104-MRO-01", "clerk": "yc-audit-01", "role": "auditor"}
GUANGYUAN_AUDITOR = {"region": "510000", "office": "510802-MRO-01", "clerk": "gy-audit-01", "role": "auditor"}
# 国家审计: the national identity provider's auditor, whom every region trusts for audit reads only.
NATIONAL_AUDITOR = {"region": "640000", "office": "NAO-01", "clerk": "na-audit-01", "role": "national_auditor"}
REASON = "信访件 2026-118 核查"


def axe_clean(page: Any, where: str) -> None:
    violations = accessibility_violations(page)
    assert violations == [], f"{where}: {violations}"


def fits_a_phone(page: Any, where: str) -> None:
    page.set_viewport_size(PHONE)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{where} is {overflow}px wider than a phone screen"
    screenshot(page, f"phone-{where}")
    page.set_viewport_size({"width": 1280, "height": 900})


def open_timeline(page: Any, console: str, case_id: str) -> None:
    page.goto(f"{console}/audit/trail")
    page.fill("#case_id", case_id)
    page.fill("#reason", REASON)
    page.click("main button[type=submit]")
    # The click only starts the form's navigation: the services answer (and record the read) first,
    # and until then the form page is the one a locator would count on.
    page.wait_for_url(re.compile(rf"/audit/trail/{re.escape(case_id)}\?"))
    page.wait_for_load_state()


def test_each_regions_auditor_reads_a_handed_off_case_across_regions_and_exports_it_国办发2020_35号(
        console: str, page: Any, tmp_path: Path) -> None:
    sign_in(page, console, **GUANGYUAN)
    husband, wife = person("male"), person("female")
    register(page, console, (husband, "韩冬"), (wife, "许晴"))
    assert settled_state(page) == "registered"
    record = page.url.rsplit("/", 1)[-1]
    sign_in(page, console, **YINCHUAN)
    page.goto(f"{console}/marriage/reissue")
    page.fill("#record_case_id", record)
    page.fill("#applicant_citizen_id", wife)
    page.click("main button[type=submit]")
    assert settled_state(page, waiting="awaiting_archive") == "issued"
    reissue = page.url.rsplit("/", 1)[-1]

    # Yinchuan's auditor: Yinchuan's part, the hand-off to Guangyuan drawn; Guangyuan's part named.
    sign_in(page, console, **YINCHUAN_AUDITOR)
    open_timeline(page, console, reissue)
    assert page.locator("ol.trail li[data-region='640000']").count() >= 3, page.inner_text("main")
    assert page.locator("ol.trail li[data-kind='handoff']").count() >= 1
    assert "→ 510000" in page.inner_text("table.sequence")
    events = page.inner_text("ol.trail")
    assert "yc-web-01" in events and "640104-MRO-01" in events and "追踪" in events
    assert page.locator("[data-hidden-region='510000']").count() == 1, "one region, named once"
    hidden = page.inner_text("[data-hidden-region='510000']")
    assert "不接受本审计员的凭证" in hidden and "510000" in hidden
    assert REASON in page.inner_text("main") and "本次查阅已由各服务记录" in page.inner_text("main")
    screenshot(page, "auditor-cross-region-timeline")
    axe_clean(page, "cross-region timeline")
    fits_a_phone(page, "cross-region-timeline")
    trail_url = page.url

    # Exports: a self-contained printable page, and JSON Lines.
    with page.expect_download() as download:
        page.click("text=导出 HTML")
    saved = tmp_path / "timeline.html"
    download.value.save_as(saved)
    exported = saved.read_text(encoding="utf-8")
    assert reissue in exported and "不可见的部分" in exported and REASON in exported
    assert "<script" not in exported and "/static/" not in exported, "the export needs nothing beside itself"
    lines = page.request.get(trail_url.replace(f"/audit/trail/{reissue}?", f"/audit/trail/{reissue}/trail.jsonl?"))
    assert lines.ok and len(lines.text().splitlines()) >= 4

    # The case as it stood before anything happened: nothing yet, and how much is not shown.
    page.fill("#as_of", "2000-01-01T00:00")
    page.click("form.inline-form button[type=submit]")
    assert page.locator("ol.trail li").count() == 0 and "未显示" in page.inner_text("main")

    # Guangyuan's auditor: the archive's side of the same hand-off; Yinchuan's part named.
    sign_in(page, console, **GUANGYUAN_AUDITOR)
    open_timeline(page, console, reissue)
    assert page.locator("ol.trail li[data-region='510000']").count() >= 1, page.inner_text("main")
    assert page.locator("[data-hidden-region='640000']").count() == 1, "one region, named once"
    screenshot(page, "auditor-cross-region-timeline-guangyuan")

    # The national auditor: both regions answer the national token, so both parts are shown.
    sign_in(page, console, **NATIONAL_AUDITOR)
    open_timeline(page, console, reissue)
    assert page.locator("ol.trail li[data-region='640000']").count() >= 3, page.inner_text("main")
    assert page.locator("ol.trail li[data-region='510000']").count() >= 1, page.inner_text("main")
    assert page.locator("[data-hidden-region]").count() == 0, "no region refuses the national auditor"
    screenshot(page, "national-auditor-cross-region-timeline")

    # Lookup by person, in Yinchuan: the ID checked as typed, then the reissue found and linked.
    sign_in(page, console, **YINCHUAN_AUDITOR)
    page.goto(f"{console}/audit/person")
    page.fill("#citizen_id", wife[:17] + ("0" if wife[17] != "0" else "1"))
    wait_until(lambda: "公民身份号码无效" in page.inner_text("#citizen_id-msg"), timeout=30,
               what="the check character refused while typing")
    page.fill("#citizen_id", wife)
    page.fill("#reason", REASON)
    page.click("main form button[type=submit]")
    assert reissue in page.inner_text("table.found"), page.inner_text("main")
    assert page.locator("[data-marital-status]").count() == 1
    screenshot(page, "auditor-person-lookup")
    axe_clean(page, "person lookup")
