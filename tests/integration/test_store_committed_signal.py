"""The store says when it committed (`EventStore.committed`), so the host's relay publishes what
was just recorded instead of sleeping out its poll interval: set by every way of appending, on
both databases, with and without group commit, and by a consumer's deferred batch only once the
batch has committed."""

from __future__ import annotations

import pytest

from services.common.store import NO_STREAM, EventStore
from tests.support import new_event, unique_id


@pytest.mark.parametrize("group_commit", [0, 64])
def test_every_way_of_appending_sets_the_signal_once_committed(store_url: str, group_commit: int) -> None:
    store = EventStore.open(store_url, region="640000", service="marriage", group_commit=group_commit)
    try:
        store.committed.clear()
        store.append(unique_id(), "case", NO_STREAM, [new_event("single")])
        assert store.committed.is_set(), "a single append"
        store.committed.clear()
        with store.transaction() as tx:
            tx.append(unique_id(), "case", NO_STREAM, [new_event("in a transaction")])
        assert store.committed.is_set(), "a transaction"
        store.committed.clear()
        with store.deferred():
            with store.transaction() as tx:
                tx.append(unique_id(), "case", NO_STREAM, [new_event("in a consumer's batch")])
            store.committed.clear()  # whatever the transaction said, the batch is not committed yet
        assert store.committed.is_set(), "the end of a consumer's batch"
        assert store.head()[0] == 3
    finally:
        store.close()
