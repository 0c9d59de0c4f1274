"""The statements every registration runs, as prepared driver SQL (issue 15: they were most of the
front door's SQLAlchemy time), kept to the same contract on SQLite and PostgreSQL: a request id
claimed once and answered (architecture invariant 9), a person's registry entries in the order
a window reads them (invariant 10), a person's marital status on this region's record."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import insert

from services.common.clock import FakeClock
from services.common.errors import InvalidArgument
from services.common.events import TraceContext
from services.common.kit import requests
from services.common.registry.person import ClaimKind, Outcome, RegistryDecision, ReleaseReason
from services.common.registry.projection import apply_decision, entries_of
from services.common.store import EventStore
from services.marriage.domain.values import MaritalStatus
from services.marriage.projections.read_models import marriage_person_status, status_on_record

PERSON = "640104199001011234"


def test_invariant_9_a_request_id_is_claimed_once_and_its_first_answer_returned(store: EventStore) -> None:
    first = requests.Request("req-1", "f" * 64)
    with store.transaction() as tx:
        assert requests.claim(tx, first) is None  # new: the command goes ahead
        requests.answer(tx, first, "marriage-640000-1")
    with store.transaction() as tx:
        assert requests.claim(tx, first) == "marriage-640000-1"  # a retry: the first answer
    with store.transaction() as tx, pytest.raises(InvalidArgument) as refused:
        requests.claim(tx, requests.Request("req-1", "0" * 64))
    assert refused.value.violations[0].field == "request_id"


def test_invariant_9_a_claim_rolled_back_leaves_the_id_free(store: EventStore) -> None:
    request = requests.Request("req-2", "a" * 64)
    with pytest.raises(RuntimeError), store.transaction() as tx:
        assert requests.claim(tx, request) is None
        raise RuntimeError("the command failed: nothing of it is recorded")
    with store.transaction() as tx:
        assert requests.claim(tx, request) is None


def _decision(claim_id: str, outcome: Outcome, at_s: int, *, region: str = "640000", case_id: str = "",
              reason: str = "", released_on: date | None = None) -> RegistryDecision:
    return RegistryDecision(
        decision_id=f"{claim_id}-{outcome}", claim_id=claim_id, citizen_id=PERSON, kind=ClaimKind.LIVE_MARRIAGE,
        case_id=case_id or f"case-{claim_id}", region=region, service="marriage", outcome=outcome.value,
        holder_case_id="", holder_region="", holder_service="",
        decided_at=FakeClock().now() + timedelta(seconds=at_s), correlation_id="c", trace=TraceContext(),
        release_reason=reason, released_on=released_on)


def test_invariant_10_a_persons_entries_read_back_in_decision_order_with_every_field(store: EventStore) -> None:
    with store.transaction() as tx:
        apply_decision(tx, _decision("b", Outcome.CONFIRMED, 20, region="510000"))
        apply_decision(tx, _decision("a", Outcome.RELEASED, 10, reason=ReleaseReason.DIVORCE.value,
                                     released_on=date(2026, 5, 20)))
    with store.transaction() as tx:
        entries = entries_of(tx, PERSON)
        assert entries_of(tx, "110101199001011237") == []
    assert [(e.claim_id, e.status, e.region) for e in entries] == [
        ("a", Outcome.RELEASED, "640000"), ("b", Outcome.CONFIRMED, "510000")]
    released = entries[0]
    assert (released.kind, released.case_id, released.release_reason, released.released_on) == (
        ClaimKind.LIVE_MARRIAGE, "case-a", "divorce", date(2026, 5, 20))
    assert released.decided_at == FakeClock().now() + timedelta(seconds=10)
    assert entries[1].released_on is None and entries[1].holding


def test_a_persons_status_on_this_regions_record(store: EventStore) -> None:
    with store.transaction() as tx:
        assert status_on_record(tx.connection, PERSON).status is MaritalStatus.UNMARRIED_ON_RECORD
        tx.connection.execute(insert(marriage_person_status).values(
            citizen_id=PERSON, status=MaritalStatus.MARRIED.value, marriage_case_id="m-1", since="2026-05-20"))
        found = status_on_record(tx.connection, PERSON)
    assert (found.status, found.marriage_case_id, found.since) == (MaritalStatus.MARRIED, "m-1", date(2026, 5, 20))
