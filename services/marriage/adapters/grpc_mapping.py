"""gRPC messages (tongban.marriage.v1) ↔ commands and views. Only translation: what an absent
field means is decided here (an unset message is None, so validation can name it), what it must
hold is decided by the commands."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.events import RecordedEvent, to_micros
from services.marriage.adapters.cases import CaseAggregate, OneShotCase, case_type
from services.marriage.adapters.payloads import from_message, to_message
from services.marriage.application.queries import CasePage, CaseWithHistory
from services.marriage.domain import commands
from services.marriage.domain.divorce import Divorce
from services.marriage.domain.events import CertificateReissued
from services.marriage.domain.marriage import Marriage
from services.marriage.domain.reissue import RemoteReissue
from services.marriage.domain.values import DivorceAgreement, JudgmentKind, MarriageDeclaration, Spouse
from services.marriage.projections.read_models import CaseListRow
from tongban.common.v1 import types_pb2
from tongban.marriage.v1 import marriage_service_pb2 as api

# -- requests → commands ------------------------------------------------------------------------


def register_marriage(request: api.RegisterMarriageRequest) -> commands.RegisterMarriage:
    return commands.RegisterMarriage(_party(request, "party_a"), _party(request, "party_b"))


def _party(request: api.RegisterMarriageRequest, name: str) -> commands.PartyInput:
    party: api.PartyInput = getattr(request, name)
    declaration = from_message(party.declaration) if party.HasField("declaration") else None
    assert declaration is None or isinstance(declaration, MarriageDeclaration)
    proof = from_message(party.proof) if party.HasField("proof") else None
    if proof is not None:
        proof = replace(proof, kind=proof.kind.strip(), number=proof.number.strip(), issued_by=proof.issued_by.strip())
    return commands.PartyInput(party.citizen_id.strip(), party.name, declaration, party.declared_status.strip(), proof)


def receive_divorce(request: api.ReceiveDivorceRequest) -> commands.ReceiveDivorce:
    agreement = from_message(request.agreement) if request.HasField("agreement") else None
    assert agreement is None or isinstance(agreement, DivorceAgreement)
    return commands.ReceiveDivorce(
        marriage_case_id=request.marriage_case_id.strip(),
        spouse_a=Spouse(request.spouse_a.citizen_id.strip(), request.spouse_a.name),
        spouse_b=Spouse(request.spouse_b.citizen_id.strip(), request.spouse_b.name),
        agreement=agreement, both_appear_in_person=request.both_appear_in_person,
    )


def withdraw_divorce(request: api.WithdrawDivorceRequest) -> commands.WithdrawDivorce:
    return commands.WithdrawDivorce(request.divorce_case_id.strip(), request.citizen_id.strip(), request.reason)


def request_divorce_certificate(request: api.RequestDivorceCertificateRequest) -> commands.RequestDivorceCertificate:
    return commands.RequestDivorceCertificate(request.divorce_case_id.strip(), request.both_appear_in_person)


def register_divorce(request: api.RegisterDivorceRequest) -> commands.RegisterDivorce:
    return commands.RegisterDivorce(request.divorce_case_id.strip())


def reissue_certificate(request: api.ReissueCertificateRequest) -> commands.ReissueCertificate:
    return commands.ReissueCertificate(request.record_case_id.strip(), request.applicant_citizen_id.strip(),
                                       request.reason)


def query_marital_status(request: api.QueryMaritalStatusRequest) -> commands.QueryMaritalStatus:
    return commands.QueryMaritalStatus(request.citizen_id.strip(), request.reason, request.requesting_body)


_JUDGMENTS = {api.JUDGMENT_VOID: JudgmentKind.VOID, api.JUDGMENT_ANNULLED: JudgmentKind.ANNULLED}


def record_court_judgment(request: api.RecordCourtJudgmentRequest) -> commands.RecordCourtJudgment:
    return commands.RecordCourtJudgment(
        marriage_case_id=request.marriage_case_id.strip(), judgment=_JUDGMENTS.get(request.judgment),
        court=request.court, judgment_number=request.judgment_number,
        judgment_date=_date_or_none(request.judgment_date) if request.HasField("judgment_date") else None,
        ground=request.ground,
    )


def _date_or_none(message: types_pb2.Date) -> date | None:
    try:
        return date(message.year, message.month, message.day)
    except ValueError:
        return None  # the command names the field as "a real calendar date"


# -- views --------------------------------------------------------------------------------------


def case_message(found: CaseWithHistory) -> api.Case:
    case = found.case
    message = api.Case(
        case_id=case.case_id, case_type=case_type(case), state=_state(case), version=case.version,
        opened_at=_timestamp(case.opened_at), updated_at=_timestamp(case.updated_at),
        history=[history_entry(e) for e in found.history],
    )
    if isinstance(case, Marriage):
        message.office_code, message.region = case.office_code, case.region
        message.marriage.CopyFrom(_marriage_detail(case))
    elif isinstance(case, Divorce):
        message.office_code, message.region = case.office_code, case.region
        message.divorce.CopyFrom(_divorce_detail(case))
    elif isinstance(case, RemoteReissue):
        message.office_code, message.region = case.requested.office_code, case.requested.region
        detail = message.reissue
        detail.requested.CopyFrom(to_message(case.requested))
        if case.archive is not None:
            detail.archive.CopyFrom(to_message(case.archive))
        if case.issued is not None:
            detail.issued.CopyFrom(to_message(case.issued))
        detail.refusal_reason = case.refusal_reason
    else:
        message.office_code, message.region = case.event.office_code, case.event.region
        if isinstance(case.event, CertificateReissued):
            message.reissue.issued.CopyFrom(to_message(case.event))
        else:
            message.status_query.answer.CopyFrom(to_message(case.event))
    return message


def _state(case: CaseAggregate) -> str:
    if isinstance(case, OneShotCase | RemoteReissue):
        return str(case.state)
    return case.state.value if case.state else ""


def _marriage_detail(m: Marriage) -> api.MarriageDetail:
    detail = api.MarriageDetail(
        party_a=to_message(m.party_a), party_b=to_message(m.party_b), application_date=_date(m.application_date),
        certificate_number=m.certificate_number, registered_on=_date(m.registered_on),
        open_divorce_case_id=m.open_divorce_case_id, granted_claim_ids=sorted(m.granted),
    )
    if m.refusal is not None:
        detail.refusal_rule, detail.refusal_reason = m.refusal.rule, m.refusal.reason
        detail.holder_region = m.refusal.holder_region
    if m.dissolution is not None:
        detail.dissolved_by_divorce_case_id = m.dissolution.divorce_case_id
        detail.dissolved_on.CopyFrom(_date(m.dissolution.dissolved_on))
    if m.judgment is not None:
        detail.judgment.CopyFrom(to_message(m.judgment))
    return detail


def _divorce_detail(d: Divorce) -> api.DivorceDetail:
    return api.DivorceDetail(
        marriage_case_id=d.marriage_case_id, spouse_a=to_message(d.spouse_a), spouse_b=to_message(d.spouse_b),
        agreement=to_message(d.agreement), received_on=_date(d.received_on),
        cooling_off_last_day=_date(d.cooling_off_last_day), window_last_day=_date(d.window_last_day),
        provisional_calendar=d.provisional_calendar, certificate_number=d.certificate_number,
        registered_on=_date(d.registered_on), withdrawn_by=d.withdrawn_by, closing_reason=d.closing_reason,
        record_region=d.record_region, record_step=d.record_step.value if d.record_step else "",
    )


def history_entry(event: RecordedEvent) -> api.HistoryEntry:
    return api.HistoryEntry(
        version=event.version, event_id=event.event_id, type=event.type,
        occurred_at=_timestamp(event.occurred_at), recorded_at=_timestamp(event.recorded_at),
        actor=event.actor.to_proto(), correlation_id=event.correlation_id, causation_id=event.causation_id,
        payload_json=_payload_json(event),
    )


def _payload_json(event: RecordedEvent) -> str:
    try:
        return json_format.MessageToJson(event.message(), preserving_proto_field_name=True, indent=None,
                                         ensure_ascii=False)
    except LookupError:  # a payload type this process cannot decode: show that, not nothing
        return f'{{"undecodable_type": "{event.type}"}}'


def case_page(page: CasePage) -> api.ListCasesResponse:
    return api.ListCasesResponse(cases=[_summary(row) for row in page.cases], next_page_token=page.next_page_token)


def _summary(row: CaseListRow) -> api.CaseSummary:
    return api.CaseSummary(
        case_id=row.case_id, case_type=row.case_type, state=row.state, office_code=row.office_code,
        opened_at=_timestamp(row.opened_at), updated_at=_timestamp(row.updated_at), due_on=_date(row.due_on),
        party_names=list(row.party_names), related_case_id=row.related_case_id,
    )


def _date(value: date | None) -> types_pb2.Date | None:
    return None if value is None else types_pb2.Date(year=value.year, month=value.month, day=value.day)


def _timestamp(instant: datetime | None) -> Timestamp | None:
    if instant is None:
        return None
    micros = to_micros(instant)
    return Timestamp(seconds=micros // 1_000_000, nanos=(micros % 1_000_000) * 1000)

