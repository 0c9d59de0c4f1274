"""Group commit (issue 15): concurrent writers' commands share one transaction and one commit, yet
each command stays atomic with its own optimistic-concurrency check (architecture invariant 1), and
both hash chains stay whole (invariant 3). On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from services.common.errors import ConcurrencyConflict
from services.common.store import ANY_VERSION, NO_STREAM, AlreadyProcessed, EventStore, verify_store
from tests.support import new_event, wait_until

THREADS = 8
COMMANDS = 10


@pytest.fixture
def grouped(store_url: str) -> Iterator[EventStore]:
    s = EventStore.open(store_url, region="640000", service="marriage", group_commit=64)
    try:
        yield s
    finally:
        s.close()


def _command(store: EventStore, stream_id: str, expected: int, tag: str) -> None:
    """One command: two appends to its stream in one transaction (so half of it would be visible)."""
    with store.transaction() as tx:
        tx.append(stream_id, "case", expected, [new_event(f"{tag}:a")])
        tx.append(stream_id, "case", expected + 1, [new_event(f"{tag}:b")])


def test_many_writer_threads_share_commits_and_a_conflicting_command_fails_alone(grouped: EventStore) -> None:
    """Invariant 1: N threads × M commands; one command per thread round is stale and fails
    ABORTED (ConcurrencyConflict) by itself; every other command commits whole; chains verify."""
    grouped.append("contested", "case", NO_STREAM, [new_event("first")])
    start = threading.Barrier(THREADS + 1)
    failures: list[BaseException] = []
    conflicts: list[str] = []

    def writer(n: int) -> None:
        start.wait(timeout=30)
        try:
            for m in range(COMMANDS):
                _command(grouped, f"case-{n}", 2 * m, f"w{n}:{m}")
            try:
                _command(grouped, "contested", NO_STREAM, f"stale-{n}")  # the stream exists: stale
            except ConcurrencyConflict:
                conflicts.append(f"w{n}")
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    start.wait(timeout=30)
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    assert sorted(conflicts) == sorted(f"w{n}" for n in range(THREADS))
    for n in range(THREADS):
        assert [e.version for e in grouped.read_stream(f"case-{n}")] == list(range(1, 2 * COMMANDS + 1))
    assert [e.message().value for e in grouped.read_stream("contested")] == ["first"]
    report = verify_store(grouped)
    assert report.ok, report.problem
    assert report.events_checked == 1 + THREADS * COMMANDS * 2
    assert grouped.group is not None
    assert grouped.group.commands_committed == 1 + THREADS * (COMMANDS + 1)


def test_one_group_one_commit_with_a_stale_and_a_failing_member(grouped: EventStore) -> None:
    """Invariant 1 inside one group: the first member holds the group open until the others queue
    behind it, so all of them share one commit; the stale member fails ABORTED, the member whose
    own code fails after appending leaves nothing; the rest commit."""
    group = grouped.group
    assert group is not None
    grouped.append("contested", "case", NO_STREAM, [new_event("first")])
    before = group.groups_committed
    others = 5
    outcome: dict[str, str] = {}
    release = threading.Event()

    def first() -> None:
        with grouped.transaction() as tx:
            tx.append("case-first", "case", NO_STREAM, [new_event("first member")])
            release.wait(timeout=30)
        outcome["first"] = "ok"

    def member(name: str) -> None:
        try:
            if name == "stale":
                _command(grouped, "contested", NO_STREAM, name)
            elif name == "broken":
                with grouped.transaction() as tx:
                    tx.append("case-broken", "case", NO_STREAM, [new_event("half")])
                    raise ValueError("the command's own code fails after appending")
            else:
                _command(grouped, f"case-{name}", NO_STREAM, name)
            outcome[name] = "ok"
        except ConcurrencyConflict:
            outcome[name] = "aborted"
        except ValueError:
            outcome[name] = "failed"

    holder = threading.Thread(target=first)
    holder.start()
    wait_until(lambda: group.open_members == 1, what="the first member inside its group")
    names = ["stale", "broken", *(f"m{i}" for i in range(others))]
    threads = [threading.Thread(target=member, args=(name,)) for name in names]
    for t in threads:
        t.start()
    wait_until(lambda: group.queued == len(names), what="every other member queued behind the first")
    release.set()
    for t in [holder, *threads]:
        t.join(timeout=60)
    assert outcome == {"first": "ok", "stale": "aborted", "broken": "failed",
                       **{f"m{i}": "ok" for i in range(others)}}
    assert group.groups_committed == before + 1, "all of them in one commit"
    assert grouped.read_stream("case-broken") == []
    assert [e.message().value for e in grouped.read_stream("contested")] == ["first"]
    for i in range(others):
        assert [e.version for e in grouped.read_stream(f"case-m{i}")] == [1, 2]
    report = verify_store(grouped)
    assert report.ok, report.problem
    assert report.events_checked == 2 + 2 * others


def test_queued_appends_are_written_together_and_a_reused_event_id_fails_alone(grouped: EventStore) -> None:
    """Invariant 1 for queued single appends: the leader writes them as one batch; a stale one
    fails ABORTED, one reusing an event id is refused (IntegrityError) without taking the others
    with it, and all the rest share the holder's commit."""
    group = grouped.group
    assert group is not None
    grouped.append("contested", "case", NO_STREAM, [new_event("first", event_id="evt-taken")])
    for name in ("s0", "s1", "s2", "s3"):  # streams with history: the batch must link to their last hash
        grouped.append(f"case-{name}", "case", NO_STREAM, [new_event(f"{name}:1"), new_event(f"{name}:2")])
    before = group.groups_committed
    release = threading.Event()
    outcome: dict[str, str] = {}

    def holder() -> None:
        with grouped.transaction() as tx:
            tx.append("case-holder", "case", NO_STREAM, [new_event("holder")])
            release.wait(timeout=30)

    def single(name: str) -> None:
        event_id = "evt-taken" if name == "reused" else None
        stream = "contested" if name == "stale" else f"case-{name}"
        expected = 2 if name in ("s0", "s1", "s2", "s3") else NO_STREAM
        try:
            grouped.append(stream, "case", expected, [new_event(name, event_id=event_id)])
            outcome[name] = "ok"
        except ConcurrencyConflict:
            outcome[name] = "aborted"
        except IntegrityError:
            outcome[name] = "refused"

    held = threading.Thread(target=holder)
    held.start()
    wait_until(lambda: group.open_members == 1, what="the holder inside its group")
    names = ["s0", "stale", "s1", "reused", "s2", "s3"]
    threads = [threading.Thread(target=single, args=(name,)) for name in names]
    for t in threads:
        t.start()
    wait_until(lambda: group.queued == len(names), what="every append queued behind the holder")
    release.set()
    for t in [held, *threads]:
        t.join(timeout=60)
    assert outcome == {"s0": "ok", "stale": "aborted", "s1": "ok", "reused": "refused", "s2": "ok", "s3": "ok"}
    assert group.groups_committed == before + 1
    assert grouped.read_stream("case-reused") == []
    for name in ("s0", "s1", "s2", "s3"):
        assert [e.message().value for e in grouped.read_stream(f"case-{name}")] == [f"{name}:1", f"{name}:2", name]
    assert len(grouped.read_stream("case-holder")) == 1
    report = verify_store(grouped)
    assert report.ok, report.problem
    assert report.events_checked == 1 + 4 * 3 + 1


def test_a_consumers_batch_in_deferred_shares_one_commit_and_a_failing_message_fails_alone(
        grouped: EventStore, store_url: str) -> None:
    """Invariant 1 for a consumer thread's batch (EventStore.deferred, Dispatcher.dispatch_batch):
    its transactions come one after another, yet share one commit; until the block ends nothing of
    them is committed (another connection sees none of it); a message whose handling fails leaves
    nothing and the others commit whole."""
    group = grouped.group
    assert group is not None
    before = group.groups_committed
    outsider = EventStore.open(store_url, region="640000", service="marriage", create=False)
    try:
        with grouped.deferred():
            for n in range(5):
                _command(grouped, f"message-{n}", NO_STREAM, f"m{n}")
            with pytest.raises(ValueError), grouped.transaction() as tx:
                tx.append("message-broken", "case", NO_STREAM, [new_event("half")])
                raise ValueError("this message's handling fails after appending")
            _command(grouped, "message-last", NO_STREAM, "last")
            assert outsider.read_stream("message-0") == [], "nothing is committed inside the block"
            assert group.groups_committed == before
        assert group.groups_committed == before + 1, "one commit for the batch"
        for stream in [*(f"message-{n}" for n in range(5)), "message-last"]:
            assert [e.version for e in outsider.read_stream(stream)] == [1, 2]
        assert outsider.read_stream("message-broken") == []
    finally:
        outsider.close()
    report = verify_store(grouped)
    assert report.ok and report.events_checked == 12, report.problem


def test_another_thread_joining_a_deferred_batch_commits_it_and_returns_durable(grouped: EventStore) -> None:
    """A writer on another thread (a gRPC handler) that comes while a consumer's batch is open joins
    its group and, finding nobody waiting, commits it: it returns only once its own command (and the
    batch's so far) is durable, and the batch's block then ends on work already committed."""
    group = grouped.group
    assert group is not None
    before = group.groups_committed
    with grouped.deferred():
        _command(grouped, "batch-first", NO_STREAM, "b1")
        writer = threading.Thread(target=_command, args=(grouped, "handler", NO_STREAM, "h"))
        writer.start()
        writer.join(timeout=30)
        assert not writer.is_alive()
        assert group.groups_committed == before + 1, "the handler committed the group it joined"
        _command(grouped, "batch-second", NO_STREAM, "b2")
    assert group.groups_committed == before + 2
    assert [len(grouped.read_stream(s)) for s in ("batch-first", "handler", "batch-second")] == [2, 2, 2]
    assert verify_store(grouped).ok


def test_a_redelivery_in_the_same_batch_as_its_first_delivery_is_a_duplicate(grouped: EventStore) -> None:
    """Invariant 1 (idempotent consumers) inside a shared commit: a decision comes on the region's
    topic and on the national record, and both copies can land in one consumer batch. The second
    sees the first's inbox mark, uncommitted as it is, and has no effect (it used to fail with the
    inbox's unique constraint, and the batch's message was handled again later)."""
    effects: list[str] = []

    def effect(tx: Any) -> None:
        effects.append("effect")
        tx.append("decided-case", "case", ANY_VERSION, [new_event("decided")])

    with grouped.deferred():
        grouped.process_once("registry-decisions", "decision-1", effect)
        with pytest.raises(AlreadyProcessed):
            grouped.process_once("registry-decisions", "decision-1", effect)
    with pytest.raises(AlreadyProcessed):  # and once committed, as before
        grouped.process_once("registry-decisions", "decision-1", effect)
    assert effects == ["effect"]
    assert [e.version for e in grouped.read_stream("decided-case")] == [1]
    assert grouped.is_processed("registry-decisions", "decision-1")
    assert verify_store(grouped).ok
