"""PostgreSQL single appends in one round trip (issue 15): the store guesses the head from its own
last commit and the database checks the guess. A wrong guess (another writer, a rolled-back
transaction) must never break a chain or hide a conflict (architecture invariants 1 and 3)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from sqlalchemy.exc import IntegrityError

from services.common.errors import ConcurrencyConflict
from services.common.events import TraceContext
from services.common.store import NO_STREAM, EventStore, verify_store
from tests.support import new_event

pytestmark = pytest.mark.postgres


@pytest.fixture
def two_writers(postgres_url: str) -> Iterator[tuple[EventStore, EventStore]]:
    a = EventStore.open(postgres_url, region="640000", service="marriage")
    b = EventStore.open(postgres_url, region="640000", service="marriage", create=False)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def test_two_writers_on_one_database_keep_one_chain_and_see_each_others_versions(
        two_writers: tuple[EventStore, EventStore]) -> None:
    """Invariant 1: each store's remembered head goes stale as the other writes; every append
    still lands at the next position, and a stale expected version is refused with the real one."""
    a, b = two_writers
    a.append("case-a", "case", NO_STREAM, [new_event("a1")])
    a.append("case-a", "case", 1, [new_event("a2")])  # a's own head: the one-round-trip path
    assert a.one_round_trip_appends == 1
    b.append("case-b", "case", NO_STREAM, [new_event("b1")])
    a.append("case-a", "case", 2, [new_event("a3")])  # a's head is stale: the checked path
    b.append("case-a", "case", 3, [new_event("a4 by b")])
    with pytest.raises(ConcurrencyConflict) as conflict:
        a.append("case-a", "case", 3, [new_event("a4 by a")])  # a remembers version 3: stale
    assert (conflict.value.expected, conflict.value.actual) == (3, 4)
    a.append("case-a", "case", 4, [new_event("a5"), new_event("a6")])  # the checked path again
    a.append("case-a", "case", 6, [new_event("a7")])  # a knows the head again: one round trip
    with pytest.raises(ConcurrencyConflict):
        b.append("case-b", "case", NO_STREAM, [new_event("b1 again")])
    assert a.one_round_trip_appends == 2
    assert [e.message().value for e in a.read_stream("case-a")] == ["a1", "a2", "a3", "a4 by b", "a5", "a6", "a7"]
    assert [e.position for e in b.read_log()] == list(range(1, 9))
    report = verify_store(a)
    assert report.ok, report.problem
    assert report.events_checked == 8


def test_a_rolled_back_append_leaves_no_false_hash_behind(two_writers: tuple[EventStore, EventStore]) -> None:
    """Invariant 3: a transaction that appended and then failed is not remembered; the next
    append links to the event that was really committed in its place."""
    a, b = two_writers
    a.append("warm-up", "case", NO_STREAM, [new_event("first")])
    with pytest.raises(RuntimeError), a.transaction() as tx:
        tx.append("case-r", "case", NO_STREAM, [new_event("rolled back")])
        raise RuntimeError("the command fails after appending")
    b.append("case-r", "case", NO_STREAM, [new_event("committed by b")])
    a.append("case-r", "case", 1, [new_event("second")])
    assert [e.message().value for e in a.read_stream("case-r")] == ["committed by b", "second"]
    report = verify_store(a)
    assert report.ok, report.problem


def test_a_reused_event_id_is_refused_and_changes_nothing(two_writers: tuple[EventStore, EventStore]) -> None:
    """Invariant 1: an event is appended exactly once; the refusal leaves the head where it was."""
    a, _ = two_writers
    a.append("case-1", "case", NO_STREAM, [new_event("one", event_id="evt-1")])
    head = a.head()
    with pytest.raises(IntegrityError):
        a.append("case-2", "case", NO_STREAM, [new_event("again", event_id="evt-1")])
    assert a.head() == head
    a.append("case-2", "case", NO_STREAM, [new_event("two")])
    report = verify_store(a)
    assert report.ok, report.problem
    assert report.events_checked == 2


def test_several_events_in_one_round_trip_are_stored_exactly_as_given(postgres_url: str) -> None:
    """Invariant 3: a many-event append goes as one array per column (pg_fast._MANY_ROWS); every field
    comes back byte for byte -- any text, an empty trace state, instants before 1970 -- and the
    chains verify."""
    store = EventStore.open(postgres_url, region="640000", service="marriage")
    try:
        store.append("warm-up", "case", NO_STREAM, [new_event("first")])  # the head is known from here on
        given = [
            new_event("结婚登记 \\ \"quoted\" {braces}, commas", correlation_id="corr,{1}"),
            new_event("", trace=TraceContext(f"00-{'a' * 32}-{'b' * 16}-01", "vendor=1,other=\"x\"")),
            new_event("NULL", occurred_at=datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)),
            new_event("line\nbreak\ttab \u2028 😀", correlation_id=""),
        ]
        recorded = store.append("case-many", "case", NO_STREAM, given)
        assert store.one_round_trip_appends == 1
        assert store.read_stream("case-many") == recorded
        assert [e.message().value for e in recorded] == [StringValue.FromString(g.payload).value for g in given]
        assert [(e.correlation_id, e.trace, e.occurred_at) for e in recorded] == [
            (g.correlation_id, g.trace, g.occurred_at) for g in given]
        report = verify_store(store)
        assert report.ok and report.events_checked == 5, report.problem
    finally:
        store.close()
