"""`tongban.audit.v1.AuditService` on every service's front door: an auditor asks a region's
service whether its store is intact, through the same verified gRPC seam as every other caller
(the web console's auditor pages use it). Hashes only: no personal data leaves, so nothing needs
recording as a read — but only auditors may ask, since a full verification reads the whole log.
A case's thread and a person's cases are personal data: authorised and recorded reads
(front_door_reads.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.audit.front_door_reads import AUDITOR_ROLES, case_trail, person_cases
from services.common.clock import Clock
from services.common.errors import NotAuthorised, RuleViolation
from services.common.grpc_context import current_actor
from services.common.kit.rules import Rule, check
from services.common.store import EventStore
from services.common.store.verify import verify_store
from tongban.audit.v1 import audit_service_pb2 as api
from tongban.audit.v1 import audit_service_pb2_grpc as api_grpc


@dataclass(frozen=True)
class OnlyAuditorsVerifyStores(Rule):
    """A store-wide verification is an auditor's work (architecture: auditors are read-only and
    verify that nothing was altered); a window has no business reading a whole log."""

    article: ClassVar[str] = "Tongban audit: auditors verify stores"
    error: ClassVar[type[RuleViolation]] = NotAuthorised
    role: str

    def is_broken(self) -> bool:
        return self.role not in AUDITOR_ROLES  # a region's auditors, or the national auditor

    @property
    def message(self) -> str:
        return f"only an auditor may verify a store, not a {self.role!r}"


class AuditServicer(api_grpc.AuditServiceServicer):
    def __init__(self, store: EventStore, *, region: str, service: str, clock: Clock) -> None:
        self.store = store
        self.region = region
        self.service = service
        self.clock = clock

    def VerifyStore(self, request: api.VerifyStoreRequest, context: grpc.ServicerContext) -> api.VerifyStoreResponse:
        check(OnlyAuditorsVerifyStores(current_actor().role))
        report = verify_store(self.store)
        checked_at = Timestamp()
        checked_at.FromDatetime(self.clock.now())
        answer = api.VerifyStoreResponse(ok=report.ok, region=self.region, service=self.service,
                                         events_checked=report.events_checked, streams=report.streams,
                                         head_position=report.head_position, checked_at=checked_at)
        if report.problem is not None:
            p = report.problem
            answer.first_bad_event.CopyFrom(api.BadEvent(position=p.position, stream_id=p.stream_id,
                                                         version=p.version, event_id=p.event_id, reason=p.reason))
        return answer

    def GetCaseTrail(self, request: api.GetCaseTrailRequest,
                     context: grpc.ServicerContext) -> api.GetCaseTrailResponse:
        return case_trail(self.store, region=self.region, service=self.service, actor=current_actor(),
                          request=request)

    def FindPersonCases(self, request: api.FindPersonCasesRequest,
                        context: grpc.ServicerContext) -> api.FindPersonCasesResponse:
        return person_cases(self.store, region=self.region, service=self.service, actor=current_actor(),
                            clock=self.clock, request=request)


def audit_servicer_adder(store: EventStore, *, region: str, service: str,
                         clock: Clock) -> Callable[[grpc.Server], None]:
    """For `create_server(servicers=[...])`."""
    servicer = AuditServicer(store, region=region, service=service, clock=clock)
    return lambda server: api_grpc.add_AuditServiceServicer_to_server(servicer, server)
