"""The attacks of issue 10 against a real marriage front door (gRPC on loopback, SQLite store):
a caller is who its signed token proves, never who its headers say (architecture invariant 8).
Every refusal is UNAUTHENTICATED naming what is wrong, and nothing is appended."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import grpc
import pytest

from services.common.events import Actor
from services.common.grpc_context import error_details, token_metadata
from tests.fixtures.trust import actor_metadata, idp, token_for
from tests.integration.marriage_front_door import FrontDoor, front_door, registration
from tests.unit.marriage.people import couple
from tongban.marriage.v1 import marriage_service_pb2 as api
from tongban.marriage.v1 import marriage_service_pb2_grpc as api_grpc

NINGXIA_CLERK = Actor(kind="clerk", clerk_id="yc-07", office_code="640104-MRO-01", region="640000", role="registrar")
SICHUAN_CLERK = Actor(kind="clerk", clerk_id="gy-03", office_code="510802-MRO-01", region="510000", role="registrar")


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FrontDoor]:
    with front_door(tmp_path_factory.mktemp("trust")) as door:
        yield door


def _call(door: FrontDoor, method: str, request: Any, metadata: list[tuple[str, str]]) -> Any:
    return getattr(api_grpc.MarriageServiceStub(door.channel), method)(request, metadata=metadata, timeout=30)


def _refused_and_nothing_appended(door: FrontDoor, method: str, request: Any,
                                  metadata: list[tuple[str, str]]) -> str:
    before = door.store.head()
    with pytest.raises(grpc.RpcError) as refused:
        _call(door, method, request, metadata)
    assert refused.value.code() is grpc.StatusCode.UNAUTHENTICATED, refused.value.details()
    assert door.store.head() == before, "nothing appended"
    return error_details(refused.value).message


def test_a_clerk_of_another_region_cannot_pass_for_this_one_by_a_header_invariant_8(door: FrontDoor) -> None:
    """Issue 10: a 510000 clerk refused with PERMISSION_DENIED succeeded by sending
    x-tongban-region: 640000."""
    husband, wife = couple().husband, couple().wife
    spoofed = [*actor_metadata(SICHUAN_CLERK), ("x-tongban-region", "640000")]
    assert "plain identity headers are not accepted" in _refused_and_nothing_appended(
        door, "RegisterMarriage", registration(husband, wife), spoofed)
    theirs = actor_metadata(SICHUAN_CLERK)
    assert "unknown key id" in _refused_and_nothing_appended(door, "RegisterMarriage", registration(husband, wife),
                                                             theirs)
    old_style = [("x-tongban-clerk-id", "gy-03"), ("x-tongban-office", "640104-MRO-01"),
                 ("x-tongban-region", "640000"), ("x-tongban-role", "registrar")]
    assert "plain identity headers" in _refused_and_nothing_appended(
        door, "RegisterMarriage", registration(husband, wife), old_style)


def test_a_registrar_cannot_act_as_a_court_or_as_the_system_invariant_8(door: FrontDoor) -> None:
    """Issue 10: anyone could set role court or actor kind system and was recorded as such."""
    query = api.QueryMaritalStatusRequest(citizen_id=couple().husband, reason="案件审理", requesting_body="人民法院")
    registrar = token_for(NINGXIA_CLERK)
    assert "role 'court' is not one of the token's roles" in _refused_and_nothing_appended(
        door, "QueryMaritalStatus", query, token_metadata(registrar, role="court"))
    assert "plain identity headers" in _refused_and_nothing_appended(
        door, "QueryMaritalStatus", query, [*token_metadata(registrar), ("x-tongban-actor-kind", "system")])
    court = Actor(kind="clerk", clerk_id="court-01", office_code="640104-MRO-01", region="640000", role="court")
    before = door.store.head()
    _call(door, "QueryMaritalStatus", query, actor_metadata(court))
    recorded = door.store.read_log(after=before[0])
    assert recorded and recorded[-1].actor.role == "court" and recorded[-1].actor.clerk_id == "court-01", \
        "the recorded actor is the one the token proves"


def test_expired_forged_and_missing_tokens_are_refused_naming_why_invariant_8(door: FrontDoor) -> None:
    request = api.GetCaseRequest(case_id="marriage-640000-none")
    assert "missing" in _refused_and_nothing_appended(door, "GetCase", request, [])
    expired = idp("640000").issue(clerk_id="yc-07", office_code="640104-MRO-01", roles=["registrar"],
                                  not_before=0, lifetime=timedelta(seconds=-3600))
    assert "expired" in _refused_and_nothing_appended(door, "GetCase", request, token_metadata(expired))
    header, payload, signature = token_for(NINGXIA_CLERK).split(".")
    other = token_for(SICHUAN_CLERK).split(".")[2]
    assert "wrong signature" in _refused_and_nothing_appended(
        door, "GetCase", request, token_metadata(f"{header}.{payload}.{other}"))
    assert signature != other
