"""verify_store names the first event whose content, order or link is wrong (invariant 3).
An attacker with database access is simulated: the immutability triggers are dropped first."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import text

from services.common.hashing import event_hash
from services.common.store import EventStore, verify_store
from services.common.store import verify as verify_module
from services.common.store.decode import event_to_row
from tests.support import new_event


def _populate(store: EventStore) -> None:
    for i in range(4):
        for s in ("case-a", "case-b"):
            store.append(s, "t", i, [new_event(f"{s}-{i}")])


def _drop_triggers(store: EventStore) -> None:
    with store.engine.begin() as conn:
        if store.dialect == "sqlite":
            conn.execute(text("DROP TRIGGER events_no_update"))
            conn.execute(text("DROP TRIGGER events_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER events_immutable ON events"))


def test_an_intact_store_verifies(store: EventStore) -> None:
    _populate(store)
    report = verify_store(store)
    assert report.ok and report.events_checked == 8 and report.streams == 2 and report.head_position == 8


def test_a_changed_payload_byte_is_named(store: EventStore) -> None:
    _populate(store)
    _drop_triggers(store)
    victim = store.read_stream("case-b")[2]
    tampered = bytearray(victim.payload)
    tampered[-1] ^= 0x01
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET payload = :p WHERE position = :pos"),
                     {"p": bytes(tampered), "pos": victim.position})
    problem = verify_store(store).problem
    assert problem is not None
    assert (problem.position, problem.stream_id, problem.version) == (victim.position, "case-b", 3)
    assert "content altered" in problem.reason


def test_a_deleted_event_is_named(store: EventStore) -> None:
    _populate(store)
    _drop_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE position = 4"))
    problem = verify_store(store).problem
    assert problem is not None and problem.position == 5
    assert "4..4 are missing" in problem.reason


def test_a_deleted_last_event_is_caught_by_the_head(store: EventStore) -> None:
    _populate(store)
    _drop_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE position = 8"))
    problem = verify_store(store).problem
    assert problem is not None and "ends at 7" in problem.reason


def test_two_swapped_events_are_named(store: EventStore) -> None:
    _populate(store)
    _drop_triggers(store)
    # Swap the contents of positions 3 and 5 (both case-a: versions 2 and 3).
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET position = -3 WHERE position = 3"))
        conn.execute(text("UPDATE events SET position = 3 WHERE position = 5"))
        conn.execute(text("UPDATE events SET position = 5 WHERE position = -3"))
    problem = verify_store(store).problem
    assert problem is not None and problem.position == 3 and problem.stream_id == "case-a"
    assert "version 3 follows version 1" in problem.reason


def test_a_stream_rewritten_consistently_breaks_the_store_wide_chain(store: EventStore) -> None:
    """Someone rewrites case-a with new content and recomputes its stream hashes: the stream
    chain is consistent again, but the store-wide chain names the first rewritten event."""
    _populate(store)
    _drop_triggers(store)
    prev = bytes(32)
    rewritten = []

    for e in store.read_stream("case-a"):
        forged = replace(e, payload=new_event("forged").payload, prev_hash=prev)
        forged = replace(forged, hash=event_hash(prev, forged))
        rewritten.append(forged)
        prev = forged.hash
    with store.engine.begin() as conn:
        for f in rewritten:
            row = event_to_row(f)
            conn.execute(text("UPDATE events SET payload = :payload, prev_hash = :prev_hash, hash = :hash "
                              "WHERE position = :position"), row)
    problem = verify_store(store).problem
    assert problem is not None and problem.position == 1 and "store-wide chain" in problem.reason
    # Forging the store-wide chain as well is caught only against checkpoints that other regions
    # hold (the audit issue).


def test_a_changed_actor_is_named_among_events_that_share_it(store: EventStore) -> None:
    """The verifier encodes the fields that repeat from event to event (the actor, region, type…)
    once and remembers them: a row whose actor differs from its neighbours' is still named."""
    _populate(store)
    _drop_triggers(store)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET actor_clerk_id = 'clerk-forged' WHERE position = 6"))
    problem = verify_store(store).problem
    assert problem is not None and problem.position == 6 and "content altered" in problem.reason


def test_a_verifier_that_disagrees_with_the_reference_fails_and_says_so(
        store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Were the fast row hasher ever to differ from canonical_bytes_of, an intact store would not be
    passed, and the finding blames the verifier, not the store."""
    _populate(store)
    monkeypatch.setattr(verify_module, "stored_row_hasher", lambda: lambda row: b"not the hash")
    problem = verify_store(store).problem
    assert problem is not None and problem.position == 1 and "defect in the verifier" in problem.reason
