"""One handler per command: validate, then in one unit of work load (the owner checked), let the
aggregate decide, and record what it decided. Deadlines, registry claims and read models travel
with the events (subscribers.py). Each handler returns the case id; nothing is appended when it
raises (invariant 7); a retry with the same request id returns the first answer (invariant 9)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from services.common.clock import china_date
from services.common.events import Actor
from services.common.identity.case_ids import new_case_id
from services.common.identity.regions import office_region
from services.common.kit import Aggregate, Request
from services.relief.application.unit import Deps, clerk_here, command
from services.relief.domain import assistance as assistance_domain
from services.relief.domain import commands as c
from services.relief.domain import dibao_application as dibao_domain
from services.relief.domain.assistance import Assistance
from services.relief.domain.dibao import Dibao
from services.relief.domain.rules import MayApplyHere, StandardConfigured, check
from services.relief.domain.settings import ReliefSettings
from services.relief.projections.read_models import earlier_help_for

A = TypeVar("A", bound=Aggregate)
Decision = Callable[[Any, date, ReliefSettings], list[Any]]


def _place(actor: Actor) -> str:
    """The county of the office: where the township stands and whose standard applies."""
    region = office_region(actor.office_code)
    return region.value if region else ""


def _step(deps: Deps, actor: Actor, request: Request | None, cls: type[A], case_id: str, decide: Decision) -> str:
    """Load the case, let it decide on today's date with the settings in force, record."""
    provenance = command(deps, actor, case_id)
    clerk_here(deps, actor)
    today = china_date(provenance.occurred_at)
    with deps.units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        case = uow.load(cls, case_id)
        uow.record(case, decide(case, today, deps.settings_now(uow.tx)))
        return uow.answer(case_id)


# -- 低保 ----------------------------------------------------------------------------------------


def apply_for_dibao(deps: Deps, cmd: c.ApplyForDibao, actor: Actor, request: Request | None = None) -> str:
    """申请 at this township: the applicant's 户籍 place, or where a residence-permit holder lives."""
    case_id = new_case_id("dibao", deps.region)
    provenance = command(deps, actor, case_id)
    today = china_date(provenance.occurred_at)
    applicant, members, area = cmd.validated(today)
    clerk_here(deps, actor)
    place = _place(actor)
    me = next(m for m in members if m.citizen_id == applicant)
    check(MayApplyHere(place, me.hukou_region, me.residence_permit_region))
    settings = deps.settings_now()
    check(StandardConfigured(place, area.value, settings.standard(place, area)))
    route = "hukou" if me.hukou_region == place else "residence_permit"
    events = dibao_domain.apply_for_dibao(
                             case_id=case_id, office_code=actor.office_code, region=deps.region, place=place,
                             area=area.value, route=route, applicant_citizen_id=applicant, received_on=today,
                             special=cmd.special, unstable_income=cmd.unstable_income, members=members,
                             bank_account=cmd.bank_account, settings=settings)
    with deps.units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        uow.start(Dibao, case_id, events)
        return uow.answer(case_id)


def accept_dibao(deps: Deps, cmd: c.CaseStep, actor: Actor, request: Request | None = None) -> str:
    return _step(deps, actor, request, Dibao, cmd.case_id, lambda case, today, s: case.accept(today, s))


def start_investigation(deps: Deps, cmd: c.CaseStep, actor: Actor, request: Request | None = None) -> str:
    return _step(deps, actor, request, Dibao, cmd.case_id,
                 lambda case, today, s: case.start_investigation(today, deps.region))


def record_home_visit(deps: Deps, cmd: c.RecordHomeVisit, actor: Actor, request: Request | None = None) -> str:
    return _step(deps, actor, request, Dibao, cmd.case_id, lambda case, today, s: case.record_home_visit(
        today, cmd.first_visitor, cmd.second_visitor, by_county=cmd.by_county, findings=cmd.findings))


def record_democratic_review(deps: Deps, cmd: c.CaseStep, actor: Actor, request: Request | None = None) -> str:
    return _step(deps, actor, request, Dibao, cmd.case_id,
                 lambda case, today, s: case.record_democratic_review(today, cmd.text))


def give_township_opinion(deps: Deps, cmd: c.GiveTownshipOpinion, actor: Actor,
                          request: Request | None = None) -> str:
    return _step(deps, actor, request, Dibao, cmd.case_id, lambda case, today, s: case.give_township_opinion(
        today, recommends=cmd.recommends, reasons=cmd.reasons))


def start_public_notice(deps: Deps, cmd: c.CaseStep, actor: Actor, request: Request | None = None) -> str:
    return _step(deps, actor, request, Dibao, cmd.case_id, lambda case, today, s: case.start_public_notice(today, s))


def raise_objection(deps: Deps, cmd: c.CaseStep, actor: Actor, request: Request | None = None) -> str:
    """An objection during the notice, numbered in the case ("objection-<n>"). Returns the objection's
    id — recorded as the request's answer, so a retry names the same objection."""
    provenance = command(deps, actor, cmd.case_id)
    clerk_here(deps, actor)
    with deps.units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        case = uow.load(Dibao, cmd.case_id)
        objection_id = f"objection-{len(case.objections) + 1}"
        uow.record(case, case.raise_objection(china_date(provenance.occurred_at), objection_id, cmd.text))
        return uow.answer(objection_id)


def answer_objection(deps: Deps, cmd: c.AnswerObjection, actor: Actor, request: Request | None = None) -> str:
    return _step(deps, actor, request, Dibao, cmd.case_id,
                 lambda case, today, s: case.answer_objection(today, cmd.objection_id, cmd.answer))


def end_public_notice(deps: Deps, cmd: c.CaseStep, actor: Actor, request: Request | None = None) -> str:
    """The notice's deadline ends it; a clerk may too once it has run (a scheduler that was down)."""
    return _step(deps, actor, request, Dibao, cmd.case_id, lambda case, today, s: case.end_public_notice(today))


def decide_dibao(deps: Deps, cmd: c.Decide, actor: Actor, request: Request | None = None) -> str:
    return _step(deps, actor, request, Dibao, cmd.case_id,
                 lambda case, today, s: case.decide(today, s, approve=cmd.approve, reasons=cmd.reasons))


def notify_refusal(deps: Deps, cmd: c.CaseStep, actor: Actor, request: Request | None = None) -> str:
    return _step(deps, actor, request, Dibao, cmd.case_id, lambda case, today, s: case.notify_refusal(today, cmd.text))


def record_income_change(deps: Deps, cmd: c.RecordIncomeChange, actor: Actor, request: Request | None = None) -> str:
    cmd.validate()
    return _step(deps, actor, request, Dibao, cmd.case_id, lambda case, today, s: case.change_income(
        today, s, cmd.citizen_id, earned_income_fen=cmd.earned_income_fen, other_income_fen=cmd.other_income_fen))


def record_review(deps: Deps, cmd: c.CaseStep, actor: Actor, request: Request | None = None) -> str:
    return _step(deps, actor, request, Dibao, cmd.case_id,
                 lambda case, today, s: case.record_review(today, s, cmd.text))


# -- 临时救助 -------------------------------------------------------------------------------------


def apply_for_assistance(deps: Deps, cmd: c.ApplyForAssistance, actor: Actor, request: Request | None = None) -> str:
    """受理 where the emergency happened; refused when this person was already helped for this cause
    this year (unless the region's rule says otherwise)."""
    case_id = new_case_id("assistance", deps.region)
    provenance = command(deps, actor, case_id)
    today = china_date(provenance.occurred_at)
    citizen = cmd.validated(today)
    assert cmd.emergency_on is not None
    clerk_here(deps, actor)
    with deps.units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        earlier = earlier_help_for(uow.tx.connection, citizen, cmd.cause.strip(), cmd.emergency_on.year)
        events = assistance_domain.apply_for_assistance(
            case_id=case_id, office_code=actor.office_code, region=deps.region, citizen_id=citizen,
            name=cmd.name.strip(), emergency_place=cmd.emergency_place, emergency_on=cmd.emergency_on,
            cause=cmd.cause.strip(), kind=cmd.kind, hukou_region=cmd.hukou_region,
            residence_permit_region=cmd.residence_permit_region, received_on=today, earlier_case_id=earlier,
            settings=deps.settings_now(uow.tx))
        uow.start(Assistance, case_id, events)
        return uow.answer(case_id)


def pay_urgently(deps: Deps, cmd: c.PayUrgently, actor: Actor, request: Request | None = None) -> str:
    return _step(deps, actor, request, Assistance, cmd.case_id,
                 lambda case, today, s: case.pay_urgently(today, cmd.amount_fen, s))


def complete_proof(deps: Deps, cmd: c.CaseStep, actor: Actor, request: Request | None = None) -> str:
    return _step(deps, actor, request, Assistance, cmd.case_id,
                 lambda case, today, s: case.complete_proof(today, cmd.text))


def refer_to_rescue_agency(deps: Deps, cmd: c.CaseStep, actor: Actor, request: Request | None = None) -> str:
    return _step(deps, actor, request, Assistance, cmd.case_id,
                 lambda case, today, s: case.refer_to_rescue_agency(today, cmd.text, s))


def decide_assistance(deps: Deps, cmd: c.Decide, actor: Actor, request: Request | None = None) -> str:
    cmd.validate()
    return _step(deps, actor, request, Assistance, cmd.case_id, lambda case, today, s: case.decide(
        today, approve=cmd.approve, amount_fen=cmd.amount_fen, reasons=cmd.reasons))


