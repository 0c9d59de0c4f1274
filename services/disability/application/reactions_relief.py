"""The disability service's reaction to the relief service's events (tongban.relief.events.v1, any
region): whether a person lives in a 低保 household decides the living subsidy (国发〔2015〕52号
二(一)), and relief is where that is recorded.

* MemberLeftDibao: the household left 低保 — acted on as the data-matching finding "dibao_ended"
  (matching.py): the living subsidy stops from the month after the last 低保 month, the finding
  recorded as a DataMatch naming the relief case, so an auditor sees what arrived from whom; an
  application under review whose status relief had verified loses that verification.
* MemberEnteredDibao: the household entered 低保 — an application still under review with the
  living subsidy asked has its declared household status verified (HouseholdStatusConfirmed,
  source "relief").

A region consumes what concerns it: `wants` lets through only events of persons with
applications in this region (others leave no trace, not even an inbox row); each one that does is
applied once, through the inbox, in the transaction of its effect."""

from __future__ import annotations

import calendar
from datetime import date

from services.common.clock import china_date
from services.common.events import Actor, RecordedEvent
from services.common.identity.case_ids import new_case_id
from services.common.kit import Provenance, UnitOfWork
from services.common.store import StoreTransaction
from services.disability.application.unit import Deps
from services.disability.domain.application import Application
from services.disability.domain.matching import (
    DataMatch,
    DataMatchReceived,
    Finding,
    FindingKind,
    act_on_finding,
    household_left_dibao,
    verify_household_on_enrolment,
)
from services.disability.projections.read_models import cases_of_person
from services.host.definition import Reaction
from tongban.relief.v1 import events_pb2 as relief

CONSUMER = "disability.relief-events"  # the inbox name: never renamed (every event would be applied again)
RELIEF_EVENTS_TOPIC = "tongban.relief.events.v1"
ENTERED = relief.MemberEnteredDibao.DESCRIPTOR.full_name
LEFT = relief.MemberLeftDibao.DESCRIPTOR.full_name


def last_day_of(month: str) -> date:
    """The last day of a "YYYY-MM" month: the day a household's last 低保 month ends."""
    year, number = (int(part) for part in month.split("-"))
    return date(year, number, calendar.monthrange(year, number)[1])


def _person(event: RecordedEvent) -> str:
    message = event.message()
    assert isinstance(message, relief.MemberEnteredDibao | relief.MemberLeftDibao)
    return message.citizen_id


def _reviewed_here(uow: UnitOfWork, citizen_id: str) -> list[Application]:
    """The person's applications this region reviews and pays (one received here only to forward
    to another province's 户籍 region is that region's to act on)."""
    found = [uow.find(Application, case_id, for_write=False) for case_id in cases_of_person(uow.tx.connection,
                                                                                            citizen_id)]
    return [uow.load(Application, app.case_id) for app in found if app is not None and not app.forwarded_to]


def when_relief_records_dibao_act_on_the_living_subsidy(deps: Deps) -> Reaction:
    def wants(event: RecordedEvent) -> bool:
        if event.service != "relief" or event.type not in (ENTERED, LEFT) or deps.settings.regional is None:
            return False
        with deps.store.engine.connect() as conn:
            return bool(cases_of_person(conn, _person(event)))

    def handle(tx: StoreTransaction, event: RecordedEvent) -> None:
        if not wants(event):
            return
        if event.type == LEFT:
            _left(deps, tx, event)
        else:
            _entered(deps, tx, event)

    return Reaction(name=CONSUMER, event_types=frozenset({ENTERED, LEFT}), handle=handle, topic=RELIEF_EVENTS_TOPIC,
                    wants=wants)


def _entered(deps: Deps, tx: StoreTransaction, event: RecordedEvent) -> None:
    entered = event.message()
    assert isinstance(entered, relief.MemberEnteredDibao)
    provenance = Provenance(Actor.system(deps.region, "relief-events"), event.correlation_id, event.event_id,
                            deps.clock.now(), event.trace)
    with deps.units.joining(tx, provenance) as uow:
        for app in _reviewed_here(uow, entered.citizen_id):
            uow.record(app, verify_household_on_enrolment(app), provenance=provenance.correlated_with(app.case_id))


def _left(deps: Deps, tx: StoreTransaction, event: RecordedEvent) -> None:
    """As a clerk's data match of kind dibao_ended (handlers.record_data_match), the relief case
    as its source: a DataMatch stream, then each application it acts on, caused by it."""
    left = event.message()
    assert isinstance(left, relief.MemberLeftDibao)
    match_id = new_case_id("disability-match", deps.region)
    provenance = Provenance(Actor.system(deps.region, "relief-events"), match_id, event.event_id,
                            deps.clock.now(), event.trace)
    today = china_date(provenance.occurred_at)
    finding = Finding(FindingKind.DIBAO_ENDED, left.citizen_id, min(last_day_of(left.last_month), today),
                      f"relief {event.region} {left.case_id}: {left.reason}"[:200], "")
    with deps.units.joining(tx, provenance) as uow:
        affected = [(app, events) for app in _reviewed_here(uow, left.citizen_id)
                    if (events := act_on_finding(app, finding, found_on=today, region=deps.region,
                                                 settings=deps.regional) or household_left_dibao(app))]
        uow.start(DataMatch, match_id, [DataMatchReceived(
            match_id, finding.kind.value, finding.citizen_id, finding.effective_on, finding.source, "", today,
            "\n".join(app.case_id for app, _ in affected))])
        cause = uow.changes[-1].last_event_id
        for app, events in affected:
            uow.record(app, events, provenance=provenance.correlated_with(app.case_id).caused_by(cause))
