"""A minimal service for the hand-off tests, run by the real host (services.host):

    python -m services.host --definition tests.handoff_region_app:definition --region 640000 ...

Its cases are streams of StringValue notes (stream id = case id, type "test.Case"). Its own API is
one command, AddNote, guarded by ensure_owner like any write command of a real service; the rest
is the shared hand-off API. Hooks: a region that accepts a forwarded case notes that it took it
over (so it has a case to forward back); an origin notes every outcome in the case, where its
window would show it."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import grpc
from google.protobuf.message import Message
from google.protobuf.wrappers_pb2 import StringValue

from services.common.errors import InvalidArgument
from services.common.events import Actor, NewEvent
from services.common.grpc_context import current_actor
from services.common.handoff import Handoff, HandoffHooks, Kind, ensure_owner
from services.common.store import EventStore, StoreTransaction
from services.common.telemetry import current_trace_context
from services.host import ServiceDefinition, Wiring

SERVICE = "casework"
CASE_TYPE = "test.Case"
API = "tongban.test.v1.Casework"
ADD_NOTE = f"/{API}/AddNote"


def add_note(tx: StoreTransaction, case_id: str, text: str, actor: Actor, correlation_id: str = "") -> None:
    note = NewEvent.from_message(
        StringValue(value=text), event_id=str(uuid.uuid4()), actor=actor,
        correlation_id=correlation_id or case_id, occurred_at=tx.store.clock.now(), trace=current_trace_context(),
    )
    tx.append(case_id, CASE_TYPE, None, [note])


def casework_servicer(store: EventStore) -> Callable[[grpc.Server], None]:
    def add(request: StringValue, context: grpc.ServicerContext) -> StringValue:
        case_id, _, text = request.value.partition("|")
        if not case_id or not text:
            raise InvalidArgument.single("value", "expected 'case_id|text'")
        with store.transaction() as tx:
            ensure_owner(tx, case_id)  # a write command: only the owning region takes it
            add_note(tx, case_id, text, current_actor())
        return StringValue(value=case_id)

    handler = grpc.method_handlers_generic_handler(API, {
        "AddNote": grpc.unary_unary_rpc_method_handler(
            add, request_deserializer=StringValue.FromString, response_serializer=StringValue.SerializeToString),
    })
    return lambda server: server.add_generic_rpc_handlers((handler,))


def snapshot(tx: StoreTransaction, case_id: str) -> Message | None:
    version = tx.stream_version(case_id)
    if version == 0:
        return None
    [latest] = tx.read_stream(case_id, after_version=version - 1)
    return latest.message()


def taken_over(tx: StoreTransaction, h: Handoff) -> None:
    if h.kind is Kind.FORWARD_CASE:
        add_note(tx, h.case_id, f"taken over from {h.from_region} by hand-off {h.handoff_id}",
                 Actor.system(tx.store.region, "casework"), h.correlation_id)


def outcome_arrived(tx: StoreTransaction, h: Handoff, outcome: Message) -> None:
    assert isinstance(outcome, StringValue)
    add_note(tx, h.case_id, f"outcome from {h.to_region}: {outcome.value}", Actor.system(tx.store.region, "casework"),
             h.correlation_id)


def definition() -> ServiceDefinition:
    return ServiceDefinition(name=SERVICE, wire=lambda infrastructure: Wiring(
        servicers=[casework_servicer(infrastructure.store)],
        handoff_hooks=HandoffHooks(case_snapshot=snapshot, on_taken_over=taken_over, on_outcome=outcome_arrived),
    ))
