"""The hand-off protocol between two real stores (SQLite and PostgreSQL), each message carried as
its envelope bytes through `consume` (decode, hash check, inbox) exactly as the runtime's agents
do — without a broker, so every rule and race is cheap to pin down here. The same flows over
Kafka between two host processes are in test_handoff_regions.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.protobuf.wrappers_pb2 import StringValue
from sqlalchemy import func, select

from services.common.clock import FakeClock
from services.common.consumer import consume
from services.common.deadlines import DeadlineScheduler
from services.common.errors import RuleViolation, WrongOwner
from services.common.events import Actor, NewEvent, RecordedEvent
from services.common.grpc_context import create_server, error_details
from services.common.handoff import (
    DEADLINE_HANDLERS,
    Direction,
    Handoff,
    HandoffHooks,
    RejectedMessage,
    Stage,
    State,
    accept_handoff,
    adapters,
    complete_handoff,
    ensure_owner,
    forward_case,
    get_handoff,
    handoff_reaction,
    handoff_servicer_adder,
    list_handoffs,
    list_overdue,
    owner_of,
    projections,
    rebuild_handoff_tables,
    refuse_handoff,
    request_work,
)
from services.common.store import EventStore, sqlite_url, verify_store
from services.common.store.schema import inbox
from services.common.telemetry import memory_tracing
from tests.fixtures.stores import COMPONENT_TABLES
from tests.fixtures.trust import actor_metadata, authenticator
from tests.handoff_region_app import add_note
from tongban.handoff.v1 import handoff_service_pb2 as api
from tongban.handoff.v1 import handoff_service_pb2_grpc as api_grpc

NINGXIA, SICHUAN, SHAANXI = "640000", "510000", "610000"
SERVICE = "disability"
CLERK_O = Actor(kind="clerk", clerk_id="c-1", office_code="640104-MRO-01", region=NINGXIA, role="clerk")
CLERK_T = Actor(kind="clerk", clerk_id="c-2", office_code="510802-MRO-01", region=SICHUAN, role="approver")
DAYS_3, DAYS_14 = timedelta(days=3), timedelta(days=14)


@dataclass
class Side:
    store: EventStore
    calls: list[tuple[str, str]] = field(default_factory=list)  # (hook, handoff_id)
    outcomes: list[Message] = field(default_factory=list)

    def hooks(self) -> HandoffHooks:
        return HandoffHooks(
            on_received=lambda tx, h: self.calls.append(("received", h.handoff_id)),
            on_accepted=lambda tx, h: self.calls.append(("accepted", h.handoff_id)),
            on_refused=lambda tx, h: self.calls.append(("refused", h.handoff_id)),
            on_outcome=self._outcome,
        )

    def _outcome(self, tx: Any, h: Handoff, outcome: Message) -> None:
        self.calls.append(("outcome", h.handoff_id))
        self.outcomes.append(outcome)
        # Where the origin's window shows it: in the case itself.
        add_note(tx, h.case_id, f"outcome from {h.to_region}", Actor.system(tx.store.region, "test"),
                 h.correlation_id)


class Exchange:
    """Two regions and the national exchange between them, in-process."""

    def __init__(self, origin: EventStore, receiver: EventStore) -> None:
        self.o, self.t = Side(origin), Side(receiver)
        self.reactions = {
            id(origin): handoff_reaction(NINGXIA, self.o.hooks(), service=SERVICE),
            id(receiver): handoff_reaction(SICHUAN, self.t.hooks(), service=SERVICE),
        }
        self._delivered: dict[tuple[int, int], int] = {}

    def deliver(self, src: Side, dst: Side, *, from_start: bool = False, consumer: str = "handoff") -> int:
        """Carry every event of `src` published since the last call to `dst`'s reaction, the way
        the runtime does (filter, then consume); returns how many had an effect."""
        reaction = self.reactions[id(dst.store)]
        key = (id(src.store), id(dst.store))
        applied = 0
        for event in src.store.iter_log(0 if from_start else self._delivered.get(key, 0)):
            self._delivered[key] = event.position
            if reaction.wants(event):
                applied += consume(dst.store, consumer, event.to_bytes(), None, reaction)
        return applied

    def both_ways(self) -> int:
        return self.deliver(self.o, self.t) + self.deliver(self.t, self.o)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def exchange(request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock) -> Iterator[Exchange]:
    if request.param == "sqlite":
        urls = [sqlite_url(tmp_path / "ningxia.db"), sqlite_url(tmp_path / "sichuan.db")]
    else:
        server = request.getfixturevalue("postgres_server")
        urls = [server.create_database(), server.create_database()]
    origin = EventStore.open(urls[0], region=NINGXIA, service=SERVICE, clock=clock, tables=COMPONENT_TABLES)
    receiver = EventStore.open(urls[1], region=SICHUAN, service=SERVICE, clock=clock, tables=COMPONENT_TABLES)
    try:
        yield Exchange(origin, receiver)
    finally:
        origin.close()
        receiver.close()


def open_case(store: EventStore, case_id: str = "disability-7") -> RecordedEvent:
    with store.transaction() as tx:
        add_note(tx, case_id, "application received at the window", CLERK_O)
    return store.read_stream(case_id)[-1]


def forward(store: EventStore, case_id: str = "disability-7", **kw: Any) -> Handoff:
    with store.transaction() as tx:
        return forward_case(tx, case_id=case_id, to_region=SICHUAN, accept_within=DAYS_3, answer_within=DAYS_14,
                            actor=CLERK_O, case_snapshot=StringValue(value="snapshot"), **kw)


def types(store: EventStore, handoff: Handoff) -> list[str]:
    return [e.type.rsplit(".", 1)[-1] for e in store.read_stream(handoff.stream_id)]


def test_a_forwarded_case_moves_only_on_acceptance_and_its_outcome_returns_to_the_origin(exchange: Exchange) -> None:
    """异地代收代办: the window region forwards, the hukou region accepts, decides, and the decision
    is recorded in the origin case; one owner at a time (invariant 4)."""
    o, t = exchange.o, exchange.t
    latest = open_case(o.store)
    sent = forward(o.store)
    assert exchange.deliver(o, t) == 1
    received = get_handoff(t.store, sent.handoff_id)
    assert (received.direction, received.state) == (Direction.INCOMING, State.PENDING)
    assert (received.from_region, received.case_id, received.origin_latest_hash) == (NINGXIA, "disability-7",
                                                                                     latest.hash)
    assert received.case_snapshot == adapters.attachment_of(StringValue(value="snapshot"))
    assert t.calls == [("received", sent.handoff_id)]
    # Until the acceptance is recorded, the sender owns the case on both sides.
    assert owner_of(o.store, "disability-7") == owner_of(t.store, "disability-7") == NINGXIA
    with pytest.raises(WrongOwner) as not_yet:
        ensure_owner(t.store, "disability-7")
    assert not_yet.value.owner_region == NINGXIA

    with t.store.transaction() as tx:
        accept_handoff(tx, sent.handoff_id, actor=CLERK_T)
    assert owner_of(t.store, "disability-7") == SICHUAN
    assert owner_of(o.store, "disability-7") == NINGXIA, "the origin still owns it until it records the acceptance"
    assert exchange.deliver(t, o) == 1
    assert owner_of(o.store, "disability-7") == SICHUAN
    with pytest.raises(WrongOwner) as moved:
        ensure_owner(o.store, "disability-7")
    assert moved.value.owner_region == SICHUAN
    assert o.calls == [("accepted", sent.handoff_id)]

    with t.store.transaction() as tx:
        complete_handoff(tx, sent.handoff_id, StringValue(value="approved: 110 yuan/month"), actor=CLERK_T)
    assert exchange.deliver(t, o) == 1
    answered = get_handoff(o.store, sent.handoff_id)
    assert (answered.state, answered.decided_by) == (State.ANSWERED, CLERK_T)
    assert o.outcomes == [StringValue(value="approved: 110 yuan/month")]
    assert o.store.read_stream("disability-7")[-1].message() == StringValue(value="outcome from 510000")

    # Both sides keep their part (who sent, who received, when, what), in one correlation.
    assert types(o.store, sent) == ["HandoffSent", "HandoffAccepted", "HandoffOutcomeReceived"]
    assert types(t.store, sent) == ["HandoffReceived", "HandoffAccepted", "HandoffOutcome"]
    o_events, t_events = o.store.read_stream(sent.stream_id), t.store.read_stream(sent.stream_id)
    assert {e.correlation_id for e in o_events + t_events} == {latest.correlation_id}
    assert o_events[1].payload == t_events[1].payload, "the acceptance is mirrored word for word"
    assert o_events[1].causation_id == t_events[1].event_id
    assert t_events[0].causation_id == o_events[0].event_id
    assert verify_store(o.store).ok and verify_store(t.store).ok


def test_a_handoff_is_one_trace_from_the_origin_window_to_the_decision_and_back(exchange: Exchange) -> None:
    """Invariant 8: the receiving clerk's decision, made in a call of its own, still continues the
    journey that started at the origin's window, and so does the origin's record of it."""
    tracer = memory_tracing().tracer()
    o, t = exchange.o, exchange.t
    open_case(o.store)
    with tracer.start_as_current_span("ningxia window: ForwardCase") as window:
        sent = forward(o.store)
    exchange.deliver(o, t)
    with tracer.start_as_current_span("sichuan clerk: AcceptHandoff"), t.store.transaction() as tx:
        accept_handoff(tx, sent.handoff_id, actor=CLERK_T)
    exchange.deliver(t, o)
    journey = f"{window.get_span_context().trace_id:032x}"
    recorded = o.store.read_stream(sent.stream_id) + t.store.read_stream(sent.stream_id)
    assert [e.trace.traceparent.split("-")[1] for e in recorded] == [journey] * 4


def test_a_refusal_travels_back_and_the_origin_keeps_the_case(exchange: Exchange) -> None:
    o, t = exchange.o, exchange.t
    open_case(o.store)
    sent = forward(o.store)
    exchange.deliver(o, t)
    with t.store.transaction() as tx:
        refuse_handoff(tx, sent.handoff_id, "户籍不在本省", actor=CLERK_T)
    assert exchange.deliver(t, o) == 1
    refused = get_handoff(o.store, sent.handoff_id)
    assert (refused.state, refused.refusal_reason) == (State.REFUSED, "户籍不在本省")
    assert owner_of(o.store, "disability-7") == owner_of(t.store, "disability-7") == NINGXIA
    assert o.calls == [("refused", sent.handoff_id)]
    again = forward(o.store)  # the owner may try again
    assert again.state is State.PENDING


def test_requested_work_is_answered_without_moving_ownership(exchange: Exchange) -> None:
    """多地联办: the residence region asks the hukou region for the family economic check."""
    o, t = exchange.o, exchange.t
    open_case(o.store, "relief-3")
    with o.store.transaction() as tx:
        asked = request_work(tx, case_id="relief-3", to_region=SICHUAN, work="家庭经济状况核对",
                             accept_within=DAYS_3, answer_within=DAYS_14, actor=CLERK_O)
    exchange.deliver(o, t)
    with t.store.transaction() as tx:
        accept_handoff(tx, asked.handoff_id, actor=CLERK_T)
        complete_handoff(tx, asked.handoff_id, StringValue(value="per-capita income 420 yuan"), actor=CLERK_T)
    assert exchange.deliver(t, o) == 2
    assert get_handoff(o.store, asked.handoff_id).state is State.ANSWERED
    assert owner_of(o.store, "relief-3") == owner_of(t.store, "relief-3") == NINGXIA
    with pytest.raises(WrongOwner):
        ensure_owner(t.store, "relief-3")


def test_a_receiver_may_accept_a_request_the_moment_it_arrives(exchange: Exchange) -> None:
    """A service's on_received hook runs in the transaction that records the request, so it can
    accept at once (e.g. a check the hukou region always performs)."""
    o, t = exchange.o, exchange.t

    def accept_at_once(tx: Any, h: Handoff) -> None:
        accept_handoff(tx, h.handoff_id, actor=Actor.system(SICHUAN, "auto-accept"))

    exchange.reactions[id(t.store)] = handoff_reaction(SICHUAN, HandoffHooks(on_received=accept_at_once),
                                                       service=SERVICE)
    open_case(o.store, "relief-3")
    with o.store.transaction() as tx:
        asked = request_work(tx, case_id="relief-3", to_region=SICHUAN, work="家庭经济状况核对",
                             accept_within=DAYS_3, answer_within=DAYS_14, actor=CLERK_O)
    exchange.deliver(o, t)
    assert types(t.store, asked) == ["HandoffReceived", "HandoffAccepted"]
    exchange.deliver(t, o)
    assert get_handoff(o.store, asked.handoff_id).state is State.ACCEPTED


def test_redelivering_every_message_changes_nothing_on_either_side(exchange: Exchange) -> None:
    """At-least-once delivery: the inbox absorbs a redelivery, and the state checks absorb the
    same message arriving under another consumer (a renamed or rebuilt inbox)."""
    o, t = exchange.o, exchange.t
    open_case(o.store)
    first = forward(o.store)
    open_case(o.store, "relief-3")
    with o.store.transaction() as tx:
        second = request_work(tx, case_id="relief-3", to_region=SICHUAN, work="核对", accept_within=DAYS_3,
                              answer_within=DAYS_14, actor=CLERK_O)
    exchange.deliver(o, t)
    with t.store.transaction() as tx:
        accept_handoff(tx, first.handoff_id, actor=CLERK_T)
        refuse_handoff(tx, second.handoff_id, "not ours", actor=CLERK_T)
        complete_handoff(tx, first.handoff_id, StringValue(value="approved"), actor=CLERK_T)
    exchange.deliver(t, o)
    heads = (o.store.head(), t.store.head())
    calls = (list(o.calls), list(t.calls))
    assert exchange.deliver(o, t, from_start=True) == exchange.deliver(t, o, from_start=True) == 0, "inbox"
    for src, dst in ((o, t), (t, o)):
        exchange.deliver(src, dst, from_start=True, consumer="a-fresh-inbox")
    assert (o.store.head(), t.store.head()) == heads, "the state checks recorded nothing new"
    assert (o.calls, t.calls) == calls, "no hook ran twice"


def test_a_message_whose_declared_sender_did_not_publish_it_is_rejected_and_nothing_stored(
        exchange: Exchange, tmp_path: Path, clock: FakeClock) -> None:
    t = exchange.t
    forger = EventStore.open(sqlite_url(tmp_path / "forger.db"), region=SHAANXI, service=SERVICE, clock=clock,
                             tables=COMPONENT_TABLES)
    try:
        open_case(forger, "disability-7")
        # The forger's own store would refuse to send on Ningxia's behalf, so write the event raw.
        fake = forward(forger)
        event = forger.read_stream(fake.stream_id)[0]
        forged = adapters.to_proto(adapters.from_payload(event.type, event.payload))
        assert forged.from_region == SHAANXI  # type: ignore[attr-defined]
        forged.from_region = NINGXIA  # type: ignore[attr-defined]
        forger.append("handoff-forged", adapters.STREAM_TYPE, 0, [NewEvent.from_message(
            forged, event_id="forged-1", actor=CLERK_O, correlation_id="c", occurred_at=clock.now())])
        [forged_event] = forger.read_stream("handoff-forged")
    finally:
        forger.close()
    reaction = exchange.reactions[id(t.store)]
    head = t.store.head()
    with pytest.raises(RejectedMessage, match="declares sender 640000"):
        reaction.wants(forged_event)  # the host's gate records it as a rejected message
    with pytest.raises(RejectedMessage, match="declares sender 640000 but was published by region 610000"):
        consume(t.store, "handoff", forged_event.to_bytes(), None, reaction)
    assert t.store.head() == head
    with t.store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(inbox)).scalar() == 0, "not even an inbox row"


def test_rules_only_the_owner_hands_off_one_forward_at_a_time_the_receiver_decides_once(exchange: Exchange) -> None:
    o, t = exchange.o, exchange.t
    open_case(o.store)
    sent = forward(o.store)
    with pytest.raises(RuleViolation) as twice:
        forward(o.store)
    assert twice.value.rule == "OneForwardAtATime"
    exchange.deliver(o, t)
    with pytest.raises(WrongOwner) as not_owner, t.store.transaction() as tx:
        add_note(tx, "disability-7", "taken over", CLERK_T)
        forward_case(tx, case_id="disability-7", to_region=SHAANXI, accept_within=DAYS_3, answer_within=DAYS_14,
                     actor=CLERK_T)
    assert not_owner.value.owner_region == NINGXIA
    assert t.store.stream_version("disability-7") == 0, "the refused command stored nothing"
    with t.store.transaction() as tx:
        accept_handoff(tx, sent.handoff_id, actor=CLERK_T)
    with pytest.raises(RuleViolation) as again, t.store.transaction() as tx:
        accept_handoff(tx, sent.handoff_id, actor=CLERK_T)
    assert again.value.rule == "ReceiverDecidesOnce"
    with pytest.raises(RuleViolation) as origin_decides, o.store.transaction() as tx:
        accept_handoff(tx, sent.handoff_id, actor=CLERK_O)
    assert origin_decides.value.rule == "OnlyTheReceiverDecides"


def test_an_unanswered_request_is_overdue_on_both_sides_once_the_clock_passes_its_limit(
        exchange: Exchange, clock: FakeClock) -> None:
    """Limits are deadlines (invariant 6): nothing is silently lost — a hand-off is pending,
    accepted, refused, answered or overdue."""
    o, t = exchange.o, exchange.t
    open_case(o.store, "relief-3")
    with o.store.transaction() as tx:
        asked = request_work(tx, case_id="relief-3", to_region=SICHUAN, work="家庭经济状况核对",
                             accept_within=DAYS_3, answer_within=DAYS_14, actor=CLERK_O)
    exchange.deliver(o, t)
    schedulers = [DeadlineScheduler(s.store, clock, DEADLINE_HANDLERS, name=s.store.region) for s in (o, t)]
    clock.advance(timedelta(days=2))
    assert [s.fire_due() for s in schedulers] == [[], []]
    assert list_overdue(o.store) == list_overdue(t.store) == []

    clock.advance(timedelta(days=1, seconds=1))
    for side, scheduler in zip((o, t), schedulers, strict=True):
        assert len(scheduler.fire_due()) == 1
        [late] = list_overdue(side.store)
        assert (late.handoff_id, late.overdue_stages(clock.now())) == (asked.handoff_id, (Stage.ACCEPTANCE,))
        assert types(side.store, asked)[-1] == "HandoffOverdue"

    with t.store.transaction() as tx:
        accept_handoff(tx, asked.handoff_id, actor=CLERK_T)  # late, but still accepted
    exchange.deliver(t, o)
    assert list_overdue(o.store) == list_overdue(t.store) == []
    clock.advance(timedelta(days=12))
    assert [len(s.fire_due()) for s in schedulers] == [1, 1]
    assert [h.overdue_stages(clock.now()) for h in list_overdue(o.store)] == [(Stage.ANSWER,)]
    with t.store.transaction() as tx:
        complete_handoff(tx, asked.handoff_id, StringValue(value="checked"), actor=CLERK_T)
    exchange.deliver(t, o)
    assert list_overdue(o.store) == list_overdue(t.store) == []
    assert [s.store.stream_version(f"deadline-{asked.handoff_id}.answer") for s in (o, t)] == [2, 2]


def test_the_tables_rebuild_from_the_log(exchange: Exchange) -> None:
    o, t = exchange.o, exchange.t
    open_case(o.store)
    sent = forward(o.store)
    exchange.deliver(o, t)
    with t.store.transaction() as tx:
        accept_handoff(tx, sent.handoff_id, actor=CLERK_T)
    exchange.deliver(t, o)
    for store in (o.store, t.store):
        before = _tables(store)
        assert rebuild_handoff_tables(store) == 1
        assert _tables(store) == before
        assert [h.handoff_id for h in list_handoffs(store, state=State.ACCEPTED)] == [sent.handoff_id]


def _tables(store: EventStore) -> tuple[list[Any], list[Any]]:
    with store.engine.connect() as conn:
        handoffs = projections.handoffs
        rows = [tuple(r) for r in conn.execute(select(handoffs).order_by(handoffs.c.handoff_id))]
        owners = [tuple(r)[:3] for r in conn.execute(select(projections.case_owners))]
    return rows, owners


# --- the gRPC API, in-process (the same calls between host processes: test_handoff_regions.py) ---


@pytest.fixture
def api_stub(tmp_path: Path, clock: FakeClock) -> Iterator[tuple[api_grpc.HandoffServiceStub, EventStore]]:
    store = EventStore.open(sqlite_url(tmp_path / "sichuan.db"), region=SICHUAN, service=SERVICE, clock=clock,
                            tables=COMPONENT_TABLES)
    server, port = create_server("127.0.0.1:0", servicers=[handoff_servicer_adder(store)],
                                 authenticator=authenticator(SICHUAN))
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield api_grpc.HandoffServiceStub(channel), store
    finally:
        channel.close()
        server.stop(None)
        store.close()


def test_the_api_answers_bad_input_first_then_ownership_then_rules(
        api_stub: tuple[api_grpc.HandoffServiceStub, EventStore]) -> None:
    """Invariant 7: INVALID_ARGUMENT with the fields named before anything else; PERMISSION_DENIED
    naming the owner; FAILED_PRECONDITION naming the rule; nothing stored on any refusal."""
    stub, store = api_stub
    meta = actor_metadata(CLERK_T)
    with store.transaction() as tx:  # Sichuan knows Ningxia owns this case (a request arrived)
        projections.set_owner(tx.connection, "disability-7", NINGXIA, "h-0", store.clock.now())
    head = store.head()

    def refusal(call: Any, request: Any) -> Any:
        with pytest.raises(grpc.RpcError) as failed:
            call(request, metadata=meta)
        return error_details(failed.value)

    bad = refusal(stub.ForwardCase, api.ForwardCaseRequest(case_id="disability-7", to_region="99"))
    assert bad.code is grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in bad.field_violations} == {"accept_within", "answer_within"}
    bad = refusal(stub.ForwardCase, api.ForwardCaseRequest(
        case_id="disability-7", to_region="99", accept_within=Duration(seconds=60), answer_within=Duration(seconds=1)))
    assert {v.field for v in bad.field_violations} == {"to_region", "answer_within"}

    limits = dict(accept_within=Duration(seconds=3600), answer_within=Duration(seconds=7200))
    denied = refusal(stub.ForwardCase, api.ForwardCaseRequest(case_id="disability-7", to_region=SHAANXI, **limits))
    assert (denied.code, denied.owner_region) == (grpc.StatusCode.PERMISSION_DENIED, NINGXIA)

    open_case(store, "relief-3")
    head = store.head()
    own = refusal(stub.RequestWork, api.RequestWorkRequest(case_id="relief-3", to_region=SICHUAN, work="核对",
                                                           **limits))
    assert (own.code, own.rule) == (grpc.StatusCode.FAILED_PRECONDITION, "NoHandoffToOwnRegion")
    missing = refusal(stub.AcceptHandoff, api.AcceptHandoffRequest(handoff_id="nope"))
    assert missing.code is grpc.StatusCode.NOT_FOUND
    assert store.head() == head, "no refusal stored anything"

    asked = stub.RequestWork(api.RequestWorkRequest(case_id="relief-3", to_region=SHAANXI, work="核对",
                                                    handoff_id="h-42", **limits), metadata=meta).handoff
    assert (asked.handoff_id, asked.direction, asked.state) == ("h-42", api.DIRECTION_OUTGOING,
                                                                 api.HANDOFF_STATE_PENDING)
    listed = stub.ListHandoffs(api.ListHandoffsRequest(direction=api.DIRECTION_OUTGOING), metadata=meta)
    assert [h.handoff_id for h in listed.handoffs] == ["h-42"]
    assert stub.ListHandoffs(api.ListHandoffsRequest(direction=api.DIRECTION_INCOMING), metadata=meta).handoffs == []
    unknown = refusal(stub.CompleteHandoff, api.CompleteHandoffRequest(
        handoff_id="h-42", outcome={"type": "no.such.Type", "data": b""}))
    assert [v.field for v in unknown.field_violations] == ["outcome.type"]
    decided = refusal(stub.CompleteHandoff, api.CompleteHandoffRequest(
        handoff_id="h-42", outcome={"type": "google.protobuf.StringValue", "data": b""}))
    assert decided.rule == "OnlyTheReceiverDecides"


def test_reading_hand_offs_is_authorised_and_recorded_个保法_34(
        api_stub: tuple[api_grpc.HandoffServiceStub, EventStore]) -> None:
    """A hand-off carries its case's snapshot: reading it is a read of personal data (invariant 8),
    allowed to the region's reading roles, recorded with the cases it held; anyone else is refused
    and nothing is recorded."""
    from services.common.trust.reads import READ_TYPE, case_reads_stream

    stub, store = api_stub
    open_case(store, "relief-3")
    limits = dict(accept_within=Duration(seconds=3600), answer_within=Duration(seconds=7200))
    stub.RequestWork(api.RequestWorkRequest(case_id="relief-3", to_region=SHAANXI, work="核对", handoff_id="h-7",
                                            **limits), metadata=actor_metadata(CLERK_T))
    head = store.head()
    court = Actor(kind="clerk", clerk_id="c-9", office_code="510802-MRO-01", region=SICHUAN, role="court")
    with pytest.raises(grpc.RpcError) as refused:
        stub.GetHandoff(api.GetHandoffRequest(handoff_id="h-7"), metadata=actor_metadata(court))
    assert error_details(refused.value).rule == "AuthorisedRead" and store.head() == head

    stub.GetHandoff(api.GetHandoffRequest(handoff_id="h-7"), metadata=actor_metadata(CLERK_T))
    [read] = store.read_stream(case_reads_stream("relief-3"))
    assert (read.type, read.actor, list(read.message().case_ids)) == (  # type: ignore[attr-defined]
        READ_TYPE, CLERK_T, ["relief-3"])
    stub.ListHandoffs(api.ListHandoffsRequest(direction=api.DIRECTION_OUTGOING), metadata=actor_metadata(CLERK_T))
    listed = [e for e in store.read_log(after=read.position) if e.type == READ_TYPE]
    assert [list(e.message().case_ids) for e in listed] == [["relief-3"]]  # type: ignore[attr-defined]
