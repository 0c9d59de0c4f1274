"""Relief's reaction to the marriage service's events (in any region): a member of a granted 低保
household who marries or divorces changes the household, so its review is triggered
(HouseholdReviewTriggered; the office's "dibao_review_requested" queue lists it until the review is
recorded).

The registration events name no persons — the application events of the same stream do — so the
parties of each marriage and divorce application are kept in a table of this store
(`relief_marriage_parties`), written with the inbox entry of the message that named them. Every
message is processed once (the inbox, keyed by event id), in the transaction of its effect."""

from __future__ import annotations

import logging

from google.protobuf.message import DecodeError
from sqlalchemy import Column, MetaData, String, Table, insert, select

from services.common.clock import china_date
from services.common.consumer import Headers
from services.common.events import Actor, RecordedEvent
from services.common.kit import Provenance
from services.common.store import AlreadyProcessed, StoreTransaction
from services.host.definition import Reaction
from services.relief.application.unit import Deps
from services.relief.domain.dibao import Dibao
from services.relief.projections.read_models import granted_cases_of
from tongban.marriage.v1 import events_pb2 as marriage

log = logging.getLogger(__name__)

CONSUMER = "relief.marriage-events"
MARRIAGE_EVENTS_TOPIC = "tongban.marriage.events.v1"

TABLES = MetaData()
marriage_parties = Table(
    "relief_marriage_parties", TABLES,
    Column("stream_id", String(200), primary_key=True),
    Column("citizen_id", String(18), primary_key=True),
)

# the registration event → what it means for a household
_CAUSES = {marriage.MarriageRegistered.DESCRIPTOR.full_name: "marriage",
           marriage.DivorceRegistered.DESCRIPTOR.full_name: "divorce"}


_APPLICATIONS = (marriage.MarriageApplicationReceived.DESCRIPTOR.full_name,
                 marriage.DivorceApplicationReceived.DESCRIPTOR.full_name)


def _parties_named(event: RecordedEvent) -> list[str]:
    if event.type not in _APPLICATIONS:
        return []
    message = event.message()
    if isinstance(message, marriage.MarriageApplicationReceived):
        return [message.party_a.citizen_id, message.party_b.citizen_id]
    if isinstance(message, marriage.DivorceApplicationReceived):
        return [message.spouse_a.citizen_id, message.spouse_b.citizen_id]
    return []


def marriage_reaction(deps: Deps) -> Reaction:
    """The same reaction as the host applies it: a signed stored event of the marriage events topic,
    verified by the host's gate (invariant 8) and applied once through the inbox (`consume`)."""
    return Reaction(name=CONSUMER, event_types=frozenset({*_APPLICATIONS, *_CAUSES}), topic=MARRIAGE_EVENTS_TOPIC,
                    handle=lambda tx, event: _take(deps, tx, event))


def when_a_member_marries_or_divorces_review_the_household(deps: Deps):  # type: ignore[no-untyped-def]
    def react(key: bytes | None, value: bytes, headers: Headers) -> None:
        try:
            event = RecordedEvent.from_bytes(value)
        except (DecodeError, ValueError):  # a message that is no event is dropped, and said so
            log.error("relief: dropping a message of the marriage events topic that is no event")
            return
        if event.type not in _APPLICATIONS and event.type not in _CAUSES:
            return
        try:
            deps.store.process_once(CONSUMER, event.event_id, lambda tx: _take(deps, tx, event))
        except AlreadyProcessed:
            return
    return react


def _take(deps: Deps, tx: StoreTransaction, event: RecordedEvent) -> None:
    parties = _parties_named(event)
    if parties:
        tx.connection.execute(insert(marriage_parties), [dict(stream_id=event.stream_id, citizen_id=c)
                                                         for c in sorted(set(parties))])
        return
    cause = _CAUSES[event.type]
    persons = tx.connection.execute(select(marriage_parties.c.citizen_id)
                                    .where(marriage_parties.c.stream_id == event.stream_id)).scalars().all()
    provenance = Provenance(Actor.system(deps.region, "relief"), event.correlation_id, event.event_id,
                            deps.clock.now(), event.trace)
    today = china_date(provenance.occurred_at)
    with deps.units.joining(tx, provenance) as uow:
        for citizen in sorted(persons):
            for case_id in granted_cases_of(tx.connection, citizen):
                case = uow.load(Dibao, case_id)
                uow.record(case, case.trigger_review(today, citizen, cause, event.stream_id, event.region),
                           provenance=provenance.correlated_with(case_id))
