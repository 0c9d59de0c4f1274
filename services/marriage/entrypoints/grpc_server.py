"""The gRPC servicer of tongban.marriage.v1.MarriageService. It only translates: request →
command (adapters), the handler does the work, the case is read back as the answer. The caller's
actor comes from grpc_context's interceptor, which also maps every refusal to its status
(architecture invariant 7). Every command passes its request id and fingerprint (`_request`): a
retry gets the first answer (invariant 9)."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from google.protobuf.message import Message

from services.common.grpc_context import current_actor
from services.common.kit import Request
from services.common.trust.reads import RecordedReads
from services.marriage.adapters import grpc_mapping as mapping
from services.marriage.application import handlers, queries
from services.marriage.application.calendar_admin import import_calendar_notice
from services.marriage.application.unit import Deps
from tongban.marriage.v1 import marriage_service_pb2 as api
from tongban.marriage.v1 import marriage_service_pb2_grpc as api_grpc


class MarriageServicer(api_grpc.MarriageServiceServicer):
    def __init__(self, deps: Deps, reads: RecordedReads) -> None:
        self.deps = deps
        self.reads = reads

    def RegisterMarriage(self, request: api.RegisterMarriageRequest,
                         context: grpc.ServicerContext) -> api.RegisterMarriageResponse:
        command = mapping.register_marriage(request)
        case_id, recorded = handlers.register_marriage_as_recorded(self.deps, command, current_actor(),
                                                                   _request(request))
        if recorded is not None and (request.wait_seconds <= 0 or not queries.waits_for_another(recorded.case)):
            # Nothing to wait for: the case as this call recorded it, not read back from the store.
            return api.RegisterMarriageResponse(case=mapping.case_message(recorded))
        return api.RegisterMarriageResponse(case=self._settled(case_id, request.wait_seconds, context))

    def ReceiveDivorce(self, request: api.ReceiveDivorceRequest,
                       context: grpc.ServicerContext) -> api.ReceiveDivorceResponse:
        command = mapping.receive_divorce(request)
        case_id = handlers.receive_divorce(self.deps, command, current_actor(), _request(request))
        return api.ReceiveDivorceResponse(case=self._case(case_id))

    def WithdrawDivorce(self, request: api.WithdrawDivorceRequest,
                        context: grpc.ServicerContext) -> api.WithdrawDivorceResponse:
        command = mapping.withdraw_divorce(request)
        case_id = handlers.withdraw_divorce(self.deps, command, current_actor(), _request(request))
        return api.WithdrawDivorceResponse(case=self._case(case_id))

    def RequestDivorceCertificate(self, request: api.RequestDivorceCertificateRequest,
                                  context: grpc.ServicerContext) -> api.RequestDivorceCertificateResponse:
        command = mapping.request_divorce_certificate(request)
        case_id = handlers.request_divorce_certificate(self.deps, command, current_actor(), _request(request))
        return api.RequestDivorceCertificateResponse(case=self._case(case_id))

    def RegisterDivorce(self, request: api.RegisterDivorceRequest,
                        context: grpc.ServicerContext) -> api.RegisterDivorceResponse:
        command = mapping.register_divorce(request)
        case_id = handlers.register_divorce(self.deps, command, current_actor(), _request(request))
        return api.RegisterDivorceResponse(case=self._case(case_id))

    def ReissueCertificate(self, request: api.ReissueCertificateRequest,
                           context: grpc.ServicerContext) -> api.ReissueCertificateResponse:
        command = mapping.reissue_certificate(request)
        case_id = handlers.reissue_certificate(self.deps, command, current_actor(), _request(request))
        return api.ReissueCertificateResponse(case=self._settled(case_id, request.wait_seconds, context))

    def QueryMaritalStatus(self, request: api.QueryMaritalStatusRequest,
                           context: grpc.ServicerContext) -> api.QueryMaritalStatusResponse:
        command = mapping.query_marital_status(request)
        case_id = handlers.query_marital_status(self.deps, command, current_actor(), _request(request))
        return api.QueryMaritalStatusResponse(case=self._case(case_id))

    def RecordCourtJudgment(self, request: api.RecordCourtJudgmentRequest,
                            context: grpc.ServicerContext) -> api.RecordCourtJudgmentResponse:
        command = mapping.record_court_judgment(request)
        case_id = handlers.record_court_judgment(self.deps, command, current_actor(), _request(request))
        return api.RecordCourtJudgmentResponse(case=self._case(case_id))

    def ImportCalendarNotice(self, request: api.ImportCalendarNoticeRequest,
                             context: grpc.ServicerContext) -> api.ImportCalendarNoticeResponse:
        imported = import_calendar_notice(self.deps, request.notice_json, current_actor(), _request(request))
        notice = imported.recorded.notice
        return api.ImportCalendarNoticeResponse(
            year=notice.year, version=imported.recorded.version, provisional=notice.provisional,
            notice_number=notice.notice_number, holidays=len(notice.holidays),
            make_up_working_days=len(notice.make_up_working_days), stream_id=imported.stream_id)

    def GetCase(self, request: api.GetCaseRequest, context: grpc.ServicerContext) -> api.GetCaseResponse:
        # Personal data: authorised by role and office, and recorded before it is answered.
        actor = current_actor()
        self.reads.may_read(actor)
        found = queries.get_case(self.deps, request.case_id.strip())
        case = mapping.case_message(found)
        self.reads.case(actor, case_id=case.case_id, case_office=case.office_code,
                        correlation_id=found.history[0].correlation_id, reason=request.reason)
        return api.GetCaseResponse(case=case)

    def ListCases(self, request: api.ListCasesRequest, context: grpc.ServicerContext) -> api.ListCasesResponse:
        actor = current_actor()
        office = self.reads.office(actor, request.office_code.strip(), reason=request.reason)
        page = queries.list_office_cases(
            self.deps, office_code=office,
            case_type=request.case_type.strip(), state=request.state.strip(), queue=request.queue.strip(),
            page_size=request.page_size, page_token=request.page_token,
        )
        self.reads.listed(actor, office_code=office, case_ids=[row.case_id for row in page.cases],
                          reason=request.reason)
        return mapping.case_page(page)

    def _settled(self, case_id: str, wait_seconds: float, context: grpc.ServicerContext) -> api.Case:
        # Never wait past the caller's own deadline: it would get DEADLINE_EXCEEDED, not its case.
        remaining = context.time_remaining()
        timeout = wait_seconds if remaining is None else min(wait_seconds, max(0.0, remaining - 0.5))
        return mapping.case_message(queries.wait_until_settled(self.deps, case_id, timeout))

    def _case(self, case_id: str) -> api.Case:
        return mapping.case_message(queries.get_case(self.deps, case_id))


def _request(message: Message) -> Request | None:
    # How long the caller waits for the answer is not part of what it asks.
    ignoring = ("wait_seconds",) if "wait_seconds" in message.DESCRIPTOR.fields_by_name else ()
    return Request.of(message, ignoring=ignoring)


def marriage_servicer(deps: Deps, reads: RecordedReads) -> Callable[[grpc.Server], None]:
    """An adder for `create_server(servicers=[...])`."""
    servicer = MarriageServicer(deps, reads)
    return lambda server: api_grpc.add_MarriageServiceServicer_to_server(servicer, server)
