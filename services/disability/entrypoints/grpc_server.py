"""The gRPC servicer of tongban.disability.v1.DisabilityService. It only translates: request →
command (adapters), the handler does the work, the application is read back as the answer. The
caller's actor comes from grpc_context's interceptor, which also maps every refusal to its status
(architecture invariant 7). Every command passes its request id and fingerprint: a retry gets the
first answer (invariant 9)."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from services.common.deadline_adherence import statistics_scope
from services.common.grpc_context import current_actor
from services.common.history import history_entries
from services.common.kit import Request
from services.common.trust.reads import ReadPolicy, RecordedReads
from services.disability.adapters import grpc_mapping as mapping
from services.disability.application import handlers, handoffs, queries
from services.disability.application.unit import Deps
from tongban.common.v1 import statistics_pb2
from tongban.disability.v1 import disability_service_pb2 as api
from tongban.disability.v1 import disability_service_pb2_grpc as api_grpc

# Who reads applications (个人信息保护法 第三十四条): the county's windows (township review of
# applications forwarded to the county), 残联, approvers and finance every application of the
# county; auditors the region's, with a reason. Every read is recorded (services/common/trust/reads.py).
READ_POLICY = ReadPolicy(office_roles=frozenset({"clerk", "reviewer"}),
                         county_roles=frozenset({"window", "cdpf", "approver", "finance"}))


class DisabilityServicer(api_grpc.DisabilityServiceServicer):
    def __init__(self, deps: Deps, reads: RecordedReads) -> None:
        self.deps = deps
        self.reads = reads

    def ReceiveApplication(self, request: api.ReceiveApplicationRequest,
                           context: grpc.ServicerContext) -> api.ReceiveApplicationResponse:
        case_id = handlers.receive(self.deps, mapping.receive_application(request), current_actor(),
                                   Request.of(request))
        return api.ReceiveApplicationResponse(case=self._case(case_id))

    def CompleteTownshipReview(self, request: api.CompleteTownshipReviewRequest,
                               context: grpc.ServicerContext) -> api.CompleteTownshipReviewResponse:
        case_id = handlers.complete_stage(self.deps, mapping.complete_township_review(request), current_actor(),
                                          Request.of(request))
        return api.CompleteTownshipReviewResponse(case=self._case(case_id))

    def ConfirmCertificate(self, request: api.ConfirmCertificateRequest,
                           context: grpc.ServicerContext) -> api.ConfirmCertificateResponse:
        case_id = handlers.complete_stage(self.deps, mapping.confirm_certificate(request), current_actor(),
                                          Request.of(request))
        return api.ConfirmCertificateResponse(case=self._case(case_id))

    def ApproveApplication(self, request: api.ApproveApplicationRequest,
                           context: grpc.ServicerContext) -> api.ApproveApplicationResponse:
        case_id = handlers.approve(self.deps, mapping.approve(request), current_actor(), Request.of(request))
        return api.ApproveApplicationResponse(case=self._case(case_id))

    def RefuseApplication(self, request: api.RefuseApplicationRequest,
                          context: grpc.ServicerContext) -> api.RefuseApplicationResponse:
        case_id = handlers.refuse(self.deps, mapping.refuse(request), current_actor(), Request.of(request))
        return api.RefuseApplicationResponse(case=self._case(case_id))

    def StopEntitlement(self, request: api.StopEntitlementRequest,
                        context: grpc.ServicerContext) -> api.StopEntitlementResponse:
        case_id = handlers.stop(self.deps, mapping.stop(request), current_actor(), Request.of(request))
        return api.StopEntitlementResponse(case=self._case(case_id))

    def ResumeEntitlement(self, request: api.ResumeEntitlementRequest,
                          context: grpc.ServicerContext) -> api.ResumeEntitlementResponse:
        case_id = handlers.resume(self.deps, mapping.resume(request), current_actor(), Request.of(request))
        return api.ResumeEntitlementResponse(case=self._case(case_id))

    def RenewCertificate(self, request: api.RenewCertificateRequest,
                         context: grpc.ServicerContext) -> api.RenewCertificateResponse:
        case_id = handlers.renew_certificate(self.deps, mapping.renew(request), current_actor(), Request.of(request))
        return api.RenewCertificateResponse(case=self._case(case_id))

    def ForwardApplication(self, request: api.ForwardApplicationRequest,
                           context: grpc.ServicerContext) -> api.ForwardApplicationResponse:
        case_id = handoffs.forward_application(self.deps, mapping.window_step(request), current_actor(),
                                               Request.of(request))
        return api.ForwardApplicationResponse(case=self._case(case_id))

    def InformApplicant(self, request: api.InformApplicantRequest,
                        context: grpc.ServicerContext) -> api.InformApplicantResponse:
        case_id = handoffs.inform_applicant(self.deps, mapping.window_step(request), current_actor(),
                                            Request.of(request))
        return api.InformApplicantResponse(case=self._case(case_id))

    def RecordDataMatch(self, request: api.RecordDataMatchRequest,
                        context: grpc.ServicerContext) -> api.RecordDataMatchResponse:
        match_id = handlers.record_data_match(self.deps, mapping.data_match(request), current_actor(),
                                              Request.of(request))
        return api.RecordDataMatchResponse(match_id=match_id, affected_case_ids=queries.match_affected(self.deps,
                                                                                                      match_id))

    def GetCase(self, request: api.GetCaseRequest, context: grpc.ServicerContext) -> api.GetCaseResponse:
        # Personal data: authorised by role and scope, and recorded before it is answered.
        actor = current_actor()
        self.reads.may_read(actor)
        case_id = request.case_id.strip()
        case = self._case(case_id)
        history = queries.case_history(self.deps, case_id)
        case.history.extend(history_entries(history))
        self.reads.case(actor, case_id=case_id, case_office=case.office_code,
                        correlation_id=history[0].correlation_id, reason=request.reason)
        return api.GetCaseResponse(case=case)

    def CountDeadlines(self, request: api.CountDeadlinesRequest,
                       context: grpc.ServicerContext) -> api.CountDeadlinesResponse:
        prefix = statistics_scope(self.reads.policy, current_actor())
        rows = queries.deadline_adherence(self.deps, office_prefix=prefix)
        return api.CountDeadlinesResponse(offices=[statistics_pb2.OfficeDeadlines(**vars(row)) for row in rows])

    def ListWork(self, request: api.ListWorkRequest, context: grpc.ServicerContext) -> api.ListWorkResponse:
        actor = current_actor()
        office = self.reads.office(actor, request.office_code.strip(), reason=request.reason)
        items = queries.office_work(self.deps, office=office, stage=request.stage.strip(),
                                    overdue_only=request.overdue_only)
        self.reads.listed(actor, office_code=office, case_ids=[item.case_id for item in items],
                          reason=request.reason, request="ListWork")
        return mapping.work_items(items)

    def _case(self, case_id: str) -> api.Case:
        return mapping.case_message(queries.get_case(self.deps, case_id))


def disability_servicer(deps: Deps, reads: RecordedReads) -> Callable[[grpc.Server], None]:
    """An adder for `create_server(servicers=[...])`."""
    servicer = DisabilityServicer(deps, reads)
    return lambda server: api_grpc.add_DisabilityServiceServicer_to_server(servicer, server)
