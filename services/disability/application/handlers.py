"""One handler per command: validate, then in one unit of work load (the owner checked), let the
aggregate decide, and record what it decided. Deadlines and read models travel with the events
(subscribers.py). Each handler returns the case id; nothing is appended when it raises.

A command with a client request id (`request`, invariant 9) is claimed as its unit of work opens:
a retry of one recorded before returns the first answer and records nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.common.clock import china_date
from services.common.events import Actor
from services.common.identity.case_ids import new_case_id
from services.common.kit import Provenance, Request, UnitOfWork
from services.disability.application.unit import CASE_KIND, Deps
from services.disability.domain.application import Application, receive_application
from services.disability.domain.commands import (
    ApproveApplication,
    CompleteStage,
    ReceiveApplication,
    RecordDataMatch,
    RefuseApplication,
    RenewCertificate,
    ResumeEntitlement,
    StopEntitlement,
)
from services.disability.domain.forwarding import decides_elsewhere, receive_for_forwarding
from services.disability.domain.matching import DataMatch, DataMatchReceived, act_on_finding
from services.disability.domain.rules import ClerkOfThisRegion, check
from services.disability.projections.read_models import cases_of_person


def _command(deps: Deps, actor: Actor, correlation_id: str) -> Provenance:
    return Provenance.of_command(actor, correlation_id, deps.clock.now())


def _clerk_here(deps: Deps, actor: Actor) -> None:
    check(ClerkOfThisRegion(actor.kind, actor.region, actor.office_code, deps.region))


def receive(deps: Deps, cmd: ReceiveApplication, actor: Actor, request: Request | None = None) -> str:
    """受理 at this region's window: the application recorded (with any subsidy refused by its
    rule), and the township review's deadline scheduled as it is recorded."""
    case_id = new_case_id(CASE_KIND, deps.region)
    provenance = _command(deps, actor, case_id)
    today = china_date(provenance.occurred_at)
    applicant, certificate, household, account = cmd.validated(today)
    _clerk_here(deps, actor)
    elsewhere = decides_elsewhere(deps.region, applicant.hukou_region)
    with deps.units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        common = dict(case_id=case_id, office_code=actor.office_code, region=deps.region, received_on=today,
                      applicant=applicant, certificate=certificate, household=household,
                      circumstances=cmd.circumstances, bank_account=account, living=cmd.living, nursing=cmd.nursing,
                      calendar=deps.calendar(uow.tx))
        if elsewhere:  # 异地代收代办: the 户籍 region decides; any window forwards, standards or not
            events = receive_for_forwarding(settings=deps.settings.regional, **common)  # type: ignore[arg-type]
        else:
            events = receive_application(household_source="declared", settings=deps.regional,
                                         **common)  # type: ignore[arg-type]
        uow.start(Application, case_id, events)
        return uow.answer(case_id)


def _on_case(deps: Deps, case_id: str, actor: Actor, request: Request | None,
             decide: Callable[[UnitOfWork, Application, Any], list[Any]]) -> str:
    """Load the case for a write (owner checked), let `decide` say what happened, record it."""
    _clerk_here(deps, actor)
    provenance = _command(deps, actor, case_id)
    with deps.units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        application = uow.load(Application, case_id)
        uow.record(application, decide(uow, application, china_date(provenance.occurred_at)))
        return uow.answer(case_id)


def complete_stage(deps: Deps, cmd: CompleteStage, actor: Actor, request: Request | None = None) -> str:
    """乡镇审核 passed or 县级残联 confirmed the certificate: the next stage starts with its limit."""
    cmd.validate()
    return _on_case(deps, cmd.case_id, actor, request, lambda uow, app, today: app.complete_stage(
        cmd.stage, office_code=actor.office_code, on=today, note=cmd.note.strip(), settings=deps.regional,
        calendar=deps.calendar(uow.tx)))


def approve(deps: Deps, cmd: ApproveApplication, actor: Actor, request: Request | None = None) -> str:
    household = cmd.validated()
    return _on_case(deps, cmd.case_id, actor, request, lambda uow, app, today: app.approve(
        office_code=actor.office_code, on=today, household=household, household_source="county",
        settings=deps.regional))


def refuse(deps: Deps, cmd: RefuseApplication, actor: Actor, request: Request | None = None) -> str:
    stage = cmd.validated()
    return _on_case(deps, cmd.case_id, actor, request, lambda uow, app, today: app.refuse(
        stage, office_code=actor.office_code, on=today, rule="", article="", reason=cmd.reason.strip()))


def stop(deps: Deps, cmd: StopEntitlement, actor: Actor, request: Request | None = None) -> str:
    today = china_date(deps.clock.now())
    subsidy, reason, effective_on = cmd.validated(today)
    return _on_case(deps, cmd.case_id, actor, request, lambda uow, app, today: app.stop(
        subsidy, reason=reason, effective_on=effective_on, found_on=today, source=f"window {actor.office_code}",
        note=cmd.note.strip(), settings=deps.regional))


def resume(deps: Deps, cmd: ResumeEntitlement, actor: Actor, request: Request | None = None) -> str:
    subsidy = cmd.validated()
    return _on_case(deps, cmd.case_id, actor, request, lambda uow, app, today: app.resume(
        subsidy, reviewed_on=today, reason=cmd.reason.strip()))


def renew_certificate(deps: Deps, cmd: RenewCertificate, actor: Actor, request: Request | None = None) -> str:
    def decide(uow: UnitOfWork, app: Application, today: Any) -> list[Any]:
        assert app.applicant is not None
        certificate, issued_on = cmd.validated(app.applicant.citizen_id, today)
        return app.renew_certificate(certificate, issued_on=issued_on, recorded_on=today, settings=deps.regional)

    return _on_case(deps, cmd.case_id, actor, request, decide)


def record_data_match(deps: Deps, cmd: RecordDataMatch, actor: Actor, request: Request | None = None) -> str:
    """数据比对: a finding of another department acts on every application of the person in this
    region (entitlements stop, open applications are refused), each change caused by the recorded
    finding, whose stream lists the cases it acted on."""
    match_id = new_case_id("disability-match", deps.region)
    provenance = _command(deps, actor, match_id)
    today = china_date(provenance.occurred_at)
    finding = cmd.validated(today)
    _clerk_here(deps, actor)
    with deps.units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        affected: list[tuple[Application, list[Any]]] = []
        for case_id in cases_of_person(uow.tx.connection, finding.citizen_id):
            seen = uow.find(Application, case_id, for_write=False)
            if seen is None or seen.forwarded_to:
                continue  # received here for another province: its 户籍 region matches its own records
            app = uow.load(Application, case_id)
            events = act_on_finding(app, finding, found_on=today, region=deps.region, settings=deps.regional)
            if events:
                affected.append((app, events))
        received = DataMatchReceived(match_id, finding.kind.value, finding.citizen_id, finding.effective_on,
                                     finding.source, finding.new_hukou_region, today,
                                     "\n".join(app.case_id for app, _ in affected))
        match = uow.start(DataMatch, match_id, [received])
        cause = uow.changes[-1].last_event_id
        for app, events in affected:
            uow.record(app, events, provenance=provenance.correlated_with(app.case_id).caused_by(cause))
        assert match is not None
        return uow.answer(match_id)
