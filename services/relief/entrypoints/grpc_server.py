"""The gRPC servicer of tongban.relief.v1.ReliefService. It only translates: request → command
(adapters), the handler does the work, the case is read back as the answer. The caller's actor comes
from grpc_context's interceptor, which also maps every refusal to its status (invariant 7). Every
command passes its request id and fingerprint: a retry gets the first answer (invariant 9).

Most commands are one step of a case carrying a few fields, so they are declared as a table
(COMMANDS) rather than written out one method each; each entry still names its request type,
its translation and its handler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.message import Message

from services.common.deadline_adherence import statistics_scope
from services.common.grpc_context import current_actor
from services.common.kit import Request
from services.common.trust.reads import ReadPolicy, RecordedReads
from services.relief.adapters import grpc_mapping as mapping
from services.relief.application import handlers as h
from services.relief.application import handoffs, queries
from services.relief.application.unit import Deps
from services.relief.domain import commands as c
from tongban.common.v1 import statistics_pb2
from tongban.relief.v1 import relief_service_pb2 as api
from tongban.relief.v1 import relief_service_pb2_grpc as api_grpc

# rpc name → (request → command, handler)
COMMANDS: dict[str, tuple[Callable[[Any], Any], Callable[..., str]]] = {
    "ApplyForDibao": (mapping.apply_for_dibao, h.apply_for_dibao),
    "AcceptDibao": (mapping.step, h.accept_dibao),
    "StartInvestigation": (mapping.step, h.start_investigation),
    "RecordHomeVisit": (lambda r: c.RecordHomeVisit(r.case_id, r.first_visitor, r.second_visitor, r.by_county,
                                                    r.findings), h.record_home_visit),
    "RecordDemocraticReview": (lambda r: mapping.step(r, "outcome"), h.record_democratic_review),
    "GiveTownshipOpinion": (lambda r: c.GiveTownshipOpinion(r.case_id, r.recommends, r.reasons),
                            h.give_township_opinion),
    "StartPublicNotice": (mapping.step, h.start_public_notice),
    "RaiseObjection": (lambda r: mapping.step(r, "objection"), h.raise_objection),
    "AnswerObjection": (lambda r: c.AnswerObjection(r.case_id, r.objection_id, r.answer), h.answer_objection),
    "DecideDibao": (lambda r: c.Decide(r.case_id, r.approve, r.reasons), h.decide_dibao),
    "NotifyRefusal": (lambda r: mapping.step(r, "reference"), h.notify_refusal),
    "RecordIncomeChange": (lambda r: c.RecordIncomeChange(r.case_id, r.citizen_id, r.earned_income_fen,
                                                          r.other_income_fen), h.record_income_change),
    "RecordReview": (lambda r: mapping.step(r, "findings"), h.record_review),
    "ApplyForAssistance": (mapping.apply_for_assistance, h.apply_for_assistance),
    "PayUrgently": (lambda r: c.PayUrgently(r.case_id, r.amount_fen), h.pay_urgently),
    "CompleteProof": (lambda r: mapping.step(r, "documents"), h.complete_proof),
    "ReferToRescueAgency": (lambda r: mapping.step(r, "reason"), h.refer_to_rescue_agency),
    "DecideAssistance": (lambda r: c.Decide(r.case_id, r.approve, r.reasons, r.amount_fen), h.decide_assistance),
}


# Who reads households (个人信息保护法 第三十四条): township windows their office's, county
# approvers and finance every case of the county, auditors the region's — with a reason beyond
# that. Every read is recorded (services/common/trust/reads.py).
READ_POLICY = ReadPolicy(office_roles=frozenset({"relief", "window", "clerk", "reviewer"}),
                         county_roles=frozenset({"approver", "finance"}))


class ReliefServicer(api_grpc.ReliefServiceServicer):
    def __init__(self, deps: Deps, reads: RecordedReads) -> None:
        self.deps = deps
        self.reads = reads

    def AnswerEconomicCheck(self, request: api.AnswerEconomicCheckRequest,
                            context: grpc.ServicerContext) -> api.AnswerEconomicCheckResponse:
        handoff_id = handoffs.answer_economic_check(self.deps, mapping.economic_check_answer(request),
                                                    current_actor(), Request.of(request))
        return api.AnswerEconomicCheckResponse(handoff_id=handoff_id, state="completed")

    def GetCase(self, request: api.GetCaseRequest, context: grpc.ServicerContext) -> api.GetCaseResponse:
        # Personal data (a household's members, incomes, assets): authorised and recorded first.
        actor = current_actor()
        self.reads.may_read(actor)
        found = queries.get_case(self.deps, request.case_id.strip())
        case = mapping.case_message(found)
        self.reads.case(actor, case_id=case.summary.case_id, case_office=case.summary.office_code,
                        correlation_id=found.history[0].correlation_id, reason=request.reason)
        return api.GetCaseResponse(case=case)

    def ListCases(self, request: api.ListCasesRequest, context: grpc.ServicerContext) -> api.ListCasesResponse:
        actor = current_actor()
        office = self.reads.office(actor, request.office_code.strip(), reason=request.reason)
        rows = queries.office_queue(self.deps, office_code=office, queue=request.queue, page_size=request.page_size)
        self.reads.listed(actor, office_code=office, case_ids=[row.case_id for row in rows], reason=request.reason)
        return api.ListCasesResponse(cases=[mapping.summary(r) for r in rows])

    def CountDeadlines(self, request: api.CountDeadlinesRequest,
                       context: grpc.ServicerContext) -> api.CountDeadlinesResponse:
        prefix = statistics_scope(self.reads.policy, current_actor())
        rows = queries.deadline_adherence(self.deps, office_prefix=prefix)
        return api.CountDeadlinesResponse(offices=[statistics_pb2.OfficeDeadlines(**vars(row)) for row in rows])

    def GetHousehold(self, request: api.GetHouseholdRequest,
                     context: grpc.ServicerContext) -> api.GetHouseholdResponse:
        rows = queries.household(self.deps, request.citizen_id, request.reason, current_actor())
        return api.GetHouseholdResponse(cases=[mapping.summary(r) for r in rows])


def _command_method(name: str) -> Callable[..., Message]:
    translate, handler = COMMANDS[name]
    response_type = getattr(api, f"{name}Response")

    def method(self: ReliefServicer, request: Message, context: grpc.ServicerContext) -> Message:
        answered = handler(self.deps, translate(request), current_actor(), Request.of(request))
        case_id = request.case_id if name == "RaiseObjection" else answered  # type: ignore[attr-defined]
        answer = response_type(case_id=case_id, state=queries.get_case(self.deps, case_id).case.state)
        if name == "RaiseObjection":
            answer.objection_id = answered  # the handler answers with the objection it recorded
        return answer  # type: ignore[no-any-return]

    method.__name__ = name
    return method


for _name in COMMANDS:
    setattr(ReliefServicer, _name, _command_method(_name))


def relief_servicer(deps: Deps, reads: RecordedReads) -> Callable[[grpc.Server], None]:
    """An adder for `create_server(servicers=[...])`."""
    servicer = ReliefServicer(deps, reads)
    return lambda server: api_grpc.add_ReliefServiceServicer_to_server(servicer, server)
