"""Reads of personal data through the marriage front door are authorised by role and office and
recorded before they are answered (architecture invariant 8; 个人信息保护法 第三十四条; domain
rules, "Records and audit"): the kit's RecordedReads (services/common/trust/reads.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from services.common.audit.datadir import store_path
from services.common.events import Actor
from services.common.grpc_context import error_details
from services.common.trust.reads import READ_TYPE, case_reads_stream
from tests.integration.marriage_front_door import FrontDoor, front_door, registration
from tests.integration.test_audit_helpers import run
from tests.unit.marriage.people import NINGXIA, YINCHUAN_OFFICE, clerk, couple
from tongban.marriage.v1 import marriage_service_pb2 as api

OTHER_OFFICE = "640100-MRO-02"  # in Ningxia's directory, but not the case's office


@pytest.fixture
def door(tmp_path: Path) -> Iterator[FrontDoor]:
    store_path(tmp_path, NINGXIA, "marriage").parent.mkdir(parents=True)
    with front_door(tmp_path, db=store_path(tmp_path, NINGXIA, "marriage")) as door:
        yield door


def _case(door: FrontDoor) -> api.Case:
    people = couple()
    return door.call("RegisterMarriage", registration(people.husband, people.wife)).case


def _refused_and_nothing_recorded(door: FrontDoor, method: str, request: object, actor: Actor) -> grpc.StatusCode:
    before = door.store.head()
    with pytest.raises(grpc.RpcError) as refused:
        door.call(method, request, actor)
    assert door.store.head() == before, "a refused read records nothing and shows nothing"
    details = error_details(refused.value)
    return details.code if details.rule in (None, "AuthorisedRead") else grpc.StatusCode.UNKNOWN


def test_a_role_without_the_right_or_another_office_is_refused_and_nothing_recorded_个保法_34(
        door: FrontDoor) -> None:
    case = _case(door)
    read = api.GetCaseRequest(case_id=case.case_id, reason="curious")
    court = clerk(role="court", clerk_id="court-01")
    assert _refused_and_nothing_recorded(door, "GetCase", read, court) is grpc.StatusCode.PERMISSION_DENIED
    neighbour = clerk(OTHER_OFFICE, clerk_id="c-08")
    assert _refused_and_nothing_recorded(door, "GetCase", read, neighbour) is grpc.StatusCode.PERMISSION_DENIED
    listing = api.ListCasesRequest(office_code=YINCHUAN_OFFICE, reason="curious")
    assert _refused_and_nothing_recorded(door, "ListCases", listing, neighbour) is grpc.StatusCode.PERMISSION_DENIED
    nowhere = api.ListCasesRequest(office_code="640181-MRO-09")
    assert _refused_and_nothing_recorded(door, "ListCases", nowhere, clerk()) is grpc.StatusCode.INVALID_ARGUMENT, \
        "an office that is not in the region's directory"
    auditor = Actor(kind="auditor", clerk_id="A-17", office_code="", region=NINGXIA, role="auditor")
    no_reason = api.GetCaseRequest(case_id=case.case_id)
    assert _refused_and_nothing_recorded(door, "GetCase", no_reason, auditor) is grpc.StatusCode.INVALID_ARGUMENT


def test_an_allowed_read_is_recorded_on_the_cases_thread_and_the_audit_shows_it_个保法_34(
        door: FrontDoor, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = _case(door)
    shown = door.call("GetCase", api.GetCaseRequest(case_id=case.case_id)).case
    assert shown.case_id == case.case_id
    auditor = Actor(kind="auditor", clerk_id="A-17", office_code="", region=NINGXIA, role="auditor")
    door.call("GetCase", api.GetCaseRequest(case_id=case.case_id, reason="complaint 88"), auditor)
    window_read, auditor_read = door.store.read_stream(case_reads_stream(case.case_id))
    assert window_read.type == READ_TYPE and window_read.actor == clerk()
    assert window_read.correlation_id == door.store.read_stream(case.case_id)[0].correlation_id
    assert list(window_read.message().case_ids) == [case.case_id]  # type: ignore[attr-defined]
    assert auditor_read.message().reason == "complaint 88"  # type: ignore[attr-defined]

    listed = door.call("ListCases", api.ListCasesRequest())
    assert [c.case_id for c in listed.cases] == [case.case_id]
    [list_read] = [e for e in door.store.read_log() if e.type == READ_TYPE and e.stream_id.startswith("reads-list-")]
    assert list(list_read.message().case_ids) == [case.case_id]  # type: ignore[attr-defined]
    assert list_read.message().office_code == YINCHUAN_OFFICE  # type: ignore[attr-defined]

    code, out, err = run(capsys, "case", case.case_id, "--data", tmp_path, "--auditor", "A-18", "--reason", "review")
    assert code == 0, err
    assert out.count("[audit] tongban.audit.v1.PersonalDataRead") == 2, "the auditor sees who read the case"
    assert "by clerk clerk-07 (registrar) at office 640104-MRO-01" in out
