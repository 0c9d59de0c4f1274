"""Legal deadlines as events (architecture invariant 6), on SQLite and PostgreSQL alike: a
deadline fires once, after its time by the injected clock, with its reaction in the same
transaction; racing schedulers and restarts never fire one twice or lose one."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from sqlalchemy import delete, insert, select

from services.common.clock import FakeClock
from services.common.deadlines import (
    CANCELLED,
    FIRED,
    PENDING,
    STREAM_TYPE,
    Deadline,
    DeadlineHandler,
    DeadlineScheduler,
    cancel_deadline,
    deadline_stream_id,
    deadlines,
    rebuild_deadlines_table,
    schedule_deadline,
)
from services.common.errors import ConcurrencyConflict, NotFound
from services.common.events import Actor, NewEvent, TraceContext, to_micros
from services.common.kit.provenance import Provenance
from services.common.store import ANY_VERSION, NO_STREAM, EventStore, StoreTransaction, verify_store
from tests.fixtures.stores import COMPONENT_TABLES
from tests.support import CLERK, new_event, unique_id, wait_until
from tongban.common.v1 import deadlines_pb2

# 民法典 第1077条: within 30 days from the day after receipt either spouse may withdraw; then
# within the following 30 days both must come for the certificate, or it is deemed withdrawn.
COOLING_OFF_ENDS = "marriage.divorce.cooling_off_ends"
CERTIFICATE_WINDOW_ENDS = "marriage.divorce.certificate_window_ends"
DIVORCE_RULE = "民法典 第1077条"
# 民发〔2021〕57号: the township's review opinion is publicly noticed for 7 days.
PUBLIC_NOTICE_ENDS = "relief.dibao.public_notice_ends"
PUBLIC_NOTICE_RULE = "民发〔2021〕57号 最低生活保障审核确认办法 公示7天"

DIVORCE_CASE = "marriage.DivorceByAgreement"
DIBAO_CASE = "relief.MinimumLivingAllowance"
TRACE = TraceContext("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "")


def _open_case(store: EventStore, clock: FakeClock, *, kind: str, rule: str, due_in: timedelta,
               case_type: str = DIVORCE_CASE, data: bytes = b"") -> tuple[str, str]:
    """A clerk's command: the case's first event and its deadline in one transaction, as a
    service's handler does it. Returns (case stream id, deadline id)."""
    case = unique_id("case")
    deadline_id = f"{case}-{kind}"
    received = new_event("application received", correlation_id=case, occurred_at=clock.now())
    with store.transaction() as tx:
        [recorded] = tx.append(case, case_type, NO_STREAM, [received])
        schedule_deadline(tx, deadline_id=deadline_id, kind=kind, case_stream_id=case, due_at=clock.now() + due_in,
                          rule=rule, data=data, provenance=Provenance(actor=CLERK, correlation_id=case,
                                                                      causation_id=recorded.event_id,
                                                                      occurred_at=clock.now(), trace=TRACE))
    return case, deadline_id


def _reaction(text: str, calls: list[Deadline] | None = None) -> DeadlineHandler:
    """A handler like a service's: appends the case's reaction event (e.g. "cooling-off ended")
    in the firing transaction. ANY_VERSION on purpose: a second firing would show as a second
    reaction instead of being hidden by a version conflict."""

    def handle(tx: StoreTransaction, deadline: Deadline) -> None:
        assert deadline.fired_at is not None
        tx.append(deadline.case_stream_id, DIVORCE_CASE, ANY_VERSION, [NewEvent.from_message(
            StringValue(value=text), event_id=unique_id("evt"), actor=Actor.system("640000", "marriage"),
            correlation_id=deadline.correlation_id, occurred_at=deadline.fired_at,
            causation_id=deadline.fired_event_id, trace=deadline.trace,
        )])
        if calls is not None:
            calls.append(deadline)

    return handle


def _reactions(store: EventStore, case: str) -> list[str]:
    return [e.message().value for e in store.read_stream(case)[1:]]


def _closing_types(store: EventStore, deadline_id: str) -> list[str]:
    return [e.type.rsplit(".", 1)[-1] for e in store.read_stream(deadline_stream_id(deadline_id))[1:]]


def _table(store: EventStore) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(deadlines).order_by(deadlines.c.deadline_id))]


def _state(store: EventStore, deadline_id: str) -> str:
    with store.engine.connect() as conn:
        return str(conn.execute(select(deadlines.c.state).where(deadlines.c.deadline_id == deadline_id)).scalar_one())


def test_a_divorce_cooling_off_deadline_fires_once_and_only_after_30_days(
        store: EventStore, clock: FakeClock) -> None:
    """民法典 第1077条: the cooling-off deadline fires when the clock passes it, not a microsecond
    earlier, with the scheduler's provenance, and its reaction commits in the same transaction."""
    received_at = clock.now()
    case, deadline_id = _open_case(store, clock, kind=COOLING_OFF_ENDS, rule=DIVORCE_RULE,
                                   due_in=timedelta(days=30), data=b"office=640104-MRO-01")
    due_at = received_at + timedelta(days=30)
    calls: list[Deadline] = []
    scheduler = DeadlineScheduler(store, clock, {COOLING_OFF_ENDS: _reaction("cooling-off ended", calls)},
                                  name="marriage-640000")
    assert scheduler.next_due() == due_at

    clock.advance(timedelta(days=29))
    assert scheduler.fire_due() == []
    clock.set(due_at - timedelta(microseconds=1))
    assert scheduler.fire_due() == []
    assert _state(store, deadline_id) == PENDING

    clock.set(due_at)
    [fired] = scheduler.fire_due()
    assert (fired.deadline_id, fired.kind, fired.case_stream_id) == (deadline_id, COOLING_OFF_ENDS, case)
    assert (fired.due_at, fired.rule, fired.data, fired.correlation_id) == (
        due_at, DIVORCE_RULE, b"office=640104-MRO-01", case)
    assert calls == [fired]

    clock.advance(timedelta(days=5))
    assert scheduler.fire_due() == []
    assert scheduler.next_due() is None
    assert _state(store, deadline_id) == FIRED
    assert _reactions(store, case) == ["cooling-off ended"]

    scheduled_event, fired_event = store.read_stream(deadline_stream_id(deadline_id))
    assert scheduled_event.stream_type == fired_event.stream_type == STREAM_TYPE
    message = fired_event.message()
    assert isinstance(message, deadlines_pb2.DeadlineFired)
    assert message.deadline_id == deadline_id
    assert message.fired_at.ToDatetime().replace(tzinfo=due_at.tzinfo) == due_at
    assert fired_event.actor == Actor.system("640000", "scheduler")
    assert fired_event.correlation_id == case
    assert fired_event.causation_id == scheduled_event.event_id
    assert fired_event.trace == TRACE
    assert fired.fired_event_id == fired_event.event_id
    # The reaction is the very next event in the log, recorded in the firing's transaction.
    reaction = store.read_stream(case)[-1]
    assert reaction.position == fired_event.position + 1
    assert reaction.recorded_at == fired_event.recorded_at
    assert reaction.causation_id == fired_event.event_id
    assert verify_store(store).ok


def test_two_schedulers_racing_fire_each_deadline_exactly_once(store_url: str, store: EventStore,
                                                               clock: FakeClock) -> None:
    """Two replicas of the scheduler, each with its own EventStore on the same database, fire
    the same due 低保 public-notice deadlines at the same moment: each fires once, one reaction."""
    count = 24
    cases = [_open_case(store, clock, kind=PUBLIC_NOTICE_ENDS, rule=PUBLIC_NOTICE_RULE,
                        due_in=timedelta(days=7), case_type=DIBAO_CASE) for _ in range(count)]
    clock.advance(timedelta(days=8))
    replicas = [EventStore.open(store_url, region="640000", service="relief", clock=clock, create=False)
                for _ in range(2)]
    try:
        schedulers = [DeadlineScheduler(s, clock, {PUBLIC_NOTICE_ENDS: _reaction("public notice ended")},
                                        name=f"relief-640000-{i}") for i, s in enumerate(replicas)]
        start = threading.Barrier(len(schedulers))
        results: list[list[Deadline]] = [[] for _ in schedulers]
        errors: list[BaseException] = []

        def race(i: int) -> None:
            try:
                start.wait(timeout=30)
                while batch := schedulers[i].fire_due(limit=5):
                    results[i].extend(batch)
            except BaseException as exc:  # surfaced in the main thread below
                errors.append(exc)

        threads = [threading.Thread(target=race, args=(i,)) for i in range(len(schedulers))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors
        assert not any(t.is_alive() for t in threads)
    finally:
        for s in replicas:
            s.close()

    fired_ids = [d.deadline_id for batch in results for d in batch]
    assert sorted(fired_ids) == sorted(deadline_id for _, deadline_id in cases), "each fired by exactly one"
    for case, deadline_id in cases:
        assert _closing_types(store, deadline_id) == ["DeadlineFired"]
        assert _reactions(store, case) == ["public notice ended"]
        assert _state(store, deadline_id) == FIRED
    fired_events = [e for e in store.read_log(limit=10_000) if e.type.endswith("DeadlineFired")]
    assert len(fired_events) == count
    assert verify_store(store).ok


def test_a_restarted_scheduler_fires_what_was_scheduled_before_and_never_refires(
        store_url: str, store: EventStore, clock: FakeClock) -> None:
    """Scheduled and partly fired by one process; that process stops; a new one on the same
    database fires the rest when due and leaves the fired one alone."""
    before = EventStore.open(store_url, region="640000", service="marriage", clock=clock, create=False)
    calls_before: list[Deadline] = []
    handlers_before = {PUBLIC_NOTICE_ENDS: _reaction("public notice ended", calls_before),
                       COOLING_OFF_ENDS: _reaction("cooling-off ended", calls_before)}
    try:
        notice_case, notice = _open_case(before, clock, kind=PUBLIC_NOTICE_ENDS, rule=PUBLIC_NOTICE_RULE,
                                         due_in=timedelta(days=7), case_type=DIBAO_CASE)
        cooling_case, cooling = _open_case(before, clock, kind=COOLING_OFF_ENDS, rule=DIVORCE_RULE,
                                           due_in=timedelta(days=30))
        window_case, window = _open_case(before, clock, kind=CERTIFICATE_WINDOW_ENDS, rule=DIVORCE_RULE,
                                         due_in=timedelta(days=60))
        clock.advance(timedelta(days=8))
        assert [d.deadline_id for d in DeadlineScheduler(before, clock, handlers_before, name="old").fire_due()] \
            == [notice]
    finally:
        before.close()

    after = EventStore.open(store_url, region="640000", service="marriage", clock=clock, tables=COMPONENT_TABLES)
    try:
        calls: list[Deadline] = []
        scheduler = DeadlineScheduler(after, clock, {
            PUBLIC_NOTICE_ENDS: _reaction("public notice ended", calls),
            COOLING_OFF_ENDS: _reaction("cooling-off ended", calls),
            CERTIFICATE_WINDOW_ENDS: _reaction("deemed withdrawn", calls),
        }, name="new")
        assert scheduler.fire_due() == []
        clock.advance(timedelta(days=23))  # day 31
        assert [d.deadline_id for d in scheduler.fire_due()] == [cooling]
        clock.advance(timedelta(days=30))  # day 61
        assert [d.deadline_id for d in scheduler.fire_due()] == [window]
        clock.advance(timedelta(days=365))
        assert scheduler.fire_due() == []
        assert [d.deadline_id for d in calls] == [cooling, window]
        assert [d.deadline_id for d in calls_before] == [notice]
        assert _reactions(after, notice_case) == ["public notice ended"]
        assert _reactions(after, cooling_case) == ["cooling-off ended"]
        assert _reactions(after, window_case) == ["deemed withdrawn"]
        for deadline_id in (notice, cooling, window):
            assert _closing_types(after, deadline_id) == ["DeadlineFired"]
    finally:
        after.close()


def test_a_cancelled_deadline_never_fires(store: EventStore, clock: FakeClock) -> None:
    """A spouse withdraws on day 10 of the cooling-off (民法典 第1077条): the withdrawal and the
    cancellation commit together, and the deadline never fires. Cancelling again is a no-op."""
    case, deadline_id = _open_case(store, clock, kind=COOLING_OFF_ENDS, rule=DIVORCE_RULE,
                                   due_in=timedelta(days=30))
    calls: list[Deadline] = []
    scheduler = DeadlineScheduler(store, clock, {COOLING_OFF_ENDS: _reaction("cooling-off ended", calls)},
                                  name="marriage-640000")
    clock.advance(timedelta(days=10))
    with store.transaction() as tx:
        [withdrawn] = tx.append(case, DIVORCE_CASE, 1, [new_event("withdrawn", correlation_id=case)])
        cancelled = cancel_deadline(tx, deadline_id, "withdrawn by a spouse during cooling-off",
                                    provenance=Provenance(actor=CLERK, correlation_id="",
                                                          causation_id=withdrawn.event_id, occurred_at=clock.now()))
    assert cancelled is not None
    assert cancelled.correlation_id == case and cancelled.version == 2
    message = cancelled.message()
    assert isinstance(message, deadlines_pb2.DeadlineCancelled)
    assert message.reason == "withdrawn by a spouse during cooling-off"

    with store.transaction() as tx:  # a retried withdrawal
        assert cancel_deadline(tx, deadline_id, "again", provenance=Provenance(actor=CLERK, correlation_id="",
                                                                               causation_id="cmd-2",
                                                                               occurred_at=clock.now())) is None

    clock.advance(timedelta(days=60))
    assert scheduler.fire_due() == []
    assert scheduler.next_due() is None
    assert calls == []
    assert _closing_types(store, deadline_id) == ["DeadlineCancelled"]
    assert _state(store, deadline_id) == CANCELLED
    assert _reactions(store, case) == ["withdrawn"]


def test_cancelling_a_fired_deadline_is_a_no_op_and_an_unknown_one_is_an_error(
        store: EventStore, clock: FakeClock) -> None:
    _, deadline_id = _open_case(store, clock, kind=PUBLIC_NOTICE_ENDS, rule=PUBLIC_NOTICE_RULE,
                                due_in=timedelta(days=7), case_type=DIBAO_CASE)
    clock.advance(timedelta(days=7))
    DeadlineScheduler(store, clock, {PUBLIC_NOTICE_ENDS: _reaction("public notice ended")}, name="s").fire_due()
    head = store.head()
    with store.transaction() as tx:
        assert cancel_deadline(tx, deadline_id, "too late", provenance=Provenance(actor=CLERK, correlation_id="",
                                                                                  causation_id="cmd-3",
                                                                                  occurred_at=clock.now())) is None
    assert store.head() == head
    assert _state(store, deadline_id) == FIRED
    with pytest.raises(NotFound), store.transaction() as tx:
        cancel_deadline(tx, "never-scheduled", "?", provenance=Provenance(actor=CLERK, correlation_id="",
                                                                          causation_id="cmd-4",
                                                                          occurred_at=clock.now()))


def test_a_failing_handler_leaves_its_deadline_pending_until_fixed_while_others_fire(
        store: EventStore, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    """The cooling-off reaction breaks after writing half its effect: nothing of that firing
    commits (neither DeadlineFired nor the reaction), the error is logged, the 低保 notice
    deadline fires anyway, and the next pass after the fix fires the cooling-off."""
    cooling_case, cooling = _open_case(store, clock, kind=COOLING_OFF_ENDS, rule=DIVORCE_RULE,
                                       due_in=timedelta(days=30))
    notice_case, notice = _open_case(store, clock, kind=PUBLIC_NOTICE_ENDS, rule=PUBLIC_NOTICE_RULE,
                                     due_in=timedelta(days=7), case_type=DIBAO_CASE)
    broken = True
    half_done = _reaction("cooling-off ended")

    def fragile(tx: StoreTransaction, deadline: Deadline) -> None:
        half_done(tx, deadline)
        if broken:
            raise RuntimeError("archive service unavailable")

    handlers: dict[str, Callable[[StoreTransaction, Deadline], None]] = {
        COOLING_OFF_ENDS: fragile, PUBLIC_NOTICE_ENDS: _reaction("public notice ended"),
    }
    scheduler = DeadlineScheduler(store, clock, handlers, name="marriage-640000")
    clock.advance(timedelta(days=31))
    with caplog.at_level(logging.ERROR, logger="services.common.deadlines"):
        assert [d.deadline_id for d in scheduler.fire_due()] == [notice]
    assert any(cooling in r.getMessage() and r.exc_info for r in caplog.records)
    assert _state(store, cooling) == PENDING
    assert _closing_types(store, cooling) == []
    assert _reactions(store, cooling_case) == []
    assert _reactions(store, notice_case) == ["public notice ended"]

    broken = False
    assert [d.deadline_id for d in scheduler.fire_due()] == [cooling]
    assert _reactions(store, cooling_case) == ["cooling-off ended"]
    assert _closing_types(store, cooling) == ["DeadlineFired"]
    assert verify_store(store).ok


def test_a_kind_without_handler_is_logged_and_kept_until_a_handler_exists(
        store: EventStore, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    case, deadline_id = _open_case(store, clock, kind=CERTIFICATE_WINDOW_ENDS, rule=DIVORCE_RULE,
                                   due_in=timedelta(days=60))
    clock.advance(timedelta(days=61))
    without = DeadlineScheduler(store, clock, {COOLING_OFF_ENDS: _reaction("cooling-off ended")}, name="old")
    with caplog.at_level(logging.ERROR, logger="services.common.deadlines"):
        assert without.fire_due() == []
    assert any(CERTIFICATE_WINDOW_ENDS in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    assert _state(store, deadline_id) == PENDING

    deployed = DeadlineScheduler(store, clock, {CERTIFICATE_WINDOW_ENDS: _reaction("deemed withdrawn")}, name="new")
    assert [d.deadline_id for d in deployed.fire_due()] == [deadline_id]
    assert _reactions(store, case) == ["deemed withdrawn"]


def test_fire_due_fires_at_most_limit_in_due_order(store: EventStore, clock: FakeClock) -> None:
    ids = [_open_case(store, clock, kind=PUBLIC_NOTICE_ENDS, rule=PUBLIC_NOTICE_RULE,
                      due_in=timedelta(days=7, hours=i), case_type=DIBAO_CASE)[1] for i in range(5)]
    clock.advance(timedelta(days=8))
    scheduler = DeadlineScheduler(store, clock, {PUBLIC_NOTICE_ENDS: _reaction("public notice ended")}, name="s")
    assert [d.deadline_id for d in scheduler.fire_due(limit=2)] == ids[:2]
    assert [d.deadline_id for d in scheduler.fire_due(limit=2)] == ids[2:4]
    assert [d.deadline_id for d in scheduler.fire_due(limit=2)] == ids[4:]


def test_rebuild_reproduces_the_deadlines_table_exactly_from_the_log(store: EventStore, clock: FakeClock) -> None:
    opened = [_open_case(store, clock, kind=kind, rule=rule, due_in=due_in, case_type=case_type)
              for kind, rule, due_in, case_type in [
                  (PUBLIC_NOTICE_ENDS, PUBLIC_NOTICE_RULE, timedelta(days=7), DIBAO_CASE),
                  (COOLING_OFF_ENDS, DIVORCE_RULE, timedelta(days=30), DIVORCE_CASE),
                  (COOLING_OFF_ENDS, DIVORCE_RULE, timedelta(days=30, hours=2), DIVORCE_CASE),
                  (CERTIFICATE_WINDOW_ENDS, DIVORCE_RULE, timedelta(days=60), DIVORCE_CASE),
              ]]
    clock.advance(timedelta(days=8))
    DeadlineScheduler(store, clock, {PUBLIC_NOTICE_ENDS: _reaction("public notice ended")}, name="s").fire_due()
    with store.transaction() as tx:
        cancel_deadline(tx, opened[2][1], "withdrawn", provenance=Provenance(actor=CLERK, correlation_id="",
                                                                             causation_id="cmd-5",
                                                                             occurred_at=clock.now()))
    expected = _table(store)
    assert sorted(state for *_, state in expected) == [CANCELLED, FIRED, PENDING, PENDING]

    with store.engine.begin() as conn:  # the read model lost and corrupted
        conn.execute(delete(deadlines).where(deadlines.c.deadline_id == opened[0][1]))
        conn.execute(deadlines.update().values(state=FIRED))
        conn.execute(insert(deadlines).values(deadline_id="stray", kind="x", case_stream_id="x",
                                              due_at_us=0, state=PENDING))
    assert _table(store) != expected
    assert rebuild_deadlines_table(store) == 4
    assert _table(store) == expected
    assert rebuild_deadlines_table(store) == 4  # idempotent
    assert _table(store) == expected


def test_scheduling_commits_atomically_with_the_callers_append(store: EventStore, clock: FakeClock) -> None:
    """A handler that fails after scheduling leaves neither its case event nor the deadline."""
    case = unique_id("case")
    with pytest.raises(RuntimeError), store.transaction() as tx:
        [received] = tx.append(case, DIVORCE_CASE, NO_STREAM, [new_event("received", correlation_id=case)])
        schedule_deadline(tx, deadline_id=f"{case}-cooling-off", kind=COOLING_OFF_ENDS, case_stream_id=case,
                          due_at=clock.now() + timedelta(days=30), rule=DIVORCE_RULE,
                          provenance=Provenance(actor=CLERK, correlation_id=case, causation_id=received.event_id,
                                                occurred_at=clock.now()))
        raise RuntimeError("the office's printer jammed before commit")
    assert store.stream_version(case) == 0
    assert store.stream_version(deadline_stream_id(f"{case}-cooling-off")) == 0
    assert store.head()[0] == 0
    assert _table(store) == []
    scheduler = DeadlineScheduler(store, clock, {COOLING_OFF_ENDS: _reaction("cooling-off ended")}, name="s")
    assert scheduler.next_due() is None
    clock.advance(timedelta(days=31))
    assert scheduler.fire_due() == []


def test_scheduling_the_same_deadline_twice_voids_the_second_transaction(
        store: EventStore, clock: FakeClock) -> None:
    case, deadline_id = _open_case(store, clock, kind=COOLING_OFF_ENDS, rule=DIVORCE_RULE,
                                   due_in=timedelta(days=30))
    head = store.head()
    with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
        tx.append(case, DIVORCE_CASE, 1, [new_event("received again", correlation_id=case)])
        schedule_deadline(tx, deadline_id=deadline_id, kind=COOLING_OFF_ENDS, case_stream_id=case,
                          due_at=clock.now() + timedelta(days=40), rule=DIVORCE_RULE,
                          provenance=Provenance(actor=CLERK, correlation_id=case, causation_id="cmd-6",
                                                occurred_at=clock.now()))
    assert store.head() == head
    assert [row[3] for row in _table(store)] == [to_micros(clock.now() + timedelta(days=30))]


def test_run_fires_in_a_background_thread_until_stopped(store: EventStore, clock: FakeClock) -> None:
    case, deadline_id = _open_case(store, clock, kind=PUBLIC_NOTICE_ENDS, rule=PUBLIC_NOTICE_RULE,
                                   due_in=timedelta(days=7), case_type=DIBAO_CASE)
    scheduler = DeadlineScheduler(store, clock, {PUBLIC_NOTICE_ENDS: _reaction("public notice ended")},
                                  name="relief-640000")
    stop = threading.Event()
    thread = threading.Thread(target=scheduler.run, args=(stop, 0.01), daemon=True)
    thread.start()
    try:
        clock.advance(timedelta(days=7))
        wait_until(lambda: _reactions(store, case), what="the public-notice deadline to fire")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert _closing_types(store, deadline_id) == ["DeadlineFired"]
    assert _reactions(store, case) == ["public notice ended"]
