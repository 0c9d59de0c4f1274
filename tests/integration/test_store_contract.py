"""The event store contract, run against SQLite (WAL) and PostgreSQL alike."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError, IntegrityError

from services.common.clock import FakeClock
from services.common.errors import ConcurrencyConflict
from services.common.events import TraceContext
from services.common.hashing import GENESIS
from services.common.store import NO_STREAM, AlreadyProcessed, EventStore, snapshots, verify_store
from tests.support import CLERK, new_event, unique_id, wait_until


def test_appended_events_read_back_with_their_full_provenance(store: EventStore) -> None:
    case = unique_id()
    trace = TraceContext("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tongban=1")
    stored = store.append(case, "marriage.Registration", NO_STREAM,
                          [new_event("first", trace=trace), new_event("second")])
    loaded = store.read_stream(case)
    assert loaded == stored
    first = loaded[0]
    assert [e.version for e in loaded] == [1, 2]
    assert first.message() == StringValue(value="first")
    assert first.type == "google.protobuf.StringValue"
    assert (first.region, first.service, first.actor) == ("640000", "marriage", CLERK)
    assert (first.correlation_id, first.causation_id, first.trace) == ("corr-1", "cmd-1", trace)
    assert first.recorded_at == store.clock.now()
    assert first.prev_hash == GENESIS and loaded[1].prev_hash == first.hash
    assert store.stream_version(case) == 2


def test_wrong_expected_version_raises_and_appends_nothing(store: EventStore) -> None:
    case = unique_id()
    store.append(case, "t", NO_STREAM, [new_event()])
    head_before = store.head()
    with pytest.raises(ConcurrencyConflict) as raised:
        store.append(case, "t", 0, [new_event("a"), new_event("b")])
    assert (raised.value.expected, raised.value.actual) == (0, 1)
    with pytest.raises(ConcurrencyConflict):
        store.append(case, "t", 5, [new_event()])
    assert store.stream_version(case) == 1
    assert store.head() == head_before


def test_any_version_appends_after_whatever_is_there(store: EventStore) -> None:
    case = unique_id()
    store.append(case, "t", None, [new_event()])
    store.append(case, "t", None, [new_event()])
    assert store.stream_version(case) == 2


def test_a_transaction_over_several_streams_is_all_or_nothing(store: EventStore) -> None:
    a, b = unique_id(), unique_id()
    with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
        tx.append(a, "t", NO_STREAM, [new_event()])
        tx.append(b, "t", 3, [new_event()])  # wrong version: the whole transaction is void
    assert store.stream_version(a) == 0 and store.head()[0] == 0
    with store.transaction() as tx:
        tx.append(a, "t", NO_STREAM, [new_event()])
        tx.append(b, "t", NO_STREAM, [new_event()])
        tx.append(a, "t", 1, [new_event()])
    assert [e.stream_id for e in store.read_log()] == [a, b, a]
    assert verify_store(store).ok


def test_an_event_id_is_stored_once(store: EventStore) -> None:
    event = new_event()
    store.append(unique_id(), "t", NO_STREAM, [event])
    with pytest.raises(IntegrityError):
        store.append(unique_id(), "t", NO_STREAM, [event])
    assert store.head()[0] == 1


def test_appends_go_on_after_refused_ones(store: EventStore) -> None:
    """A conflict and a reused event id leave the store (and the single-append path's own
    connection on SQLite) ready for the next append, with the chains intact."""
    case, event = unique_id(), new_event()
    store.append(case, "t", NO_STREAM, [event])
    with pytest.raises(ConcurrencyConflict):
        store.append(case, "t", NO_STREAM, [new_event()])
    with pytest.raises(IntegrityError):
        store.append(unique_id(), "t", NO_STREAM, [event])
    store.append(case, "t", 1, [new_event()])
    assert store.stream_version(case) == 2 and store.head()[0] == 2
    assert verify_store(store).ok


def test_a_snapshot_sits_beside_the_log_and_is_read_with_the_events_after_it(store: EventStore) -> None:
    """Snapshots are a cache (invariant 1): written and deleted beside the log without touching it;
    read together with the stream from the snapshot's own event (the whole stream without one)."""
    case = unique_id()
    stored = store.append(case, "t", NO_STREAM, [new_event(f"e{i}") for i in range(5)])
    head = store.head()
    with store.transaction() as tx:
        assert snapshots.read_with_tail(tx.connection, case) == (None, stored)
        at = stored[2]
        snapshots.write(tx.connection, snapshots.StoredSnapshot(case, "t", "1.x", at.version, at.position, at.hash,
                                                                b"{}", 0))
    with store.transaction() as tx:
        found, tail = snapshots.read_with_tail(tx.connection, case)
        assert found is not None and (found.version, found.hash) == (3, stored[2].hash)
        assert tail == stored[2:]
        assert snapshots.remove(tx.connection, case) == 1
    assert store.head() == head and store.read_stream(case) == stored and verify_store(store).ok


def test_read_stream_as_of_a_time_shows_the_case_as_it_stood(store: EventStore, clock: FakeClock) -> None:
    case = unique_id()
    store.append(case, "t", NO_STREAM, [new_event("received")])
    moment = clock.now()
    clock.advance(timedelta(days=31))
    store.append(case, "t", 1, [new_event("cooling-off ended")])
    assert [e.message().value for e in store.read_stream(case, as_of=moment)] == ["received"]
    assert [e.message().value for e in store.read_stream(case, as_of=moment - timedelta(seconds=1))] == []
    assert len(store.read_stream(case)) == 2


def test_global_log_reads_after_a_position_in_order(store: EventStore) -> None:
    streams = [unique_id() for _ in range(5)]
    for round_ in range(3):
        for s in streams:
            store.append(s, "t", round_, [new_event(f"{s}:{round_}")])
    log = store.read_log(after=0, limit=1000)
    assert [e.position for e in log] == list(range(1, 16))
    assert [e.position for e in store.read_log(after=10, limit=3)] == [11, 12, 13]
    assert [e.position for e in store.iter_log(after=4, batch=4)] == list(range(5, 16))
    assert store.head() == (15, log[-1].global_hash)


def test_inbox_makes_a_redelivered_event_have_no_effect(store: EventStore) -> None:
    target = unique_id("projection")

    def effect(tx):  # type: ignore[no-untyped-def]
        return tx.append(target, "t", None, [new_event("effect")])

    assert store.process_once("consumer-a", "event-1", effect)
    for _ in range(3):  # deliberate redelivery
        with pytest.raises(AlreadyProcessed):
            store.process_once("consumer-a", "event-1", effect)
    assert store.stream_version(target) == 1
    # another consumer has its own inbox
    store.process_once("consumer-b", "event-1", effect)
    assert store.stream_version(target) == 2


def test_a_failed_effect_leaves_the_event_unprocessed(store: EventStore) -> None:
    def failing(tx):  # type: ignore[no-untyped-def]
        tx.append(unique_id(), "t", None, [new_event()])
        raise RuntimeError("crash in the middle of the effect")

    with pytest.raises(RuntimeError):
        store.process_once("consumer-a", "event-9", failing)
    assert not store.is_processed("consumer-a", "event-9")
    assert store.head()[0] == 0


def test_stored_events_cannot_be_updated_or_deleted(store: EventStore) -> None:
    store.append(unique_id(), "t", NO_STREAM, [new_event()])
    with pytest.raises(DatabaseError), store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET payload = :p"), {"p": b"x"})
    with pytest.raises(DatabaseError), store.engine.begin() as conn:
        conn.execute(text("DELETE FROM events"))
    assert verify_store(store).ok


def test_a_reader_never_skips_an_event_whose_commit_is_late(store: EventStore) -> None:
    """Writer A appends and holds its transaction open; writer B appends to another stream
    meanwhile. A reader following the log must see A's event before B's, with no gap: B waits
    for the head lock, so positions follow commit order."""
    store.append(unique_id(), "t", NO_STREAM, [new_event("before")])
    a_appended, release_a = threading.Event(), threading.Event()
    b_done = threading.Event()

    def writer_a() -> None:
        with store.transaction() as tx:
            tx.append("stream-a", "t", NO_STREAM, [new_event("a")])
            a_appended.set()
            release_a.wait(timeout=30)

    def writer_b() -> None:
        store.append("stream-b", "t", NO_STREAM, [new_event("b")])
        b_done.set()

    ta = threading.Thread(target=writer_a)
    ta.start()
    assert a_appended.wait(timeout=30)
    tb = threading.Thread(target=writer_b)
    tb.start()
    seen = [e.position for e in store.read_log(after=0)]
    assert seen == [1], "nothing uncommitted is visible"
    assert not b_done.is_set(), "B waits behind A's uncommitted positions"
    release_a.set()
    ta.join(timeout=30)
    tb.join(timeout=30)
    log = store.read_log(after=1)
    assert [(e.position, e.stream_id) for e in log] == [(2, "stream-a"), (3, "stream-b")]
    assert verify_store(store).ok


@pytest.mark.postgres
def test_postgres_writers_commit_while_another_transaction_is_open(postgres_url: str) -> None:
    """A transaction that has not appended yet (a consumer checking its inbox) holds no lock:
    others commit meanwhile, and its own event, committed last, gets the next position, so a
    reader that already passed the others still sees it."""
    store = EventStore.open(postgres_url, region="510000", service="relief", clock=FakeClock())
    try:
        opened, release = threading.Event(), threading.Event()

        def slow() -> None:
            with store.transaction() as tx:
                tx.mark_processed("consumer", "evt-slow")
                opened.set()
                release.wait(timeout=30)
                tx.append("slow-stream", "t", NO_STREAM, [new_event("slow")])

        t = threading.Thread(target=slow)
        t.start()
        assert opened.wait(timeout=30)
        for i in range(3):
            store.append(f"fast-{i}", "t", NO_STREAM, [new_event("fast")])
        cursor = store.read_log(after=0)[-1].position
        assert cursor == 3
        release.set()
        t.join(timeout=30)
        later = wait_until(lambda: store.read_log(after=cursor), what="the late commit")
        assert [(e.position, e.stream_id) for e in later] == [(4, "slow-stream")]
        assert verify_store(store).ok
    finally:
        store.close()


def test_lock_head_keeps_writers_waiting_until_the_holder_ends(store: EventStore) -> None:
    """A transaction that took the head lock before appending anything (a rebuild reading the
    log, an owner check) keeps every other writer waiting until it commits; its own later append
    takes the next position, before theirs."""
    store.append(unique_id(), "t", NO_STREAM, [new_event("before")])
    locked, release = threading.Event(), threading.Event()

    def holder() -> None:
        with store.transaction() as tx:
            tx.lock_head()
            tx.lock_head()  # idempotent within the transaction
            locked.set()
            release.wait(timeout=30)
            tx.append("holder", "t", NO_STREAM, [new_event("holder")])

    def writer() -> None:
        store.append("writer", "t", NO_STREAM, [new_event("writer")])

    th = threading.Thread(target=holder)
    th.start()
    assert locked.wait(timeout=30)
    tw = threading.Thread(target=writer)
    tw.start()
    if store.dialect == "postgresql":
        # Proof that the writer is queued on the lock, not merely slow to start.
        waiting = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND wait_event_type = 'Lock'")

        def writer_waits() -> bool:
            with store.engine.connect() as conn:
                return bool(conn.execute(waiting).scalar())

        wait_until(writer_waits, what="the writer waiting on the head lock")
    assert [e.position for e in store.read_log(after=0)] == [1], "nothing else committed meanwhile"
    release.set()
    th.join(timeout=30)
    tw.join(timeout=30)
    assert [(e.position, e.stream_id) for e in store.read_log(after=1)] == [(2, "holder"), (3, "writer")]
    assert verify_store(store).ok
