"""Requests → commands and applications → answers, for the gRPC servicer. Pure translation: what
a field means is decided by the commands' validation and the domain."""

from __future__ import annotations

from datetime import date

from services.disability.domain.application import Application
from services.disability.domain.commands import (
    ApproveApplication,
    CompleteStage,
    ReceiveApplication,
    RecordDataMatch,
    RefuseApplication,
    RenewCertificate,
    ResumeEntitlement,
    StopEntitlement,
    WindowStep,
)
from services.disability.domain.values import Circumstances, Stage, Subsidy, masked
from services.disability.projections.read_models import WorkItem
from tongban.common.v1 import types_pb2
from tongban.disability.v1 import disability_service_pb2 as api


def _date_or_none(message: types_pb2.Date) -> date | None:
    if not (message.year or message.month or message.day):
        return None
    try:
        return date(message.year, message.month, message.day)
    except ValueError:
        return None  # refused as "required" by the command: not a date


def _date(value: date | None) -> types_pb2.Date | None:
    return None if value is None else types_pb2.Date(year=value.year, month=value.month, day=value.day)


def receive_application(r: api.ReceiveApplicationRequest) -> ReceiveApplication:
    c = r.circumstances
    return ReceiveApplication(
        citizen_id=r.applicant.citizen_id, name=r.applicant.name, hukou_region=r.applicant.hukou_region,
        certificate_number=r.certificate_number, certificate_valid_until=_date_or_none(r.certificate_valid_until),
        household=r.household, bank_account=r.bank_account, living=r.living, nursing=r.nursing,
        circumstances=Circumstances(c.in_tekun_support, c.work_injury_nursing_allowance,
                                    c.orphan_or_unsupported_child, c.similar_subsidy_fen, c.long_term_care_months))


def complete_township_review(r: api.CompleteTownshipReviewRequest) -> CompleteStage:
    return CompleteStage(r.case_id.strip(), Stage.TOWNSHIP_REVIEW, r.note)


def confirm_certificate(r: api.ConfirmCertificateRequest) -> CompleteStage:
    return CompleteStage(r.case_id.strip(), Stage.CERTIFICATE_CHECK, r.note)


def approve(r: api.ApproveApplicationRequest) -> ApproveApplication:
    return ApproveApplication(r.case_id.strip(), r.household)


def refuse(r: api.RefuseApplicationRequest) -> RefuseApplication:
    return RefuseApplication(r.case_id.strip(), r.stage, r.reason)


def stop(r: api.StopEntitlementRequest) -> StopEntitlement:
    return StopEntitlement(r.case_id.strip(), r.subsidy, r.reason, _date_or_none(r.effective_on), r.note)


def resume(r: api.ResumeEntitlementRequest) -> ResumeEntitlement:
    return ResumeEntitlement(r.case_id.strip(), r.subsidy, r.reason)


def renew(r: api.RenewCertificateRequest) -> RenewCertificate:
    return RenewCertificate(r.case_id.strip(), r.certificate_number, _date_or_none(r.issued_on),
                            _date_or_none(r.valid_until))


def window_step(r: api.ForwardApplicationRequest | api.InformApplicantRequest) -> WindowStep:
    return WindowStep(r.case_id.strip(), r.note)


def _result(app: Application) -> str:
    if app.forward_refusal:
        return f"the 户籍 region refused to take it on: {app.forward_refusal}"
    d = app.decided_elsewhere
    if d is None:
        return ""
    if not d.approved:
        return f"refused by region {d.region} on {d.decided_on.isoformat()}: {d.reason}"
    return (f"approved by region {d.region} on {d.decided_on.isoformat()}, from {d.start_month}: "
            f"living {d.living_fen} fen, nursing {d.nursing_fen} fen a month")


def data_match(r: api.RecordDataMatchRequest) -> RecordDataMatch:
    return RecordDataMatch(r.kind, r.citizen_id.strip(), _date_or_none(r.effective_on), r.source,
                           r.new_hukou_region.strip())


def case_message(app: Application) -> api.Case:
    assert app.applicant is not None and app.state is not None
    refusals = [f"{s.value}: {r.rule} ({r.article}): {r.reason}" for s, r in app.refused.items()]
    if app.refusal is not None:
        refusals.append(f"{app.refusal.stage}: {app.refusal.rule} ({app.refusal.article}): {app.refusal.reason}")
    return api.Case(
        case_id=app.case_id, state=app.state.value, office_code=app.office_code, applicant_name=app.applicant.name,
        hukou_region=app.applicant.hukou_region, stage=app.stage.value if app.stage else "",
        stage_due_on=_date(app.stage_due_on), overdue=app.overdue, bank_account_masked=masked(app.bank_account),
        refusals=refusals, version=app.version,
        registry_held=[s.value for s in Subsidy if s in app.claims_granted and s not in app.claims_released],
        forwarded_to=app.forwarded_to, received_from=app.from_region, hukou_region_result=_result(app),
        informed_on=_date(app.informed_on), household=app.household.value, household_source=app.household_source,
        entitlements=[api.EntitlementView(subsidy=s.value, amount_fen=e.amount_fen, start_month=e.start_month,
                                          stop_month=e.stop_month, stop_reason=e.stop_reason,
                                          covered_until=e.covered_until)
                      for s, e in sorted(app.entitlements.items())])


def work_items(items: list[WorkItem]) -> api.ListWorkResponse:
    return api.ListWorkResponse(items=[
        api.WorkItem(case_id=i.case_id, stage=i.stage, office_code=i.office_code, applicant_name=i.applicant_name,
                     due_on=_date(i.due_on), overdue=i.overdue) for i in items])
