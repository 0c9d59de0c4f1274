"""A member of a granted 低保 household marries or divorces (in any region): the household is reviewed
(民发〔2021〕57号 动态管理: a change in the household's members). Marriage events are delivered as the
marriage events topic carries them, twice, as Kafka may."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from services.common.clock import FakeClock
from services.common.consumer import consume
from services.common.events import Actor, NewEvent, RecordedEvent
from services.common.store import EventStore, sqlite_url
from services.relief.application import handlers as h
from services.relief.application import queries
from services.relief.bootstrap import ReliefService
from services.relief.domain import commands as c
from tests.unit.relief.people import XINGQING_TOWNSHIP, clerk
from tests.unit.relief.test_dues import _granted
from tests.unit.relief.test_dues import ningxia as ningxia
from tongban.marriage.v1 import events_pb2 as marriage

CLERK = clerk()


@pytest.fixture
def marriage_store(tmp_path: Path) -> Iterator[EventStore]:
    store = EventStore.open(sqlite_url(tmp_path / "marriage-510000.db"), region="510000", service="marriage",
                            clock=FakeClock(datetime(2026, 5, 1, tzinfo=UTC)))
    try:
        yield store
    finally:
        store.close()


def _recorded(store: EventStore, stream_id: str, message: object) -> RecordedEvent:
    actor = Actor.system(store.region, "test")
    with store.transaction() as tx:
        version = tx.stream_version(stream_id)
        new = NewEvent.from_message(message, event_id=f"{stream_id}-{version + 1}",  # type: ignore[arg-type]
                                    actor=actor, correlation_id=stream_id, occurred_at=store.clock.now())
        [recorded] = tx.append(stream_id, "marriage.Marriage", version, [new])
    return recorded


def test_a_members_marriage_elsewhere_triggers_the_household_review(
        ningxia: ReliefService, marriage_store: EventStore) -> None:
    case_id, applicant = _granted(ningxia, earned=20_000)
    # As the host applies it once its gate verified the signed event: through the inbox.
    [reaction] = [r for r in ningxia.wiring.reactions if r.topic == "tongban.marriage.events.v1"]
    stream = "marriage-510000-0123456789abcdef"
    received = _recorded(marriage_store, stream, marriage.MarriageApplicationReceived(
        case_id=stream, party_a=marriage.PartyRecord(citizen_id=applicant),
        party_b=marriage.PartyRecord(citizen_id="510802199001010012")))
    registered = _recorded(marriage_store, stream, marriage.MarriageRegistered(certificate_number="J510802-2026-1"))
    for event in (received, registered, registered):  # a redelivery changes nothing
        consume(ningxia.deps.store, reaction.name, event.to_bytes(), [], reaction.handle)
    case = queries.get_case(ningxia.deps, case_id).case
    assert case.review_triggers == [stream]
    [listed] = queries.office_queue(ningxia.deps, office_code=XINGQING_TOWNSHIP, queue="dibao_review_requested")
    assert listed.case_id == case_id
    h.record_review(ningxia.deps, c.CaseStep(case_id, "其子结婚后另立户口, 户内人数不变"), CLERK)
    assert queries.office_queue(ningxia.deps, office_code=XINGQING_TOWNSHIP, queue="dibao_review_requested") == []
    assert date(2027, 3, 1) < queries.get_case(ningxia.deps, case_id).case.review_due_on  # type: ignore[operator]
