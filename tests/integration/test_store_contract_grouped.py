"""The store's contract (test_store_contract.py) holds with group commit on: the same tests, run
over a store whose transactions share commits (issue 15). SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from services.common.clock import FakeClock
from services.common.store import NO_STREAM, EventStore, verify_store
from tests.fixtures.stores import COMPONENT_TABLES
from tests.integration.test_store_contract import *  # noqa: F403 - the contract, collected again here
from tests.support import new_event, wait_until

# Opens its own store without group commit, and asserts what group commit deliberately changes: with
# it, a transaction holds the shared connection from its start, so writers queue behind a body that
# waits (the test below shows they queue, and in order).
del test_postgres_writers_commit_while_another_transaction_is_open  # noqa: F821


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[EventStore]:
    s = EventStore.open(store_url, region="640000", service="marriage", clock=clock,
                        tables=COMPONENT_TABLES, group_commit=64)
    try:
        yield s
    finally:
        s.close()


def test_lock_head_keeps_writers_waiting_until_the_holder_ends(store: EventStore) -> None:
    """As in the contract, but the proof that the writer waits is the committer's queue: with group
    commit, writers queue for the shared connection, not on a PostgreSQL row lock."""
    store.append("first", "t", NO_STREAM, [new_event("before")])
    locked, release = threading.Event(), threading.Event()
    group = store.group
    assert group is not None

    def holder() -> None:
        with store.transaction() as tx:
            tx.lock_head()
            locked.set()
            release.wait(timeout=30)
            tx.append("holder", "t", NO_STREAM, [new_event("holder")])

    th = threading.Thread(target=holder)
    th.start()
    assert locked.wait(timeout=30)
    tw = threading.Thread(target=lambda: store.append("writer", "t", NO_STREAM, [new_event("writer")]))
    tw.start()
    wait_until(lambda: group.queued == 1, what="the writer queued behind the holder")
    assert [e.position for e in store.read_log(after=0)] == [1], "nothing else committed meanwhile"
    release.set()
    th.join(timeout=30)
    tw.join(timeout=30)
    assert [(e.position, e.stream_id) for e in store.read_log(after=1)] == [(2, "holder"), (3, "writer")]
    assert verify_store(store).ok
