"""The registry worker's own store of person records (architecture invariants 1 and 5; issue 11):
what a worker committed survives its kill and a lost broker, a worker that no longer owns a
person cannot overwrite its record, and the timer reads only the persons due. Real SQLite files."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from services.common.events import to_micros
from services.common.registry.domain import ClaimKind, decide, next_due, record_from_json, record_to_json
from services.common.registry.worker.person_store import POSITION_EVERY, PersonStore, StaleRecord
from services.stack.registry_store import prepare_registry_store, store_url
from tests.unit.test_registry_domain import NINGXIA, PERSON, SICHUAN, T0, TTL, claim

TOPIC = "tongban.registry.claims.v1"
WAIT = timedelta(seconds=10)


def _granted() -> dict[str, object]:
    return record_to_json(decide(None, claim("request", "c1", NINGXIA), claim_ttl=TTL, release_wait=WAIT).record)


GRANTED_DUE = T0 + TTL


def test_a_grant_committed_before_a_kill_is_there_for_the_restarted_worker(tmp_path: Path) -> None:
    """One live marriage per person (民法典 第1042条) rests on the registry remembering every grant:
    a record committed with its input's offset is read back by a new process on the same file."""
    store = PersonStore.in_directory(tmp_path)
    store.commit(TOPIC, 3, next_offset=41, citizen_id=PERSON, record=_granted(), read=None, due=GRANTED_DUE)
    store.close()  # as a kill -9 would leave it: nothing else flushed
    again = PersonStore.in_directory(tmp_path)
    stored = again.get(PERSON)
    assert stored is not None and stored.version == 1
    assert record_from_json(stored.record).holder(ClaimKind.LIVE_MARRIAGE) == NINGXIA
    assert again.position(TOPIC, 3) == 41
    assert again.position(TOPIC, 4) is None


def test_a_worker_that_lost_the_person_to_another_cannot_overwrite_its_decision(tmp_path: Path) -> None:
    """A zombie worker (its partitions reassigned) writes on the version it read: refused, so the
    new owner's grant stands (invariant 5: a single writer per person)."""
    store = PersonStore.in_directory(tmp_path)
    store.commit(TOPIC, 0, next_offset=1, citizen_id=PERSON, record=_granted(), read=None, due=GRANTED_DUE)
    read = store.get(PERSON)
    assert read is not None
    newer = record_to_json(decide(record_from_json(read.record), claim("confirm", "c1", NINGXIA),
                                  claim_ttl=TTL, release_wait=WAIT).record)
    store.commit(TOPIC, 0, next_offset=2, citizen_id=PERSON, record=newer, read=read, due=None)
    with pytest.raises(StaleRecord):
        store.commit(TOPIC, 0, next_offset=2, citizen_id=PERSON, record=_granted(), read=read, due=GRANTED_DUE)
    with pytest.raises(StaleRecord):
        store.commit(TOPIC, 0, next_offset=2, citizen_id=PERSON, record=_granted(), read=None, due=GRANTED_DUE)
    stored = store.get(PERSON)
    assert stored is not None and stored.version == 2 and stored.record == newer
    assert store.position(TOPIC, 0) == 2  # the refused writes moved nothing


def test_a_position_moved_by_inputs_that_changed_nobody_is_written_now_and_then_only(tmp_path: Path) -> None:
    """Repeated inputs (a redelivery, a claim sent again) change no record: their offsets are kept
    in memory and written every POSITION_EVERY inputs, so a restarted worker reads at most that
    many inputs again — and repeats them (DecisionsAreIdempotent)."""
    store = PersonStore.in_directory(tmp_path)
    store.commit(TOPIC, 0, next_offset=10, citizen_id=PERSON, record=_granted(), read=None, due=GRANTED_DUE)
    for offset in range(11, 11 + POSITION_EVERY - 1):
        store.commit(TOPIC, 0, next_offset=offset)
    assert store.position(TOPIC, 0) == 10 + POSITION_EVERY - 1
    assert PersonStore.in_directory(tmp_path).position(TOPIC, 0) == 10
    store.commit(TOPIC, 0, next_offset=10 + POSITION_EVERY)
    assert PersonStore.in_directory(tmp_path).position(TOPIC, 0) == 10 + POSITION_EVERY


def test_the_timer_reads_the_persons_whose_hold_or_wait_is_due_and_no_others(tmp_path: Path) -> None:
    """UnconfirmedHoldExpires and ReleaseInFlightIsAwaited both need the timer: an unconfirmed hold
    is due at its time-to-live, a waiter at its deadline; a confirmed marriage never."""
    store = PersonStore.in_directory(tmp_path)
    granted = decide(None, claim("request", "c1", NINGXIA), claim_ttl=TTL, release_wait=WAIT).record
    waiting = decide(granted, claim("request", "c2", SICHUAN, at=T0 + timedelta(seconds=5)),
                     claim_ttl=TTL, release_wait=WAIT).record
    assert next_due(granted) == T0 + TTL
    assert next_due(waiting) is not None and next_due(waiting) < T0 + TTL  # the waiter's deadline first
    confirmed = decide(granted, claim("confirm", "c1", NINGXIA), claim_ttl=TTL, release_wait=WAIT).record
    assert next_due(confirmed) is None
    store.commit(TOPIC, 0, next_offset=None, citizen_id=PERSON, record=record_to_json(waiting), read=None,
                 due=next_due(waiting))
    assert list(store.due(T0)) == []
    due = next_due(waiting)
    assert due is not None
    assert store.due(due) == [(PERSON, to_micros(due))]
    read = store.get(PERSON)
    store.commit(TOPIC, 0, next_offset=None, citizen_id=PERSON, record=record_to_json(confirmed), read=read, due=None)
    assert list(store.due(T0 + 2 * TTL)) == []


def test_a_fresh_local_broker_makes_the_stack_forget_the_old_claims_topic_positions_only(tmp_path: Path) -> None:
    """The local broker is memory-only: its claims topic starts again at offset 0, so the worker's
    positions in the old one go; the persons stay (nobody held is freed by a broker restart)."""
    (tmp_path / "registry").mkdir()
    store = PersonStore(store_url(tmp_path))
    store.commit(TOPIC, 1, next_offset=99, citizen_id=PERSON, record=_granted(), read=None, due=GRANTED_DUE)
    store.close()
    assert prepare_registry_store(tmp_path, fresh_broker=False) == 0
    assert PersonStore(store_url(tmp_path)).position(TOPIC, 1) == 99
    prepare_registry_store(tmp_path, fresh_broker=True)
    after = PersonStore(store_url(tmp_path))
    assert after.position(TOPIC, 1) is None
    assert after.get(PERSON) is not None
