"""One handler per command: validate, then in one unit of work load (the owner checked), let the
aggregate decide, and record what it decided. The unit of work appends with the expected version
and runs the effects that travel with the events (subscribers.py) in the same transaction. Each
handler returns the id of the case it worked on; nothing is appended when it raises (invariant 7).

A command with a client request id (`request`, invariant 9) is claimed as its unit of work opens:
a retry of one recorded before returns the first answer and records nothing — the case id minted
for it is never used."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from services.common.clock import china_date
from services.common.events import Actor
from services.common.handoff import request_work
from services.common.identity.case_ids import new_case_id
from services.common.kit import Provenance, Request, UnitOfWork
from services.common.registry.domain import ClaimKind, Outcome, ReleaseReason
from services.common.registry.projection import entries_of
from services.marriage.adapters.payloads import to_message
from services.marriage.application.queries import CaseWithHistory
from services.marriage.application.unit import Deps, issue_certificate_number
from services.marriage.domain import divorce as divorce_module
from services.marriage.domain.commands import (
    QueryMaritalStatus,
    ReceiveDivorce,
    RecordCourtJudgment,
    RegisterDivorce,
    RegisterMarriage,
    ReissueCertificate,
    RequestDivorceCertificate,
    WithdrawDivorce,
)
from services.marriage.domain.divorce import Divorce
from services.marriage.domain.events import DivorceEvent, ReissueRequested
from services.marriage.domain.marriage import Marriage, apply_for_registration, claim_id_for
from services.marriage.domain.periods import divorce_periods
from services.marriage.domain.record_rules import ClerkOfThisRegion
from services.marriage.domain.reissue import (
    REISSUE_WORK,
    ReissueDecision,
    RemoteReissue,
    StatusOnRecord,
    StatusQuery,
    answer_status_query,
    decide_reissue,
    record_region_of,
    reissued,
)
from services.marriage.domain.rules import check
from services.marriage.domain.values import Document, MaritalStatus, Party
from services.marriage.projections.read_models import status_on_record


def _command(deps: Deps, actor: Actor, correlation_id: str) -> Provenance:
    return Provenance.of_command(actor, correlation_id, deps.clock.now())


def _clerk_here(deps: Deps, actor: Actor) -> None:
    check(ClerkOfThisRegion(actor.kind, actor.region, actor.office_code, deps.region))


# -- marriage -----------------------------------------------------------------------------------


def register_marriage(deps: Deps, cmd: RegisterMarriage, actor: Actor, request: Request | None = None) -> str:
    """结婚登记: record the application and both declarations; the registry is asked for both
    persons as the application is recorded (subscribers.py). The registry's decisions finish it
    (reactions.when_registry_decides_register_or_refuse)."""
    return register_marriage_as_recorded(deps, cmd, actor, request)[0]


def register_marriage_as_recorded(deps: Deps, cmd: RegisterMarriage, actor: Actor,
                                  request: Request | None = None) -> tuple[str, CaseWithHistory | None]:
    """`register_marriage`, with the case as this call recorded it — its whole stream, new in this
    transaction, and the aggregate folded from it — once committed: the answer of a caller who
    waits for nothing, without reading the stream back (a tenth of the call's CPU). None for a
    retry answered before (its case is read from the store)."""
    case_id = new_case_id("marriage", deps.region)
    provenance = _command(deps, actor, case_id)
    today = china_date(provenance.occurred_at)
    party_a, party_b = cmd.parties(today=today, claim_ids=(claim_id_for(case_id, Party.A),
                                                           claim_id_for(case_id, Party.B)))
    _clerk_here(deps, actor)
    with deps.units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer, None
        # The national record as this region sees it: a declared status it does not show needs
        # proof (ProofOfDeclaredStatus); a live marriage on it is the registry's to refuse.
        on_record = {p.citizen_id: _status_everywhere(uow, p.citizen_id).status.value for p in (party_a, party_b)}
        events = apply_for_registration(case_id=case_id, office_code=actor.office_code, region=deps.region,
                                        application_date=today, party_a=party_a, party_b=party_b,
                                        on_record=on_record)
        uow.start(Marriage, case_id, events)
        answer = uow.answer(case_id)
    # Committed (the block above ended cleanly). Every change to the stream is this call's: it
    # started the stream, so their stored events are its whole history.
    mine = [change for change in uow.changes if change.stream_id == case_id]
    case = mine[-1].after
    assert isinstance(case, Marriage)
    return answer, CaseWithHistory(case, [event for change in mine for event in change.recorded])


def record_court_judgment(deps: Deps, cmd: RecordCourtJudgment, actor: Actor, request: Request | None = None) -> str:
    """A court's judgment voiding or annulling a marriage, recorded against it: both persons are
    released, and a divorce still open ends."""
    provenance = _command(deps, actor, cmd.marriage_case_id)
    today = china_date(provenance.occurred_at)
    cmd.validate(today)
    assert cmd.judgment is not None and cmd.judgment_date is not None
    _clerk_here(deps, actor)
    with deps.units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        marriage = uow.load(Marriage, cmd.marriage_case_id)
        # A divorce received at another region's office is that region's case: it is told of the
        # judgment (divorce_elsewhere.py) and ends it there.
        open_id = marriage.open_divorce_case_id
        here = bool(open_id) and record_region_of(open_id) in ("", deps.region)
        open_divorce = uow.load(Divorce, open_id) if here else None
        uow.record(marriage, marriage.record_judgment(
            judgment=cmd.judgment, court=cmd.court.strip(), judgment_number=cmd.judgment_number.strip(),
            judgment_date=cmd.judgment_date, ground=cmd.ground.strip(), recorded_on=today))
        if open_divorce is not None:
            uow.record(open_divorce, open_divorce.terminate(
                reason=f"the marriage was declared {cmd.judgment.value} by {cmd.court.strip()}",
                judgment_number=cmd.judgment_number.strip()))
        return uow.answer(cmd.marriage_case_id)


# -- divorce by agreement -----------------------------------------------------------------------


def receive_divorce(deps: Deps, cmd: ReceiveDivorce, actor: Actor, request: Request | None = None) -> str:
    """受理: record the application with its agreement, open the proceeding on the marriage (one
    at a time), and — as it is recorded — schedule the end of the cooling-off.

    A marriage another region records (its code is in the marriage's case id) is received here all
    the same (国务院令第804号: any office in the country): the cooling-off, withdrawal and certificate
    request run here, and that region is asked, as the receipt is recorded, to check the spouses
    against its record and open the proceeding there (subscribers.py, divorce_elsewhere.py)."""
    case_id = new_case_id("divorce", deps.region)
    provenance = _command(deps, actor, case_id)
    today = china_date(provenance.occurred_at)
    spouse_a, spouse_b, agreement = cmd.validated(today)
    _clerk_here(deps, actor)
    periods = divorce_periods(today, deps.calendar())
    record_region = record_region_of(cmd.marriage_case_id)
    held_elsewhere = bool(record_region) and record_region != deps.region
    with deps.units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        marriage = None if held_elsewhere else uow.load(Marriage, cmd.marriage_case_id)
        events = divorce_module.receive(case_id=case_id, marriage=marriage, marriage_case_id=cmd.marriage_case_id,
                                        record_region=record_region, spouse_a=spouse_a, spouse_b=spouse_b,
                                        agreement=agreement, both_present=cmd.both_appear_in_person,
                                        office_code=actor.office_code, region=deps.region, periods=periods)
        if marriage is not None:
            # The marriage's version guards "one open divorce": of two receipts racing, one conflicts.
            uow.record(marriage, marriage.open_divorce(case_id, actor.office_code))
        uow.start(Divorce, case_id, events)
        return uow.answer(case_id)


def withdraw_divorce(deps: Deps, cmd: WithdrawDivorce, actor: Actor, request: Request | None = None) -> str:
    provenance = _command(deps, actor, cmd.divorce_case_id)
    today = china_date(provenance.occurred_at)
    citizen_id = cmd.validated(today)
    _clerk_here(deps, actor)
    with deps.units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        divorce = uow.load(Divorce, cmd.divorce_case_id)
        events = divorce.withdraw(citizen_id=citizen_id, office_code=actor.office_code, today=today,
                                  reason=cmd.reason.strip())
        close_divorce(uow, divorce, events, "withdrawn")
        return uow.answer(divorce.case_id)


def request_divorce_certificate(deps: Deps, cmd: RequestDivorceCertificate, actor: Actor,
                                request: Request | None = None) -> str:
    provenance = _command(deps, actor, cmd.divorce_case_id)
    cmd.validate()
    _clerk_here(deps, actor)
    with deps.units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        divorce = uow.load(Divorce, cmd.divorce_case_id)
        uow.record(divorce, divorce.request_certificate(office_code=actor.office_code,
                                                        both_present=cmd.both_appear_in_person,
                                                        today=china_date(provenance.occurred_at)))
        return uow.answer(divorce.case_id)


def register_divorce(deps: Deps, cmd: RegisterDivorce, actor: Actor, request: Request | None = None) -> str:
    """离婚登记 after review: the certificate number, the marriage dissolved, both persons released."""
    provenance = _command(deps, actor, cmd.divorce_case_id)
    today = china_date(provenance.occurred_at)
    cmd.validate()
    _clerk_here(deps, actor)
    with deps.units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        divorce = uow.load(Divorce, cmd.divorce_case_id)
        divorce.check_can_register(actor.office_code)  # before a number is taken
        marriage = None if divorce.record_region else uow.load(Marriage, divorce.marriage_case_id)
        number = issue_certificate_number(uow, document=Document.DIVORCE_CERTIFICATE, office_code=actor.office_code,
                                          on=today, case_id=divorce.case_id)
        if marriage is None:
            # The record region dissolves the marriage; the divorce is registered when it answers.
            uow.record(divorce, divorce.request_dissolution(office_code=actor.office_code,
                                                            certificate_number=number, today=today))
            return uow.answer(divorce.case_id)
        uow.record(divorce, divorce.register(office_code=actor.office_code, certificate_number=number, today=today))
        uow.record(marriage, marriage.dissolve_by_divorce(divorce.case_id, number, today))
        return uow.answer(divorce.case_id)


def close_divorce(uow: UnitOfWork, divorce: Divorce, events: Sequence[DivorceEvent], outcome: str) -> None:
    """Record the divorce's closing events and close the proceeding on its marriage (the record
    region closes its own when told: subscribers.py)."""
    if divorce.record_region:
        uow.record(divorce, events)
        return
    marriage = uow.load(Marriage, divorce.marriage_case_id)
    uow.record(divorce, events)
    uow.record(marriage, marriage.close_divorce(divorce.case_id, outcome))


# -- reissue and status queries -----------------------------------------------------------------


def reissue_certificate(deps: Deps, cmd: ReissueCertificate, actor: Actor, request: Request | None = None) -> str:
    """补领 at any office in the country: the certificate again, or a registration record
    certificate when the status it certifies has changed since. A record this region holds is
    decided here at once; one another region holds (its code is in the record's case id) is asked
    of that region's archive, and the case waits in "awaiting_archive" for the answer."""
    case_id = new_case_id("reissue", deps.region)
    provenance = _command(deps, actor, case_id)
    today = china_date(provenance.occurred_at)
    applicant = cmd.validated(today)
    _clerk_here(deps, actor)
    record_region = record_region_of(cmd.record_case_id)
    if record_region and record_region != deps.region:
        return _reissue_from_another_archive(deps, cmd, actor, applicant, case_id, record_region, provenance,
                                             request)
    with deps.units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        _, decision = decide_from_archive(uow, cmd.record_case_id, applicant)
        number = issue_certificate_number(uow, document=decision.issued, office_code=actor.office_code, on=today,
                                          case_id=case_id)
        event = reissued(case_id=case_id, office_code=actor.office_code, region=deps.region,
                         record_case_id=cmd.record_case_id, applicant=applicant, decision=decision,
                         certificate_number=number, issued_on=today, reason=cmd.reason.strip())
        uow.start(RemoteReissue, case_id, [event])
        return uow.answer(case_id)


def _reissue_from_another_archive(deps: Deps, cmd: ReissueCertificate, actor: Actor, applicant: str, case_id: str,
                                  record_region: str, provenance: Provenance, request: Request | None) -> str:
    """补领 here of a record `record_region` holds (国务院令第804号: any office in the country): open
    the case and ask that region's archive (hand-off REQUEST_WORK, docs/cross-region.md) in one
    transaction. Its answer issues here (handoffs.when_archive_answers_issue_here)."""
    handoff_id = uuid.uuid4().hex
    event = ReissueRequested(
        case_id=case_id, office_code=actor.office_code, region=deps.region, record_case_id=cmd.record_case_id,
        record_region=record_region, applicant_citizen_id=applicant, reason=cmd.reason.strip(),
        requested_on=china_date(provenance.occurred_at), handoff_id=handoff_id,
    )
    with deps.units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        uow.start(RemoteReissue, case_id, [event])
        request_work(uow.tx, case_id=case_id, to_region=record_region, work=REISSUE_WORK,
                     accept_within=deps.settings.reissue_accept_within,
                     answer_within=deps.settings.reissue_answer_within, actor=actor,
                     case_snapshot=to_message(event), handoff_id=handoff_id, occurred_at=provenance.occurred_at,
                     causation_id=uow.changes[-1].last_event_id, trace=provenance.trace)
        return uow.answer(case_id)


def query_marital_status(deps: Deps, cmd: QueryMaritalStatus, actor: Actor, request: Request | None = None) -> str:
    """The status as this region's records and the registry's view of all regions show it; the
    question, the asker (the event's actor) and the answer are recorded together."""
    case_id = new_case_id("status-query", deps.region)
    provenance = _command(deps, actor, case_id)
    today = china_date(provenance.occurred_at)
    citizen_id = cmd.validated(today)
    with deps.units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        on_record = _status_everywhere(uow, citizen_id)
        event = answer_status_query(case_id=case_id, citizen_id=citizen_id, reason=cmd.reason.strip(),
                                    requesting_body=cmd.requesting_body.strip(), role=actor.role,
                                    authorised_roles=deps.settings.status_query_roles, on_record=on_record,
                                    queried_on=today, office_code=actor.office_code, region=deps.region)
        uow.start(StatusQuery, case_id, [event])
        return uow.answer(case_id)


def decide_from_archive(uow: UnitOfWork, record_case_id: str, applicant: str
                        ) -> tuple[Marriage | Divorce, ReissueDecision]:
    """This region's record and what its reissue is to be. Raises NotFound for a record this
    region does not hold, RuleViolation when there is nothing to reissue to this applicant."""
    record = _load_record(uow, record_case_id)
    remarried = isinstance(record, Divorce) and _has_other_live_marriage(uow, applicant, record.marriage_case_id)
    return record, decide_reissue(record, applicant=applicant, applicant_remarried=remarried)


def _load_record(uow: UnitOfWork, case_id: str) -> Marriage | Divorce:
    # Reading the archive writes nothing to the record: no owner check.
    divorce = uow.find(Divorce, case_id, for_write=False)
    return divorce if divorce is not None else uow.load(Marriage, case_id, for_write=False)


def _status_everywhere(uow: UnitOfWork, citizen_id: str) -> StatusOnRecord:
    """The national record as this region sees it: a live marriage the registry confirmed, wherever
    it was registered, first; otherwise the latest end of a marriage — this region's record, or a
    release another region gave the registry with its reason (divorce, judgment, death) and day —
    so a person divorced elsewhere is "divorced" here, never "unmarried_on_record"."""
    local = status_on_record(uow.tx.connection, citizen_id)
    if local.status is MaritalStatus.MARRIED:
        return local
    entries = [e for e in entries_of(uow.tx, citizen_id) if e.kind is ClaimKind.LIVE_MARRIAGE]
    for entry in entries:
        if entry.status == Outcome.CONFIRMED and entry.case_id != local.marriage_case_id:
            return StatusOnRecord(MaritalStatus.MARRIED, entry.case_id, china_date(entry.decided_at), entry.region)
    latest = local
    for entry in entries:
        status = _ENDED_BY.get(entry.release_reason)
        if (entry.status == Outcome.RELEASED and status is not None and entry.case_id != local.marriage_case_id
                and entry.released_on is not None and (latest.since is None or entry.released_on > latest.since)):
            latest = StatusOnRecord(status, entry.case_id, entry.released_on, entry.region)
    return latest


_ENDED_BY = {ReleaseReason.DIVORCE.value: MaritalStatus.DIVORCED, ReleaseReason.VOID.value: MaritalStatus.VOID,
             ReleaseReason.ANNULLED.value: MaritalStatus.ANNULLED, ReleaseReason.DEATH.value: MaritalStatus.WIDOWED}


def _has_other_live_marriage(uow: UnitOfWork, citizen_id: str, marriage_case_id: str) -> bool:
    status = _status_everywhere(uow, citizen_id)
    return status.status is MaritalStatus.MARRIED and status.marriage_case_id != marriage_case_id


__all__ = [
    "close_divorce",
    "decide_from_archive",
    "query_marital_status",
    "receive_divorce",
    "record_court_judgment",
    "register_divorce",
    "register_marriage",
    "register_marriage_as_recorded",
    "reissue_certificate",
    "request_divorce_certificate",
    "withdraw_divorce",
]
