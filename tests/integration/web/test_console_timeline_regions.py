"""The auditor's cross-region timeline without a browser or a broker (fast): two regions' marriage
front doors (real gRPC on loopback, SQLite stores, each trusting only its own identity provider)
and the console over them. What each region's auditor sees of a case opened in Guangyuan, what is
named as not visible and why, a region the console has no address for, and the reads it refuses
(个人信息保护法 第三十四条: auditors only, with a reason; every read recorded). The national auditor
(国家审计: the national identity provider, which every region trusts for audit reads only) sees
every region's part and looks a person up in every region."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.cookiejar import CookieJar
from pathlib import Path

import grpc
import pytest

from services.common.audit.front_door_reads import PERSON_READS_STREAM
from services.common.audit.grpc_api import audit_servicer_adder
from services.common.audit.trail import reads_stream
from services.common.clock import FakeClock
from services.common.events import Actor
from services.common.grpc_context import create_server
from services.common.store import EventStore, sqlite_url
from services.host import Infrastructure
from services.marriage.bootstrap import bootstrap
from services.web.app import create_app
from services.web.credentials import credentials_for
from services.web.gateway import Gateway, NotRunHere
from services.web.rendering import ConsoleConfig
from tests.fixtures.trust import actor_metadata, authenticator, national_token, token_for
from tests.integration.marriage_front_door import registration
from tests.integration.web.console import serving
from tests.unit.marriage.people import couple
from tongban.marriage.v1 import marriage_service_pb2_grpc as marriage_grpc

REGIONS = {"640000": "640104-MRO-01", "510000": "510802-MRO-01"}


@contextmanager
def region_door(tmp_path: Path, region: str) -> Iterator[tuple[str, EventStore]]:
    store = EventStore.open(sqlite_url(tmp_path / f"{region}.db"), region=region, service="marriage",
                            clock=FakeClock())
    marriage = bootstrap(Infrastructure.over(store))
    audit = audit_servicer_adder(store, region=region, service="marriage", clock=store.clock)
    server, port = create_server("127.0.0.1:0", servicers=[marriage.servicer, audit],
                                 authenticator=authenticator(region))
    server.start()
    try:
        yield f"127.0.0.1:{port}", store
    finally:
        server.stop(grace=None)
        store.close()


class Browser:
    """Just enough of a browser: cookies, forms with the anti-forgery token, no redirects hidden."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=30) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as refused:
            return refused.code, refused.read().decode()

    def post(self, path: str, fields: dict[str, str]) -> tuple[int, str]:
        _, form = self.get(path)
        token = re.search(r'name="csrf" value="([^"]+)"', form)
        data = urllib.parse.urlencode({**fields, "csrf": token.group(1) if token else ""}).encode()
        try:
            with self.opener.open(self.base + path, data=data, timeout=30) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as refused:
            return refused.code, refused.read().decode()

    def sign_in(self, region: str, role: str = "auditor") -> None:
        self.post("/signin", {"region": region, "office": REGIONS[region], "clerk_id": f"{role}-{region}",
                              "role": role})


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, object]]:
    with ExitStack() as stack:
        doors = {region: stack.enter_context(region_door(tmp_path, region)) for region in REGIONS}

        def address(region: str, service: str) -> str:
            if service != "marriage" or region not in doors:
                raise NotRunHere(region, service, "no endpoint")
            return doors[region][0]

        def issue(clerk: object) -> str:
            c = clerk  # a services.web.session.Clerk
            if c.is_national:  # type: ignore[attr-defined]
                return national_token(c.clerk_id)  # type: ignore[attr-defined]
            return token_for(Actor("clerk", c.clerk_id, c.office, c.region, c.role))  # type: ignore[attr-defined]

        gateway = Gateway(address, credentials_for)
        stack.callback(gateway.close)
        base = stack.enter_context(serving(create_app(ConsoleConfig(gateway=gateway, regions=list(REGIONS),
                                                                    issue_credential=issue))))
        yield {"base": base, "doors": doors}


def _guangyuan_case(world: dict[str, object]) -> tuple[str, str]:
    address, _store = world["doors"]["510000"]  # type: ignore[index]
    people = couple("510802")
    clerk = Actor("clerk", "gy-01", REGIONS["510000"], "510000", "registrar")
    with grpc.insecure_channel(address) as channel:
        answer = marriage_grpc.MarriageServiceStub(channel).RegisterMarriage(
            registration(people.husband, people.wife), metadata=actor_metadata(clerk), timeout=30)
    return str(answer.case.case_id), people.wife


def test_each_auditor_sees_their_own_regions_part_and_the_other_is_named_not_visible_个保法_34(
        world: dict[str, object]) -> None:
    case_id, _ = _guangyuan_case(world)
    guangyuan, yinchuan = Browser(str(world["base"])), Browser(str(world["base"]))
    guangyuan.sign_in("510000")
    status, page = guangyuan.get(f"/audit/trail/{case_id}?reason=complaint+9")
    assert status == 200 and page.count('data-region="510000"') >= 1 and "不可见的部分" not in page
    _, store = world["doors"]["510000"]  # type: ignore[index]
    assert store.read_stream(reads_stream(case_id)), "the read is recorded in the store that answered"

    yinchuan.sign_in("640000")
    status, page = yinchuan.get(f"/audit/trail/{case_id}?reason=complaint+9")
    assert status == 200, page
    assert 'data-hidden-region="510000"' in page and "不接受本审计员的凭证" in page
    assert 'data-region="510000"' not in page, "nothing of Guangyuan's part is shown to Yinchuan's auditor"

    status, page = yinchuan.get("/audit/trail/marriage-610000-0123456789abcdef?reason=x")
    assert status == 200 and 'data-hidden-region="610000"' in page and "没有该地区服务的地址" in page


def test_a_read_without_a_reason_or_by_a_window_is_refused_and_nothing_recorded_个保法_34(
        world: dict[str, object]) -> None:
    case_id, _ = _guangyuan_case(world)
    _, store = world["doors"]["510000"]  # type: ignore[index]
    auditor, window = Browser(str(world["base"])), Browser(str(world["base"]))
    auditor.sign_in("510000")
    window.sign_in("510000", role="registrar")  # lands on the office's queues: a recorded read of its own
    before = store.head()
    status, page = auditor.get(f"/audit/trail/{case_id}")
    assert status == 422 and "须填写事由" in page
    status, page = window.get(f"/audit/trail/{case_id}?reason=curious")
    assert status == 403 and "AuditorsReadWithAReason" in page
    assert store.head() == before


def test_an_auditor_looks_a_person_up_and_the_lookup_is_recorded_个保法_34(world: dict[str, object]) -> None:
    case_id, wife = _guangyuan_case(world)
    auditor = Browser(str(world["base"]))
    auditor.sign_in("510000")
    status, page = auditor.post("/audit/person", {"citizen_id": wife, "reason": "complaint 9"})
    assert status == 200, page
    assert f"/audit/trail/{case_id}?reason=complaint%209" in page
    assert "data-marital-status" in page, "the registry status, through the recorded status query"
    _, store = world["doors"]["510000"]  # type: ignore[index]
    [lookup] = store.read_stream(PERSON_READS_STREAM)
    assert lookup.message().citizen_id == wife  # type: ignore[attr-defined]
    status, page = auditor.post("/audit/person", {"citizen_id": wife[:17] + "?", "reason": "x"})
    assert status == 422 and "公民身份号码无效" in page


def test_the_national_auditor_sees_every_regions_part_and_looks_a_person_up_everywhere_个保法_34(
        world: dict[str, object]) -> None:
    case_id, wife = _guangyuan_case(world)
    national = Browser(str(world["base"]))
    national.post("/signin", {"region": "640000", "office": "NAO-01", "clerk_id": "na-01", "role": "national_auditor"})
    status, page = national.get(f"/audit/trail/{case_id}?reason=national+inspection")
    assert status == 200, page
    assert 'data-region="510000"' in page and "data-hidden-region" not in page, "Guangyuan's part is visible"
    stores = {region: door[1] for region, door in world["doors"].items()}  # type: ignore[attr-defined]
    [read] = stores["510000"].read_stream(reads_stream(case_id))
    assert (read.actor.clerk_id, read.actor.role) == ("na-01", "national_auditor"), "recorded where it was answered"

    status, page = national.post("/audit/person", {"citizen_id": wife, "reason": "national inspection"})
    assert status == 200, page
    assert f"/audit/trail/{case_id}?reason=national%20inspection" in page and 'data-found-region="510000"' in page
    for region in REGIONS:  # asked in every region, and each recorded being asked
        [lookup] = stores[region].read_stream(PERSON_READS_STREAM)
        assert lookup.actor.clerk_id == "na-01" and lookup.message().citizen_id == wife  # type: ignore[attr-defined]
