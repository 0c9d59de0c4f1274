"""`tongban window marriage ...` as a clerk uses it against a running stack: every case by hand,
readable answers, refusals that name the rule, the field or the holder, and clear errors when the
call cannot be made. One stack (Ningxia and Sichuan, on the session broker) serves the module; each
test uses people of its own, since the registry is national."""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import random
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.common.identity.citizen_id import make_citizen_id
from services.common.trust.signin import login
from services.common.trust.tokens import IdentityProvider
from services.stack.cli import build_parser
from services.stack.config import StackConfig
from services.stack.stackfile import StackInfo
from services.stack.up import Stack
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]
YINCHUAN = {"TONGBAN_REGION": "640000", "TONGBAN_CLERK": "yc-07"}
GUANGYUAN = {"TONGBAN_REGION": "510000", "TONGBAN_CLERK": "gy-03"}
_sequences = itertools.count(random.randrange(0, 200) * 2 + 1, 2)


def person(sex: str, address: str = "640104") -> str:
    """A fresh valid citizen ID (odd sequence codes are men, even ones women)."""
    base = next(_sequences) % 998
    return make_citizen_id(address, date(1990 + base % 7, 1 + base % 12, 1 + base % 28),
                           base if sex == "male" else base + 1)


@pytest.fixture(scope="module")
def stack(kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    data = tmp_path_factory.mktemp("window") / "data"
    prefix = f"t.window.{uuid.uuid4().hex[:10]}"
    supervisor = Stack(StackConfig(data, regions=("640000", "510000"), services=("marriage",),
                                   kafka=kafka_broker.bootstrap, topic_prefix=prefix, scheduler_interval=0.5,
                                   tls=True),  # every window call below goes over TLS (invariant 8)
                       out=lambda _line: None)
    info = supervisor.start()
    # Signed in from the stack's development identity providers (architecture invariant 8).
    login(data, "640000", office="640104-MRO-01", clerk_id="yc-07", roles=["registrar", "window"])
    login(data, "640000", office="640104-MRO-01", clerk_id="court-01", roles=["court"])
    login(data, "510000", office="510802-MRO-01", clerk_id="gy-03", roles=["registrar"])
    try:
        yield info
    finally:
        supervisor.stop()


def window(info: StackInfo, *args: str, clerk: dict[str, str] = YINCHUAN) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **clerk, "TONGBAN_DATA": info.data_dir}
    return subprocess.run([sys.executable, "-m", "services.stack.cli", "window", "marriage", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)


def done(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def case_id(output: str) -> str:
    return output.split()[0]


pytestmark = [pytest.mark.kafka, pytest.mark.stack_client, pytest.mark.slow]


def test_a_clerk_registers_a_marriage_and_the_same_man_is_refused_in_another_region_民法典_1042(
        stack: StackInfo) -> None:
    husband, wife, other = person("male"), person("female"), person("female", "510802")
    married = done(window(stack, "register", husband, "王磊", wife, "李娜"))
    assert "REGISTERED" in married and "结婚证 J640104-MRO-01-" in married
    assert f"party A: 王磊 {husband} (male" in married

    turned_away = window(stack, "register", husband, "王磊", other, "张静", clerk=GUANGYUAN)
    assert turned_away.returncode == 1, "a refused registration is a refusal: exit 1, as --help says"
    refused = turned_away.stdout
    assert "REFUSED" in refused and "NoExistingMarriage" in refused
    assert f"held in region 640000 宁夏回族自治区): party_a already has a live marriage on record (case " \
           f"{case_id(married)}" in refused
    listed = done(window(stack, "list", "--type", "marriage", "--state", "refused", clerk=GUANGYUAN))
    assert case_id(refused) in listed and "张静" in listed
    shown = done(window(stack, "case", "show", case_id(refused), "--history", clerk=GUANGYUAN))
    assert "MarriageRefused" in shown and "gy-03@510802-MRO-01" in shown, "who did what is in the history"


def test_a_divorce_by_hand_through_the_cooling_off_and_the_certificate_window_民法典_1077(
        stack: StackInfo) -> None:
    husband, wife = person("male"), person("female")
    marriage = case_id(done(window(stack, "register", husband, "赵刚", wife, "陈丽")))
    received = done(window(stack, "divorce", "receive", marriage, husband, "赵刚", wife, "陈丽",
                           "--children", "无子女", "--property", "各自名下财产归各自所有", "--debts", "无共同债务"))
    assert "COOLING_OFF" in received and "cooling-off until" in received
    divorce = case_id(received)

    early = window(stack, "divorce", "request-certificate", divorce)
    assert early.returncode == 1, early.stdout
    assert "refused (FAILED_PRECONDITION)" in early.stderr and "rule: CoolingOffPeriod" in early.stderr
    assert "nothing was recorded" in early.stderr
    assert divorce in done(window(stack, "queue", "cooling_off"))

    # Move to the end the case itself reports, never by a fixed count of days: a 30th day on a
    # holiday rolls the end to the next working day (received 2026-12-02: 2027-01-01 → 2027-01-04).
    last_day = date.fromisoformat(re.search(r"cooling-off until (\d{4}-\d{2}-\d{2})", received).group(1))
    runs_out = (last_day + timedelta(days=1)).isoformat()
    moved = subprocess.run([sys.executable, "-m", "services.stack.cli", "clock", "advance", "--to", runs_out,
                            "--data", stack.data_dir], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert moved.returncode == 0 and f"stack time {runs_out}" in moved.stdout, moved.stderr
    wait_until(lambda: divorce in done(window(stack, "queue", "awaiting_certificate_request")), timeout=30,
               interval=0.5, what="the cooling-off deadline to fire")

    assert "CERTIFICATE_REQUESTED" in done(window(stack, "divorce", "request-certificate", divorce))
    registered = done(window(stack, "divorce", "register", divorce))
    assert "REGISTERED" in registered and "离婚证 L640104-MRO-01-" in registered
    reissued = done(window(stack, "reissue", marriage, wife, "--reason", "遗失"))
    assert "registration_record_certificate" in reissued and "dissolved by divorce" in reissued


def test_a_withdrawal_and_a_court_judgment_民法典_1051(stack: StackInfo) -> None:
    husband, wife = person("male"), person("female")
    registered = done(window(stack, "register", husband, "刘洋", wife, "周敏"))
    marriage = case_id(registered)
    divorce = case_id(done(window(stack, "divorce", "receive", marriage, husband, "刘洋", wife, "周敏", "--children",
                                  "无子女", "--property", "各自所有", "--debts", "无")))
    assert "WITHDRAWN" in done(window(stack, "divorce", "withdraw", divorce, husband, "--reason", "和好"))
    # Judged on the day of the registration: a judgment cannot predate the marriage it judges.
    judged_on = re.search(r"registered on (\d{4}-\d{2}-\d{2})", registered).group(1)  # type: ignore[union-attr]
    voided = done(window(stack, "judgment", marriage, "--void", "--court", "银川市兴庆区人民法院", "--number",
                         "(2026)宁0104民初88号", "--date", judged_on, "--ground", "重婚"))
    assert "VOID" in voided and "(2026)宁0104民初88号" in voided
    court = {**YINCHUAN, "TONGBAN_CLERK": "court-01"}
    asked = done(window(stack, "status", husband, "--reason", "案件审理", "--requesting-body", "人民法院",
                        "--role", "court", clerk=court))
    assert f"{husband}: VOID" in asked, asked


def test_a_divorce_received_with_the_signed_agreement_as_a_file_民法典_1076(stack: StackInfo, tmp_path: Path) -> None:
    """The agreement settles children, property and debts: given one by one, or as the signed
    agreement itself, whose fingerprint is recorded. Neither is a usage error."""
    husband, wife = person("male"), person("female")
    marriage = case_id(done(window(stack, "register", husband, "郑伟", wife, "冯敏")))
    unsettled = window(stack, "divorce", "receive", marriage, husband, "郑伟", wife, "冯敏")
    assert unsettled.returncode == 2 and "--children, --property, --debts" in unsettled.stderr
    scan = tmp_path / "协议书.pdf"
    scan.write_bytes(b"%PDF-1.7 signed agreement")
    received = done(window(stack, "divorce", "receive", marriage, husband, "郑伟", wife, "冯敏",
                           "--agreement-file", str(scan), "--json"))
    assert '"children_arrangement": "见所附离婚协议书"' in received
    assert hashlib.sha256(scan.read_bytes()).hexdigest() in received, "the agreement's fingerprint is recorded"


def test_a_retry_with_the_same_request_id_gets_the_same_case_invariant_9(stack: StackInfo) -> None:
    husband, wife, request_id = person("male"), person("female"), str(uuid.uuid4())
    first = case_id(done(window(stack, "register", husband, "郑凯", wife, "冯雪", "--request-id", request_id)))
    again = case_id(done(window(stack, "register", husband, "郑凯", wife, "冯雪", "--request-id", request_id)))
    assert again == first, "a retried action is answered with its first case, not refused as a second one"


def test_refusals_name_the_field_or_rule_and_calls_that_cannot_be_made_say_why(
        stack: StackInfo, tmp_path: Path) -> None:
    """Architecture invariant 7 as a clerk reads it."""
    good = person("male")
    bad_id = good[:-1] + ("0" if good[-1] != "0" else "1")  # any other check character is wrong
    invalid = window(stack, "register", bad_id, "王磊", person("female"), "李娜")
    assert invalid.returncode == 1
    assert "INVALID_ARGUMENT" in invalid.stderr and "party_a.citizen_id: GB 11643" in invalid.stderr

    nosy = window(stack, "status", person("female"), "--reason", "好奇", "--requesting-body", "无", "--role", "window")
    assert nosy.returncode == 1
    assert "not allowed (PERMISSION_DENIED)" in nosy.stderr and "rule: AuthorisedStatusQuery" in nosy.stderr

    missing = window(stack, "case", "show", "marriage-640000-none")
    assert missing.returncode == 1 and "not found (NOT_FOUND)" in missing.stderr
    elsewhere = window(stack, "case", "show", "marriage-640000-none", clerk=GUANGYUAN)
    assert "the case id names region 640000 宁夏回族自治区" in elsewhere.stderr
    assert "--region 640000" in elsewhere.stderr

    anonymous = window(stack, "list", clerk={"TONGBAN_REGION": "640000", "TONGBAN_CLERK": ""})
    assert anonymous.returncode == 2 and "who is at the window? give --clerk" in anonymous.stderr

    impostor = IdentityProvider(region="640000", signing_key=Ed25519PrivateKey.generate())
    forged = tmp_path / "forged.jwt"
    forged.write_text(impostor.issue(clerk_id="yc-07", office_code="640104-MRO-01", roles=["auditor"]))
    refused = window(stack, "list", "--token-file", str(forged))
    assert refused.returncode == 1 and "your token was not accepted (UNAUTHENTICATED)" in refused.stderr
    assert "unknown key id" in refused.stderr and "nothing was recorded" in refused.stderr, "invariant 8"

    nowhere = window(stack, "list", "--data", str(tmp_path))
    assert nowhere.returncode == 2 and f"no stack is running on {tmp_path}" in nowhere.stderr
    assert "tongban up" in nowhere.stderr

    not_a_date = window(stack, "judgment", "marriage-640000-x", "--void", "--court", "法院", "--number", "1",
                        "--date", "1/3/2026")
    assert not_a_date.returncode == 2 and "YYYY-MM-DD" in not_a_date.stderr


def _paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _paths(sub, (*prefix, name))


@pytest.mark.parametrize("path", [p for p in _paths(build_parser()) if len(p) > 2 and p[0] == "window"],
                         ids=" ".join)
def test_every_window_action_has_a_help_that_teaches_with_an_example(
        path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([*path, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    leaf = not any(p[: len(path)] == path and len(p) > len(path) for p in _paths(build_parser()))
    if leaf:
        assert "example:" in text and f"tongban window {path[1]}" in text, text
        assert "--clerk" in text and "TONGBAN_CLERK" in text, "every action says how to name the clerk"


def test_a_divorce_received_at_an_office_of_another_region_says_where_the_record_is_国务院令804(
        stack: StackInfo) -> None:
    husband, wife = person("male"), person("female")
    marriage = case_id(done(window(stack, "register", husband, "何军", wife, "马兰")))
    received = done(window(stack, "divorce", "receive", marriage, husband, "何军", wife, "马兰", "--children",
                           "无子女", "--property", "各自名下财产归各自所有", "--debts", "无共同债务", clerk=GUANGYUAN))
    divorce = case_id(received)
    assert divorce.startswith("divorce-510000-") and "COOLING_OFF" in received
    assert "marriage recorded in region 640000" in received and "next: region 640000" in received
    wait_until(lambda: "confirmed the record" in done(window(stack, "case", "show", divorce, clerk=GUANGYUAN)),
               timeout=30, interval=0.5, what="Ningxia to confirm its record")
    assert f"divorce in progress: {divorce}" in done(window(stack, "case", "show", marriage))

    withdrawn = done(window(stack, "divorce", "withdraw", divorce, wife, "--reason", "和好", clerk=GUANGYUAN))
    assert "WITHDRAWN" in withdrawn
    wait_until(lambda: "divorce in progress" not in done(window(stack, "case", "show", marriage)), timeout=30,
               interval=0.5, what="Ningxia to close the proceeding")

    swapped = window(stack, "divorce", "receive", marriage, husband, "马兰", wife, "何军", "--children", "无子女",
                     "--property", "各自名下财产归各自所有", "--debts", "无共同债务", clerk=GUANGYUAN)
    refused_id = case_id(done(swapped))
    wait_until(lambda: "REFUSED" in done(window(stack, "case", "show", refused_id, clerk=GUANGYUAN)), timeout=30,
               interval=0.5, what="Ningxia to refuse the swapped names")
    shown = done(window(stack, "case", "show", refused_id, clerk=GUANGYUAN))
    assert "REFUSED" in shown and "SpousesNamedAsOnRecord" in shown and "refused the application" in shown


def test_a_divorce_carried_through_at_another_region_is_registered_there_once_the_record_region_dissolves_it(
        stack: StackInfo) -> None:
    husband, wife = person("male"), person("female")
    marriage = case_id(done(window(stack, "register", husband, "韩冬", wife, "杨柳")))
    received = done(window(stack, "divorce", "receive", marriage, husband, "韩冬", wife, "杨柳", "--children",
                           "无子女", "--property", "各自名下财产归各自所有", "--debts", "无共同债务", clerk=GUANGYUAN))
    divorce = case_id(received)
    wait_until(lambda: "confirmed the record" in done(window(stack, "case", "show", divorce, clerk=GUANGYUAN)),
               timeout=30, interval=0.5, what="Ningxia to confirm its record")
    last_day = date.fromisoformat(re.search(r"cooling-off until (\d{4}-\d{2}-\d{2})", received).group(1))
    runs_out = (last_day + timedelta(days=1)).isoformat()
    moved = subprocess.run([sys.executable, "-m", "services.stack.cli", "clock", "advance", "--to", runs_out,
                            "--data", stack.data_dir], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert moved.returncode == 0, moved.stderr
    wait_until(lambda: divorce in done(window(stack, "queue", "awaiting_certificate_request", clerk=GUANGYUAN)),
               timeout=30, interval=0.5, what="the cooling-off deadline to fire in Sichuan")
    assert "CERTIFICATE_REQUESTED" in done(window(stack, "divorce", "request-certificate", divorce, clerk=GUANGYUAN))
    registered = done(window(stack, "divorce", "register", divorce, clerk=GUANGYUAN))
    assert "REGISTERED" in registered and "离婚证 L510802-MRO-01-" in registered, registered
    assert "dissolved by divorce" in done(window(stack, "case", "show", marriage))
