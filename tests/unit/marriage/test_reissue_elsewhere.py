"""补领 at any office in the country (国务院令第804号, since 2025-05-10): a reissue asked in 610000 for
a record 640000 holds goes through the hand-off protocol. Two real stores (the holding region on
SQLite and PostgreSQL, the asking one on SQLite); each message is delivered as the exchange
delivers it: the other store's recorded event, through the same hand-off reaction the host runs.

The broker carries them in tests/integration/marriage/test_national.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.common.clock import FakeClock
from services.common.handoff import get_handoff, handoff_reaction
from services.common.store import EventStore, sqlite_url
from services.host import Infrastructure
from services.marriage.application import handlers, queries
from services.marriage.bootstrap import MarriageService, bootstrap
from services.marriage.domain.commands import ReissueCertificate
from services.marriage.domain.reissue import RemoteReissue
from tests.fixtures.stores import COMPONENT_TABLES
from tests.unit.marriage.people import YINCHUAN_OFFICE, couple
from tests.unit.marriage.people import clerk as clerk_of
from tests.unit.marriage.test_application import china, register_married

SHAANXI = "610000"
XIAN_OFFICE = "610102-MRO-01"  # 新城区婚姻登记处
XIAN = clerk_of(XIAN_OFFICE, SHAANXI)


@pytest.fixture
def holder(store: EventStore) -> MarriageService:
    return bootstrap(Infrastructure.over(store))  # 640000: the region holding the record


@pytest.fixture
def asker(tmp_path: Path, clock: FakeClock) -> Iterator[MarriageService]:
    other = EventStore.open(sqlite_url(tmp_path / "shaanxi.db"), region=SHAANXI, service="marriage", clock=clock,
                            tables=COMPONENT_TABLES)
    try:
        yield bootstrap(Infrastructure.over(other))
    finally:
        other.close()


def deliver(source: MarriageService, target: MarriageService, after: int) -> int:
    """Every hand-off message of `source`'s log after `after` to `target`; the new position."""
    reaction = handoff_reaction(target.deps.region, target.handoff_hooks, service="marriage")
    for event in source.deps.store.read_log(after):
        after = event.position
        if reaction.wants(event):
            with target.deps.store.transaction() as tx:
                reaction(tx, event)
    return after


def exchange(holder: MarriageService, asker: MarriageService) -> None:
    """The request there, the answer back (the exchange's two hops)."""
    deliver(asker, holder, 0)
    deliver(holder, asker, 0)


def reissue_case(asker: MarriageService, case_id: str) -> RemoteReissue:
    case = queries.get_case(asker.deps, case_id).case
    assert isinstance(case, RemoteReissue)
    return case


def test_a_reissue_asked_in_another_region_is_issued_there_from_the_holding_archive_国务院令804(
        holder: MarriageService, asker: MarriageService, clock: FakeClock) -> None:
    clock.set(china(2026, 3, 2, 9))
    people = couple()
    marriage_id = register_married(holder, people)
    record = queries.get_case(holder.deps, marriage_id).case

    case_id = handlers.reissue_certificate(asker.deps, ReissueCertificate(marriage_id, people.wife, "遗失"), XIAN)
    waiting = reissue_case(asker, case_id)
    assert waiting.state == "awaiting_archive" and waiting.requested.record_region == "640000"

    exchange(holder, asker)
    done = reissue_case(asker, case_id)
    assert done.state == "issued"
    assert done.issued is not None and done.archive is not None
    assert done.issued.issued_document == "reissued_marriage_certificate"
    assert done.issued.certificate_number.startswith(f"BJ{XIAN_OFFICE}-2026-"), "the asking office's own counter"
    assert done.issued.original_certificate_number == record.certificate_number  # type: ignore[union-attr]
    assert {done.archive.party_a_citizen_id, done.archive.party_b_citizen_id} == {people.husband, people.wife}
    assert done.archive.registered_on == record.registered_on  # type: ignore[union-attr]
    answered = get_handoff(holder.deps.store, waiting.requested.handoff_id)
    assert answered.state.value == "answered"

    exchange(holder, asker)  # everything redelivered: nothing changes, no second number
    assert reissue_case(asker, case_id).version == done.version


def test_a_record_the_holding_region_does_not_have_ends_the_case_refused(
        holder: MarriageService, asker: MarriageService, clock: FakeClock) -> None:
    clock.set(china(2026, 3, 2, 9))
    people = couple()
    unknown = "marriage-640000-0000000000000000"
    case_id = handlers.reissue_certificate(asker.deps, ReissueCertificate(unknown, people.wife, "遗失"), XIAN)
    exchange(holder, asker)
    refused = reissue_case(asker, case_id)
    assert refused.state == "refused" and refused.issued is None
    assert "marriage-640000-0000000000000000" in refused.refusal_reason


def test_a_reissue_for_a_person_not_party_to_the_record_is_refused_by_the_holder(
        holder: MarriageService, asker: MarriageService, clock: FakeClock) -> None:
    clock.set(china(2026, 3, 2, 9))
    people, stranger = couple(), couple()
    marriage_id = register_married(holder, people, clerk_of(YINCHUAN_OFFICE))
    case_id = handlers.reissue_certificate(asker.deps, ReissueCertificate(marriage_id, stranger.wife, "遗失"), XIAN)
    exchange(holder, asker)
    refused = reissue_case(asker, case_id)
    assert refused.state == "refused" and "ApplicantIsParty" in refused.refusal_reason
