"""The national auditor (issue 16): one issuer every region trusts, for audit reads only. Two
regions' front doors (real gRPC on loopback, SQLite stores), each trusting its own identity provider
and the national one. A national token is answered by both regions' AuditService and the read
recorded in each (个人信息保护法 第三十四条: with the auditor and the reason); it is refused on
every command and every other read, nothing stored (NationalAuditorsOnlyReadForAudit); a region
still refuses another region's clerks, and a token signed by a key outside the national directory
proves nothing (architecture invariant 8)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.common.audit.front_door_reads import PERSON_READS_STREAM
from services.common.audit.grpc_api import audit_servicer_adder
from services.common.audit.trail import AUDITOR_READ_TYPE, reads_stream
from services.common.clock import FakeClock
from services.common.grpc_context import create_server, error_details, token_metadata
from services.common.store import EventStore, sqlite_url
from services.common.trust.national import NATIONAL, NATIONAL_AUDITOR_ROLE
from services.common.trust.tokens import IdentityProvider
from services.host import Infrastructure
from services.marriage.bootstrap import bootstrap
from tests.fixtures.trust import authenticator, national_token, token_for
from tests.integration.marriage_front_door import registration
from tests.unit.marriage.people import GUANGYUAN_OFFICE, NINGXIA, SICHUAN, clerk, couple
from tongban.audit.v1 import audit_service_pb2 as api
from tongban.audit.v1 import audit_service_pb2_grpc as api_grpc
from tongban.marriage.v1 import marriage_service_pb2 as mpb
from tongban.marriage.v1 import marriage_service_pb2_grpc as marriage_grpc

Doors = dict[str, tuple[EventStore, grpc.Channel]]


@pytest.fixture
def doors(tmp_path: Path) -> Iterator[Doors]:
    with ExitStack() as stack:
        found: Doors = {}
        for region in (NINGXIA, SICHUAN):
            store = EventStore.open(sqlite_url(tmp_path / f"{region}.db"), region=region, service="marriage",
                                    clock=FakeClock())
            stack.callback(store.close)
            marriage = bootstrap(Infrastructure.over(store))
            audit = audit_servicer_adder(store, region=region, service="marriage", clock=store.clock)
            server, port = create_server("127.0.0.1:0", servicers=[marriage.servicer, audit],
                                         authenticator=authenticator(region))
            server.start()
            stack.callback(server.stop, None)
            found[region] = (store, stack.enter_context(grpc.insecure_channel(f"127.0.0.1:{port}")))
        yield found


def _register(doors: Doors, region: str, husband: str, wife: str) -> str:
    registrar = clerk() if region == NINGXIA else clerk(GUANGYUAN_OFFICE, SICHUAN)
    answer = marriage_grpc.MarriageServiceStub(doors[region][1]).RegisterMarriage(
        registration(husband, wife), metadata=token_metadata(token_for(registrar)), timeout=30)
    return str(answer.case.case_id)


def _call(doors: Doors, region: str, stub: Any, method: str, request: Any, token: str) -> Any:
    return getattr(stub(doors[region][1]), method)(request, metadata=token_metadata(token), timeout=30)


def _refused(doors: Doors, region: str, stub: Any, method: str, request: Any, token: str) -> tuple[str, str]:
    store = doors[region][0]
    before = store.head()
    with pytest.raises(grpc.RpcError) as refused:
        _call(doors, region, stub, method, request, token)
    assert store.head() == before, "a refused call stores nothing"
    details = error_details(refused.value)
    return details.code.name, details.rule or details.message


def test_both_regions_answer_the_national_auditor_and_record_the_read_in_each_个保法_34(doors: Doors) -> None:
    people = {NINGXIA: couple(), SICHUAN: couple("510802")}
    cases = {region: _register(doors, region, p.husband, p.wife) for region, p in people.items()}
    token, reason = national_token("na-01"), "national inspection 3"
    for region, case_id in cases.items():
        answer = _call(doors, region, api_grpc.AuditServiceStub, "GetCaseTrail",
                       api.GetCaseTrailRequest(case_id=case_id, reason=reason), token)
        assert answer.region == region and any(e.stream_id == case_id for e in answer.events)
        [read] = doors[region][0].read_stream(reads_stream(case_id))
        assert read.type == AUDITOR_READ_TYPE and read.event_id == answer.read_event_id
        assert (read.actor.clerk_id, read.actor.role, read.actor.region) == ("na-01", NATIONAL_AUDITOR_ROLE, NATIONAL)
        assert read.message().reason == reason  # type: ignore[attr-defined]

        lookup = _call(doors, region, api_grpc.AuditServiceStub, "FindPersonCases",
                       api.FindPersonCasesRequest(citizen_id=people[region].wife, reason=reason), token)
        assert case_id in [c.stream_id for c in lookup.cases]
        [looked] = doors[region][0].read_stream(PERSON_READS_STREAM)
        assert looked.actor.clerk_id == "na-01" and looked.message().citizen_id == people[region].wife  # type: ignore

        verified = _call(doors, region, api_grpc.AuditServiceStub, "VerifyStore", api.VerifyStoreRequest(), token)
        assert verified.ok and verified.region == region

    # The reason is still required of the national auditor.
    assert _refused(doors, SICHUAN, api_grpc.AuditServiceStub, "GetCaseTrail",
                    api.GetCaseTrailRequest(case_id=cases[SICHUAN]), token)[0] == "INVALID_ARGUMENT"


def test_a_national_token_is_refused_on_commands_and_other_reads_nothing_stored_个保法_34(doors: Doors) -> None:
    people = couple()
    case_id = _register(doors, NINGXIA, people.husband, people.wife)
    token = national_token()
    marriage = marriage_grpc.MarriageServiceStub
    others = couple()
    for method, request in (("RegisterMarriage", registration(others.husband, others.wife)),
                            ("GetCase", mpb.GetCaseRequest(case_id=case_id, reason="national inspection")),
                            ("ListCases", mpb.ListCasesRequest())):
        code, rule = _refused(doors, NINGXIA, marriage, method, request, token)
        assert (code, rule) == ("PERMISSION_DENIED", "NationalAuditorsOnlyReadForAudit"), method


def test_a_region_still_refuses_another_regions_clerks_and_forged_national_tokens_invariant_8(doors: Doors) -> None:
    people = couple("510802")
    case_id = _register(doors, SICHUAN, people.husband, people.wife)
    trail = api.GetCaseTrailRequest(case_id=case_id, reason="curious")
    audit = api_grpc.AuditServiceStub
    ningxia_auditor = token_for(clerk(role="auditor"))
    code, message = _refused(doors, SICHUAN, audit, "GetCaseTrail", trail, ningxia_auditor)
    assert code == "UNAUTHENTICATED" and "unknown key id" in message

    # The national issuer's name, signed by a key the national directory does not hold.
    impostor = IdentityProvider(region=NATIONAL, signing_key=Ed25519PrivateKey.generate())
    forged = impostor.issue(clerk_id="na-99", office_code="NAO-01", roles=[NATIONAL_AUDITOR_ROLE], kind="auditor")
    code, message = _refused(doors, SICHUAN, audit, "GetCaseTrail", trail, forged)
    assert code == "UNAUTHENTICATED" and "unknown key id" in message

    # The national IdP's own key, but a role it is not trusted with.
    registrar = national_token(roles=("registrar",))
    code, message = _refused(doors, SICHUAN, marriage_grpc.MarriageServiceStub, "RegisterMarriage",
                             registration(people.wife, people.husband), registrar)
    assert code == "UNAUTHENTICATED" and NATIONAL_AUDITOR_ROLE in message
