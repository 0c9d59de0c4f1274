"""One handler per command: validate, load inside a transaction, decide, append with the expected
version, and apply the effects that travel with the events in the same transaction. Each returns
the id of the case it worked on; nothing is appended when it raises (architecture invariant 7)."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.common.events import Actor
from services.common.handoff import request_work
from services.common.registry.domain import ClaimKind
from services.common.registry.projection import entries_of
from services.common.store import NO_STREAM, StoreTransaction
from services.common.telemetry import current_trace_context
from services.marriage.adapters.payloads import to_message
from services.marriage.application.unit import (
    Cause,
    Deps,
    append,
    divorce_deadline_effects,
    issue_certificate_number,
    load_divorce,
    load_marriage,
    marriage_registry_effects,
    new_case_id,
    refresh_read_models,
    request_claims,
)
from services.marriage.domain import divorce as divorce_module
from services.marriage.domain import marriage as marriage_module
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
from services.marriage.domain.events import ReissueRequested
from services.marriage.domain.marriage import Marriage, apply_for_registration, claim_id_for
from services.marriage.domain.periods import divorce_periods
from services.marriage.domain.reissue import (
    REISSUE_STREAM_TYPE,
    REISSUE_WORK,
    STATUS_QUERY_STREAM_TYPE,
    ReissueDecision,
    StatusOnRecord,
    answer_status_query,
    decide_reissue,
    record_region_of,
    reissued,
)
from services.marriage.domain.rules import ClerkOfThisRegion, check
from services.marriage.domain.values import Document, MaritalStatus, Party, china_date
from services.marriage.projections.read_models import status_on_record


def _cause(actor: Actor, correlation_id: str, now: datetime) -> Cause:
    return Cause(actor=actor, correlation_id=correlation_id, causation_id=f"command-{uuid.uuid4()}",
                 occurred_at=now, trace=current_trace_context())


def _clerk_here(deps: Deps, actor: Actor) -> None:
    check(ClerkOfThisRegion(actor.kind, actor.region, actor.office_code, deps.region))


# -- marriage -----------------------------------------------------------------------------------


def register_marriage(deps: Deps, cmd: RegisterMarriage, actor: Actor) -> str:
    """结婚登记: record the application and both declarations, and ask the registry for both persons.
    The registry's decisions finish it (reactions.when_registry_decides_register_or_refuse)."""
    now = deps.clock.now()
    today = china_date(now)
    case_id = new_case_id("marriage", deps.region)
    party_a, party_b = cmd.parties(today=today, claim_ids=(claim_id_for(case_id, Party.A),
                                                           claim_id_for(case_id, Party.B)))
    _clerk_here(deps, actor)
    events = apply_for_registration(case_id=case_id, office_code=actor.office_code, region=deps.region,
                                    application_date=today, party_a=party_a, party_b=party_b)
    cause = _cause(actor, case_id, now)
    with deps.store.transaction() as tx:
        [received] = append(tx, case_id, marriage_module.STREAM_TYPE, NO_STREAM, events, cause)
        claims_cause = Cause(actor, case_id, received.event_id, now, cause.trace)
        request_claims(tx, case_id, [(p.claim_id, p.citizen_id) for p in (party_a, party_b)], claims_cause)
        refresh_read_models(tx, case_id)
    return case_id


def record_court_judgment(deps: Deps, cmd: RecordCourtJudgment, actor: Actor) -> str:
    """A court's judgment voiding or annulling a marriage, recorded against it: both persons are
    released, and a divorce still open ends."""
    now = deps.clock.now()
    today = china_date(now)
    cmd.validate(today)
    assert cmd.judgment is not None and cmd.judgment_date is not None
    _clerk_here(deps, actor)
    cause = _cause(actor, cmd.marriage_case_id, now)
    with deps.store.transaction() as tx:
        marriage = load_marriage(tx, cmd.marriage_case_id)
        open_divorce = load_divorce(tx, marriage.open_divorce_case_id) if marriage.open_divorce_case_id else None
        events = marriage.record_judgment(judgment=cmd.judgment, court=cmd.court.strip(),
                                          judgment_number=cmd.judgment_number.strip(),
                                          judgment_date=cmd.judgment_date, ground=cmd.ground.strip(),
                                          recorded_on=today)
        append(tx, marriage.case_id, marriage_module.STREAM_TYPE, marriage.version, events, cause)
        marriage_registry_effects(tx, marriage, events, cause)
        touched = [marriage.case_id]
        if open_divorce is not None:
            divorce_events = open_divorce.terminate(
                reason=f"the marriage was declared {cmd.judgment.value} by {cmd.court.strip()}",
                judgment_number=cmd.judgment_number.strip())
            append(tx, open_divorce.case_id, divorce_module.STREAM_TYPE, open_divorce.version, divorce_events, cause)
            divorce_deadline_effects(tx, open_divorce, open_divorce.case_id, divorce_events, cause)
            touched.append(open_divorce.case_id)
        refresh_read_models(tx, *touched)
    return cmd.marriage_case_id


# -- divorce by agreement -----------------------------------------------------------------------


def receive_divorce(deps: Deps, cmd: ReceiveDivorce, actor: Actor) -> str:
    """受理: record the application with its agreement, open the proceeding on the marriage (one
    at a time), and schedule the end of the cooling-off."""
    now = deps.clock.now()
    today = china_date(now)
    spouse_a, spouse_b, agreement = cmd.validated(today)
    _clerk_here(deps, actor)
    case_id = new_case_id("divorce", deps.region)
    cause = _cause(actor, case_id, now)
    periods = divorce_periods(today, deps.settings.calendar)
    with deps.store.transaction() as tx:
        marriage = load_marriage(tx, cmd.marriage_case_id)
        events = divorce_module.receive(case_id=case_id, marriage=marriage, spouse_a=spouse_a, spouse_b=spouse_b,
                                        agreement=agreement, both_present=cmd.both_appear_in_person,
                                        office_code=actor.office_code, region=deps.region, periods=periods)
        # The marriage's version guards "one open divorce": of two receipts racing, one conflicts.
        append(tx, marriage.case_id, marriage_module.STREAM_TYPE, marriage.version,
               marriage.open_divorce(case_id, actor.office_code), cause)
        append(tx, case_id, divorce_module.STREAM_TYPE, NO_STREAM, events, cause)
        divorce_deadline_effects(tx, Divorce(), case_id, events, cause)
        refresh_read_models(tx, case_id, marriage.case_id)
    return case_id


def withdraw_divorce(deps: Deps, cmd: WithdrawDivorce, actor: Actor) -> str:
    now = deps.clock.now()
    today = china_date(now)
    citizen_id = cmd.validated(today)
    _clerk_here(deps, actor)
    cause = _cause(actor, cmd.divorce_case_id, now)
    with deps.store.transaction() as tx:
        divorce = load_divorce(tx, cmd.divorce_case_id)
        events = divorce.withdraw(citizen_id=citizen_id, office_code=actor.office_code, today=today,
                                  reason=cmd.reason.strip())
        _close_divorce(tx, divorce, events, "withdrawn", cause)
    return divorce.case_id


def request_divorce_certificate(deps: Deps, cmd: RequestDivorceCertificate, actor: Actor) -> str:
    now = deps.clock.now()
    cmd.validate()
    _clerk_here(deps, actor)
    cause = _cause(actor, cmd.divorce_case_id, now)
    with deps.store.transaction() as tx:
        divorce = load_divorce(tx, cmd.divorce_case_id)
        events = divorce.request_certificate(office_code=actor.office_code, both_present=cmd.both_appear_in_person,
                                             today=china_date(now))
        append(tx, divorce.case_id, divorce_module.STREAM_TYPE, divorce.version, events, cause)
        divorce_deadline_effects(tx, divorce, divorce.case_id, events, cause)
        refresh_read_models(tx, divorce.case_id)
    return divorce.case_id


def register_divorce(deps: Deps, cmd: RegisterDivorce, actor: Actor) -> str:
    """离婚登记 after review: the certificate number, the marriage dissolved, both persons released."""
    now = deps.clock.now()
    today = china_date(now)
    cmd.validate()
    _clerk_here(deps, actor)
    cause = _cause(actor, cmd.divorce_case_id, now)
    with deps.store.transaction() as tx:
        divorce = load_divorce(tx, cmd.divorce_case_id)
        divorce.check_can_register(actor.office_code)  # before a number is taken
        marriage = load_marriage(tx, divorce.marriage_case_id)
        number = issue_certificate_number(tx, document=Document.DIVORCE_CERTIFICATE, office_code=actor.office_code,
                                          on=today, case_id=divorce.case_id, cause=cause)
        divorce_events = divorce.register(office_code=actor.office_code, certificate_number=number, today=today)
        marriage_events = marriage.dissolve_by_divorce(divorce.case_id, number, today)
        append(tx, divorce.case_id, divorce_module.STREAM_TYPE, divorce.version, divorce_events, cause)
        append(tx, marriage.case_id, marriage_module.STREAM_TYPE, marriage.version, marriage_events, cause)
        marriage_registry_effects(tx, marriage, marriage_events, cause)
        refresh_read_models(tx, divorce.case_id, marriage.case_id)
    return divorce.case_id


def _close_divorce(tx: StoreTransaction, divorce: Divorce, events: list, outcome: str, cause: Cause) -> None:
    """Append the divorce's closing events and close the proceeding on its marriage."""
    marriage = load_marriage(tx, divorce.marriage_case_id)
    append(tx, divorce.case_id, divorce_module.STREAM_TYPE, divorce.version, events, cause)
    divorce_deadline_effects(tx, divorce, divorce.case_id, events, cause)
    marriage_events = marriage.close_divorce(divorce.case_id, outcome)
    if marriage_events:
        append(tx, marriage.case_id, marriage_module.STREAM_TYPE, marriage.version, marriage_events, cause)
    refresh_read_models(tx, divorce.case_id, marriage.case_id)


# -- reissue and status queries -----------------------------------------------------------------


def reissue_certificate(deps: Deps, cmd: ReissueCertificate, actor: Actor) -> str:
    """补领 at any office in the country: the certificate again, or a registration record
    certificate when the status it certifies has changed since. A record this region holds is
    decided here at once; one another region holds (its code is in the record's case id) is asked
    of that region's archive, and the case waits in "awaiting_archive" for the answer."""
    now = deps.clock.now()
    today = china_date(now)
    applicant = cmd.validated(today)
    _clerk_here(deps, actor)
    case_id = new_case_id("reissue", deps.region)
    cause = _cause(actor, case_id, now)
    record_region = record_region_of(cmd.record_case_id)
    if record_region and record_region != deps.region:
        return _reissue_from_another_archive(deps, cmd, actor, applicant, case_id, record_region, cause)
    with deps.store.transaction() as tx:
        _, decision = decide_from_archive(tx, cmd.record_case_id, applicant)
        number = issue_certificate_number(tx, document=decision.issued, office_code=actor.office_code, on=today,
                                          case_id=case_id, cause=cause)
        event = reissued(case_id=case_id, office_code=actor.office_code, region=deps.region,
                         record_case_id=cmd.record_case_id, applicant=applicant, decision=decision,
                         certificate_number=number, issued_on=today, reason=cmd.reason.strip())
        append(tx, case_id, REISSUE_STREAM_TYPE, NO_STREAM, [event], cause)
        refresh_read_models(tx, case_id)
    return case_id


def _reissue_from_another_archive(deps: Deps, cmd: ReissueCertificate, actor: Actor, applicant: str, case_id: str,
                                  record_region: str, cause: Cause) -> str:
    """补领 here of a record `record_region` holds (国务院令第804号: any office in the country): open
    the case and ask that region's archive (hand-off REQUEST_WORK, docs/cross-region.md) in one
    transaction. Its answer issues here (handoffs.when_archive_answers_issue_here)."""
    handoff_id = uuid.uuid4().hex
    event = ReissueRequested(
        case_id=case_id, office_code=actor.office_code, region=deps.region, record_case_id=cmd.record_case_id,
        record_region=record_region, applicant_citizen_id=applicant, reason=cmd.reason.strip(),
        requested_on=china_date(cause.occurred_at), handoff_id=handoff_id,
    )
    with deps.store.transaction() as tx:
        [opened] = append(tx, case_id, REISSUE_STREAM_TYPE, NO_STREAM, [event], cause)
        request_work(tx, case_id=case_id, to_region=record_region, work=REISSUE_WORK,
                     accept_within=deps.settings.reissue_accept_within,
                     answer_within=deps.settings.reissue_answer_within, actor=actor,
                     case_snapshot=to_message(event), handoff_id=handoff_id, occurred_at=cause.occurred_at,
                     causation_id=opened.event_id, trace=cause.trace)
        refresh_read_models(tx, case_id)
    return case_id


def query_marital_status(deps: Deps, cmd: QueryMaritalStatus, actor: Actor) -> str:
    """The status as this region's records and the registry's view of all regions show it; the
    question, the asker (the event's actor) and the answer are recorded together."""
    now = deps.clock.now()
    today = china_date(now)
    citizen_id = cmd.validated(today)
    case_id = new_case_id("status-query", deps.region)
    cause = _cause(actor, case_id, now)
    with deps.store.transaction() as tx:
        on_record = _status_everywhere(tx, citizen_id)
        event = answer_status_query(case_id=case_id, citizen_id=citizen_id, reason=cmd.reason.strip(),
                                    requesting_body=cmd.requesting_body.strip(), role=actor.role,
                                    authorised_roles=deps.settings.status_query_roles, on_record=on_record,
                                    queried_on=today, office_code=actor.office_code, region=deps.region)
        append(tx, case_id, STATUS_QUERY_STREAM_TYPE, NO_STREAM, [event], cause)
        refresh_read_models(tx, case_id)
    return case_id


def decide_from_archive(tx: StoreTransaction, record_case_id: str, applicant: str
                        ) -> tuple[Marriage | Divorce, ReissueDecision]:
    """This region's record and what its reissue is to be. Raises NotFound for a record this
    region does not hold, RuleViolation when there is nothing to reissue to this applicant."""
    record = _load_record(tx, record_case_id)
    remarried = isinstance(record, Divorce) and _has_other_live_marriage(tx, applicant, record.marriage_case_id)
    return record, decide_reissue(record, applicant=applicant, applicant_remarried=remarried)


def _load_record(tx: StoreTransaction, case_id: str) -> Marriage | Divorce:
    stream = tx.read_stream(case_id)
    if stream and stream[0].stream_type == divorce_module.STREAM_TYPE:
        return load_divorce(tx, case_id)
    return load_marriage(tx, case_id)


def _status_everywhere(tx: StoreTransaction, citizen_id: str) -> StatusOnRecord:
    """This region's record, unless the registry's view shows a confirmed live marriage that this
    region does not know of (registered in another region)."""
    local = status_on_record(tx.connection, citizen_id)
    if local.status is MaritalStatus.MARRIED:
        return local
    for entry in entries_of(tx, citizen_id):
        if (entry.kind is ClaimKind.LIVE_MARRIAGE and entry.status == "confirmed"
                and entry.case_id != local.marriage_case_id):
            return StatusOnRecord(MaritalStatus.MARRIED, entry.case_id, china_date(entry.decided_at), entry.region)
    return local


def _has_other_live_marriage(tx: StoreTransaction, citizen_id: str, marriage_case_id: str) -> bool:
    status = _status_everywhere(tx, citizen_id)
    return status.status is MaritalStatus.MARRIED and status.marriage_case_id != marriage_case_id


__all__ = [
    "decide_from_archive",
    "query_marital_status",
    "receive_divorce",
    "record_court_judgment",
    "register_divorce",
    "register_marriage",
    "reissue_certificate",
    "request_divorce_certificate",
    "withdraw_divorce",
]
