"""gRPC messages (tongban.relief.v1) ↔ commands and views. Only translation: what an absent field
means is decided here, what it must hold is decided by the commands."""

from __future__ import annotations

from datetime import date, datetime

from google.protobuf import json_format
from google.protobuf.timestamp_pb2 import Timestamp

from services.common.events import RecordedEvent, to_micros
from services.relief.application.queries import CaseWithHistory
from services.relief.domain import commands as c
from services.relief.domain.events import EconomicCheckAnswered
from services.relief.domain.household import Member
from services.relief.projections.read_models import CaseRow, case_view
from tongban.common.v1 import types_pb2
from tongban.relief.v1 import relief_service_pb2 as api


def apply_for_dibao(r: api.ApplyForDibaoRequest) -> c.ApplyForDibao:
    members = [Member(m.citizen_id.strip(), m.name, m.relation, m.hukou_region, m.residence_permit_region,
                      m.earned_income_fen, m.other_income_fen, m.disability_subsidy_fen, m.assets_fen)
               for m in r.members]
    return c.ApplyForDibao(r.applicant_citizen_id.strip(), members, r.area, r.bank_account, r.special,
                           r.unstable_income)


def apply_for_assistance(r: api.ApplyForAssistanceRequest) -> c.ApplyForAssistance:
    on = date(r.emergency_on.year, r.emergency_on.month, r.emergency_on.day) if r.HasField("emergency_on") else None
    return c.ApplyForAssistance(r.citizen_id.strip(), r.name, r.emergency_place, on, r.cause, r.kind,
                                r.hukou_region, r.residence_permit_region)


def economic_check_answer(r: api.AnswerEconomicCheckRequest) -> EconomicCheckAnswered:
    """What the region of the 户籍 found; the member and region are filled in from the hand-off."""
    return EconomicCheckAnswered(handoff_id=r.handoff_id, citizen_id="", from_region="",
                                 monthly_income_fen=r.monthly_income_fen, deposits_fen=r.deposits_fen,
                                 vehicles=r.vehicles, properties=r.properties, businesses=r.businesses, note=r.note)


def step(r: object, text_field: str = "") -> c.CaseStep:
    return c.CaseStep(r.case_id, getattr(r, text_field) if text_field else "")  # type: ignore[attr-defined]


# -- views --------------------------------------------------------------------------------------


def _date(d: date | None) -> types_pb2.Date | None:
    return types_pb2.Date(year=d.year, month=d.month, day=d.day) if d else None


def _timestamp(at: datetime | None) -> Timestamp | None:
    if at is None:
        return None
    stamp = Timestamp()
    stamp.FromMicroseconds(to_micros(at))
    return stamp


def summary(row: CaseRow) -> api.CaseSummary:
    return api.CaseSummary(case_id=row.case_id, case_type=row.case_type, state=row.state, office_code=row.office_code,
                           applicant_citizen_id=row.applicant_citizen_id, monthly_amount_fen=row.monthly_amount_fen,
                           due_on=_date(row.due_on), overdue=list(row.overdue), relatives_flagged=row.relatives_flagged)


def case_message(found: CaseWithHistory) -> api.Case:
    view = summary(case_view(found.case))
    view.updated_at.CopyFrom(_timestamp(found.case.updated_at))
    region = found.case.region
    return api.Case(summary=view, region=region, version=found.case.version,
                    history=[history_entry(e) for e in found.history])


def history_entry(event: RecordedEvent) -> api.HistoryEntry:
    return api.HistoryEntry(version=event.version, type=event.type, recorded_at=_timestamp(event.recorded_at),
                            actor=f"{event.actor.kind}:{event.actor.clerk_id}@{event.actor.office_code}",
                            payload_json=json_format.MessageToJson(event.message(), preserving_proto_field_name=True,
                                                                   indent=None, ensure_ascii=False))


