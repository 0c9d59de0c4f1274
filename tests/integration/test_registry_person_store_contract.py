"""The registry worker's person store, as a contract both its backends keep (architecture invariants
1 and 5; issue 11): SQLite, a worker's own file by default, and PostgreSQL, shared by the workers of
several hosts (person_store.py). What a worker committed is there for the next one, a worker that no
longer owns a person cannot overwrite its record -- also when the two write at the same moment --
and the timer reads only the persons due."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future
from datetime import timedelta

import pytest
from sqlalchemy import insert, text

from services.common.events import to_micros
from services.common.registry.domain import ClaimKind, decide, next_due, record_from_json, record_to_json
from services.common.registry.worker.person_store import POSITION_EVERY, PersonStore, StaleRecord, persons
from services.common.store.engine import WRITE
from tests.support import wait_until
from tests.unit.test_registry_domain import NINGXIA, PERSON, SICHUAN, T0, TTL, claim

TOPIC = "tongban.registry.claims.v1"
WAIT = timedelta(seconds=10)
GRANTED_DUE = T0 + TTL


def _granted() -> dict[str, object]:
    return record_to_json(decide(None, claim("request", "c1", NINGXIA), claim_ttl=TTL, release_wait=WAIT).record)


def _confirmed(record: dict[str, object]) -> dict[str, object]:
    return record_to_json(decide(record_from_json(record), claim("confirm", "c1", NINGXIA),
                                 claim_ttl=TTL, release_wait=WAIT).record)


@pytest.fixture
def worker(store_url: str) -> Iterator[PersonStore]:
    """A worker's person store on SQLite or PostgreSQL (tests/fixtures/stores.py's store_url)."""
    store = PersonStore(store_url)
    try:
        yield store
    finally:
        store.close()


def test_a_grant_committed_before_a_kill_is_there_for_the_restarted_worker(store_url: str, worker: PersonStore) -> None:
    """One live marriage per person (民法典 第1042条) rests on the registry remembering every grant:
    a record committed with its input's offset is read back by a new worker on the same store."""
    worker.commit(TOPIC, 3, next_offset=41, citizen_id=PERSON, record=_granted(), read=None, due=GRANTED_DUE)
    again = PersonStore(store_url)  # a new process: nothing in memory
    try:
        stored = again.get(PERSON)
        assert stored is not None and stored.version == 1
        assert record_from_json(stored.record).holder(ClaimKind.LIVE_MARRIAGE) == NINGXIA
        assert (again.position(TOPIC, 3), again.position(TOPIC, 4)) == (41, None)
        assert again.count() == 1
    finally:
        again.close()


def test_a_worker_that_lost_the_person_to_another_cannot_overwrite_its_decision(
        store_url: str, worker: PersonStore) -> None:
    """Invariant 5, a single writer per person: after a rebalance a zombie worker still writes on the
    version it read; the store refuses (StaleRecord), so the new owner's decision stands, and the
    zombie's own cache no longer hides it."""
    worker.commit(TOPIC, 0, next_offset=1, citizen_id=PERSON, record=_granted(), read=None, due=GRANTED_DUE)
    zombie_read = worker.get(PERSON)
    assert zombie_read is not None
    owner = PersonStore(store_url)  # the worker the partition moved to
    try:
        owner_read = owner.get(PERSON)
        assert owner_read == zombie_read
        newer = _confirmed(dict(owner_read.record))
        owner.commit(TOPIC, 0, next_offset=2, citizen_id=PERSON, record=newer, read=owner_read, due=None)
        with pytest.raises(StaleRecord):
            worker.commit(TOPIC, 0, next_offset=2, citizen_id=PERSON, record=_granted(), read=zombie_read,
                          due=GRANTED_DUE)
        with pytest.raises(StaleRecord):
            worker.commit(TOPIC, 0, next_offset=2, citizen_id=PERSON, record=_granted(), read=None, due=GRANTED_DUE)
        for reader in (worker, owner, PersonStore(store_url)):
            stored = reader.get(PERSON)
            assert stored is not None and (stored.version, stored.record) == (2, newer)
        assert PersonStore(store_url).position(TOPIC, 0) == 2, "the refused writes moved nothing"
    finally:
        owner.close()


def test_two_workers_writing_a_new_person_at_the_same_moment_one_is_refused_as_stale(
        store_url: str, worker: PersonStore) -> None:
    """Invariant 5 under a real race: both read "no record", the other's insert is in flight when this
    worker writes. The loser must fail as StaleRecord -- the refusal the worker treats as "no longer
    mine" -- whatever the database's isolation, never with the backend's own unique-key error."""
    rival = PersonStore(store_url)
    try:
        with rival.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            conn.execute(insert(persons).values(citizen_id=PERSON, version=1, record="{}", due_at_us=None))
            outcome: Future[None] = Future()

            def write() -> None:
                try:
                    worker.commit(TOPIC, 0, next_offset=1, citizen_id=PERSON, record=_granted(), read=None,
                                  due=GRANTED_DUE)
                except BaseException as exc:
                    outcome.set_exception(exc)
                else:
                    outcome.set_result(None)

            thread = threading.Thread(target=write, daemon=True)
            thread.start()
            if rival.engine.dialect.name == "postgresql":
                # This worker has checked that nobody holds the person and waits on the rival's key.
                wait_until(lambda: _waiting_on_a_lock(rival), timeout=30, what="the second insert waiting on the first")
        thread.join(timeout=60)
        with pytest.raises(StaleRecord):
            outcome.result(timeout=0)
        stored = PersonStore(store_url).get(PERSON)
        assert stored is not None and stored.record == {}, "the rival's record stands"
    finally:
        rival.close()


def _waiting_on_a_lock(store: PersonStore) -> bool:
    with store.engine.connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar())


def test_a_position_moved_by_inputs_that_changed_nobody_is_written_now_and_then_only(
        store_url: str, worker: PersonStore) -> None:
    """Repeated inputs (a redelivery, a claim sent again) change no record: their offsets are kept
    in memory and written every POSITION_EVERY inputs, so a restarted worker reads at most that
    many inputs again -- and repeats them (DecisionsAreIdempotent)."""
    worker.commit(TOPIC, 0, next_offset=10, citizen_id=PERSON, record=_granted(), read=None, due=GRANTED_DUE)
    for offset in range(11, 11 + POSITION_EVERY - 1):
        worker.commit(TOPIC, 0, next_offset=offset)
    assert worker.position(TOPIC, 0) == 10 + POSITION_EVERY - 1
    assert PersonStore(store_url).position(TOPIC, 0) == 10
    worker.commit(TOPIC, 0, next_offset=10 + POSITION_EVERY)
    assert PersonStore(store_url).position(TOPIC, 0) == 10 + POSITION_EVERY
    assert worker.forget_positions() == 1
    assert PersonStore(store_url).position(TOPIC, 0) is None and worker.count() == 1, "positions go, persons stay"


def test_the_timer_reads_the_persons_whose_hold_or_wait_is_due_and_no_others(worker: PersonStore) -> None:
    """UnconfirmedHoldExpires and ReleaseInFlightIsAwaited both need the timer: an unconfirmed hold
    is due at its time-to-live, a waiter at its deadline; a confirmed marriage never."""
    granted = decide(None, claim("request", "c1", NINGXIA), claim_ttl=TTL, release_wait=WAIT).record
    waiting = decide(granted, claim("request", "c2", SICHUAN, at=T0 + timedelta(seconds=5)),
                     claim_ttl=TTL, release_wait=WAIT).record
    due = next_due(waiting)
    assert due is not None and due < T0 + TTL  # the waiter's deadline first
    worker.commit(TOPIC, 0, next_offset=None, citizen_id=PERSON, record=record_to_json(waiting), read=None, due=due)
    assert worker.due(T0) == []
    assert worker.due(due) == [(PERSON, to_micros(due))]
    confirmed = decide(granted, claim("confirm", "c1", NINGXIA), claim_ttl=TTL, release_wait=WAIT).record
    assert next_due(confirmed) is None
    worker.commit(TOPIC, 0, next_offset=None, citizen_id=PERSON, record=record_to_json(confirmed),
                  read=worker.get(PERSON), due=None)
    assert worker.due(T0 + 2 * TTL) == []
