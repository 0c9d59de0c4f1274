"""An auditor reads a case's thread and looks a person up through a service's front door
(AuditService.GetCaseTrail, FindPersonCases — what the web console stitches across regions):
auditors only, with a reason, and recorded before the answer (个人信息保护法 第三十四条; domain
rules, "Records and audit"). Real SQLite store, real gRPC server on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from services.common.audit.front_door_reads import PERSON_READS_STREAM, _streams_naming
from services.common.audit.grpc_api import audit_servicer_adder
from services.common.audit.trail import AUDITOR_READ_TYPE, reads_stream
from services.common.clock import FakeClock
from services.common.events import Actor
from services.common.grpc_context import create_server, error_details
from services.common.store import EventStore, sqlite_url
from services.host import Infrastructure
from services.marriage.bootstrap import bootstrap
from tests.fixtures.trust import actor_metadata, authenticator
from tests.integration.marriage_front_door import registration
from tests.unit.marriage.people import NINGXIA, clerk, couple
from tongban.audit.v1 import audit_service_pb2 as api
from tongban.audit.v1 import audit_service_pb2_grpc as api_grpc
from tongban.marriage.v1 import marriage_service_pb2_grpc as marriage_grpc

AUDITOR = Actor(kind="clerk", clerk_id="A-17", office_code="640104-MRO-01", region=NINGXIA, role="auditor")


@dataclass
class Door:
    store: EventStore
    channel: grpc.Channel

    def audit(self, method: str, request: Any, actor: Actor = AUDITOR) -> Any:
        return getattr(api_grpc.AuditServiceStub(self.channel), method)(
            request, metadata=actor_metadata(actor), timeout=30)

    def register(self, husband: str, wife: str) -> str:
        answer = marriage_grpc.MarriageServiceStub(self.channel).RegisterMarriage(
            registration(husband, wife), metadata=actor_metadata(clerk()), timeout=30)
        return str(answer.case.case_id)


@pytest.fixture
def door(tmp_path: Path) -> Iterator[Door]:
    store = EventStore.open(sqlite_url(tmp_path / "marriage.db"), region=NINGXIA, service="marriage",
                            clock=FakeClock())
    marriage = bootstrap(Infrastructure.over(store))
    audit = audit_servicer_adder(store, region=NINGXIA, service="marriage", clock=store.clock)
    server, port = create_server("127.0.0.1:0", servicers=[marriage.servicer, audit],
                                 authenticator=authenticator(NINGXIA))
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Door(store, channel)
    finally:
        server.stop(grace=None)
        store.close()


def _refused(door: Door, method: str, request: Any, actor: Actor = AUDITOR) -> tuple[grpc.StatusCode, str]:
    before = door.store.head()
    with pytest.raises(grpc.RpcError) as refused:
        door.audit(method, request, actor)
    assert door.store.head() == before, "a refused read records nothing"
    details = error_details(refused.value)
    return details.code, details.rule or ",".join(v.field for v in details.field_violations)


def test_only_an_auditor_with_a_reason_reads_a_thread_or_looks_a_person_up_个保法_34(door: Door) -> None:
    people = couple()
    case_id = door.register(people.husband, people.wife)
    trail = api.GetCaseTrailRequest(case_id=case_id, reason="complaint 88")
    lookup = api.FindPersonCasesRequest(citizen_id=people.wife, reason="complaint 88")
    assert _refused(door, "GetCaseTrail", trail, clerk()) == (grpc.StatusCode.PERMISSION_DENIED,
                                                             "AuditorsReadWithAReason")
    assert _refused(door, "FindPersonCases", lookup, clerk()) == (grpc.StatusCode.PERMISSION_DENIED,
                                                                 "AuditorsReadWithAReason")
    assert _refused(door, "GetCaseTrail", api.GetCaseTrailRequest(case_id=case_id)) == (
        grpc.StatusCode.INVALID_ARGUMENT, "reason")
    too_many = api.GetCaseTrailRequest(case_id=case_id, reason="x", correlation_ids=[f"t-{n}" for n in range(51)])
    assert _refused(door, "GetCaseTrail", too_many) == (grpc.StatusCode.INVALID_ARGUMENT, "correlation_ids")
    wrong_check = people.wife[:17] + ("0" if people.wife[17] != "0" else "1")  # GB 11643 check character
    assert _refused(door, "FindPersonCases", api.FindPersonCasesRequest(citizen_id=wrong_check, reason="x")) == (
        grpc.StatusCode.INVALID_ARGUMENT, "citizen_id")


def test_an_auditor_reads_the_thread_with_provenance_and_the_read_is_recorded_on_it_个保法_34(door: Door) -> None:
    people = couple()
    case_id = door.register(people.husband, people.wife)
    answer = door.audit("GetCaseTrail", api.GetCaseTrailRequest(case_id=case_id, reason="complaint 88"))
    assert (answer.region, answer.service) == (NINGXIA, "marriage")
    mine = [e for e in answer.events if e.stream_id == case_id]
    assert mine and mine[0].actor.clerk_id == clerk().clerk_id and mine[0].actor.office_code == clerk().office_code
    assert mine[0].kind == "case" and json.loads(mine[0].payload_json)
    assert all(e.correlation_id in answer.correlation_ids for e in answer.events)
    [read] = door.store.read_stream(reads_stream(case_id))
    assert read.event_id == answer.read_event_id and read.type == AUDITOR_READ_TYPE
    assert read.message().reason == "complaint 88" and read.actor.clerk_id == "A-17"  # type: ignore[attr-defined]

    # The next read shows the first one (the auditor's read is on the case's own thread).
    again = door.audit("GetCaseTrail", api.GetCaseTrailRequest(case_id=case_id, reason="follow-up"))
    assert any(e.kind == "audit" and e.event_id == answer.read_event_id for e in again.events)

    nothing = door.audit("GetCaseTrail", api.GetCaseTrailRequest(case_id="marriage-640000-none", reason="x"))
    assert list(nothing.events) == [] and nothing.read_event_id == "", "nothing found: nobody's data was read"


def test_an_auditor_finds_a_persons_cases_and_the_lookup_is_recorded_with_the_person_个保法_34(door: Door) -> None:
    people, others = couple(), couple()
    first = door.register(people.husband, people.wife)
    door.register(others.husband, others.wife)
    answer = door.audit("FindPersonCases", api.FindPersonCasesRequest(citizen_id=people.wife, reason="complaint 9"))
    assert first in [c.stream_id for c in answer.cases]
    assert not any(c.stream_id.startswith(("reads-", "audit-reads")) for c in answer.cases)
    case = next(c for c in answer.cases if c.stream_id == first)
    assert (case.version >= 1 and case.first_type.endswith("Applied")) or case.first_type
    [read] = door.store.read_stream(PERSON_READS_STREAM)
    message = read.message()
    assert read.event_id == answer.read_event_id
    assert message.citizen_id == people.wife and first in message.streams  # type: ignore[attr-defined]

    # A second lookup of the same person does not find the record of the first as one of their cases.
    again = door.audit("FindPersonCases", api.FindPersonCasesRequest(citizen_id=people.wife, reason="again"))
    assert [c.stream_id for c in again.cases] == [c.stream_id for c in answer.cases]


@pytest.mark.postgres
def test_a_person_is_found_by_the_bytes_of_their_id_on_postgresql_too(postgres_url: str) -> None:
    from services.common.events import NewEvent
    from tongban.audit.v1 import reads_pb2

    store = EventStore.open(postgres_url, region=NINGXIA, service="marriage", clock=FakeClock())
    try:
        store.create_schema()
        people = couple()
        message = reads_pb2.AuditorRead(request="probe", citizen_id=people.wife)  # any payload naming the ID
        event = NewEvent.from_message(message, event_id="e-1", actor=AUDITOR, correlation_id="c-1",
                                      occurred_at=store.clock.now())
        store.append("case-1", "test.Case", None, [event])
        assert _streams_naming(store, people.wife) == ["case-1"]
        assert _streams_naming(store, people.husband) == []
    finally:
        store.close()
