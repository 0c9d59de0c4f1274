"""The HandoffService gRPC API (tongban.handoff.v1), served by every service instance beside its
own. Thin: validate the request, run one application function in one transaction, map the
result; the interceptor in grpc_context maps errors (WrongOwner → PERMISSION_DENIED with the
owner named, a broken rule → FAILED_PRECONDITION, bad input → INVALID_ARGUMENT)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError, Message

from services.common.errors import FieldViolation, InvalidArgument
from services.common.events import decode_payload
from services.common.grpc_context import current_actor
from services.common.handoff import adapters, application, projections
from services.common.handoff import domain as d
from services.common.handoff.hooks import HandoffHooks
from services.common.store import EventStore
from services.common.trust.reads import RecordedReads
from tongban.handoff.v1 import handoff_service_pb2 as api
from tongban.handoff.v1 import handoff_service_pb2_grpc as api_grpc
from tongban.handoff.v1.events_pb2 import TypedMessage

DEFAULT_LIMIT = 100


class HandoffServicer(api_grpc.HandoffServiceServicer):
    def __init__(self, store: EventStore, hooks: HandoffHooks | None = None,
                 reads: RecordedReads | None = None) -> None:
        self.store = store
        self.hooks = hooks or HandoffHooks()
        # A hand-off carries the case's snapshot: its reads are authorised and recorded (invariant 8).
        self.reads = reads or RecordedReads(store, store.clock)

    def ForwardCase(self, request: api.ForwardCaseRequest, context: grpc.ServicerContext) -> api.ForwardCaseResponse:
        return api.ForwardCaseResponse(handoff=self._send(request, d.Kind.FORWARD_CASE))

    def RequestWork(self, request: api.RequestWorkRequest, context: grpc.ServicerContext) -> api.RequestWorkResponse:
        return api.RequestWorkResponse(handoff=self._send(request, d.Kind.REQUEST_WORK))

    def _send(self, request: api.ForwardCaseRequest | api.RequestWorkRequest, kind: d.Kind) -> api.Handoff:
        actor = current_actor()
        accept_within, answer_within = _limits(request)
        with self.store.transaction() as tx:
            snapshot = self.hooks.case_snapshot(tx, request.case_id) if self.hooks.case_snapshot else None
            send = application.forward_case if kind is d.Kind.FORWARD_CASE else application.request_work
            handoff = send(tx, case_id=request.case_id, to_region=request.to_region, work=request.work,
                           accept_within=accept_within, answer_within=answer_within, actor=actor,
                           case_snapshot=snapshot, handoff_id=request.handoff_id or None)
        return self._view(handoff)

    def AcceptHandoff(self, request: api.AcceptHandoffRequest,
                      context: grpc.ServicerContext) -> api.AcceptHandoffResponse:
        actor = current_actor()
        handoff_id = _handoff_id(request.handoff_id)
        with self.store.transaction() as tx:
            handoff = application.accept_handoff(tx, handoff_id, actor=actor)
            if self.hooks.on_taken_over is not None:
                self.hooks.on_taken_over(tx, handoff)
        return api.AcceptHandoffResponse(handoff=self._view(handoff))

    def RefuseHandoff(self, request: api.RefuseHandoffRequest,
                      context: grpc.ServicerContext) -> api.RefuseHandoffResponse:
        actor = current_actor()
        handoff_id = _handoff_id(request.handoff_id)
        if not request.reason.strip():
            raise InvalidArgument.single("reason", "a refusal gives its reason to the origin region")
        with self.store.transaction() as tx:
            handoff = application.refuse_handoff(tx, handoff_id, request.reason, actor=actor)
        return api.RefuseHandoffResponse(handoff=self._view(handoff))

    def CompleteHandoff(self, request: api.CompleteHandoffRequest,
                        context: grpc.ServicerContext) -> api.CompleteHandoffResponse:
        actor = current_actor()
        handoff_id = _handoff_id(request.handoff_id)
        outcome = _outcome(request)
        with self.store.transaction() as tx:
            handoff = application.complete_handoff(tx, handoff_id, outcome, actor=actor)
        return api.CompleteHandoffResponse(handoff=self._view(handoff))

    def GetHandoff(self, request: api.GetHandoffRequest, context: grpc.ServicerContext) -> api.GetHandoffResponse:
        self.reads.may_read(current_actor())
        handoff = application.get_handoff(self.store, _handoff_id(request.handoff_id))
        view = self._view(handoff)
        self.reads.shared(current_actor(), request="GetHandoff", case_ids=[view.case_id],
                          correlation_id=view.correlation_id)
        return api.GetHandoffResponse(handoff=view)

    def ListHandoffs(self, request: api.ListHandoffsRequest,
                     context: grpc.ServicerContext) -> api.ListHandoffsResponse:
        self.reads.may_read(current_actor())
        direction = _direction(request.direction)
        state = None if request.state == api.HANDOFF_STATE_UNSPECIFIED else _state(request.state)
        found = application.list_handoffs(self.store, direction, state, limit=_list_limit(request.limit))
        self.reads.shared(current_actor(), request="ListHandoffs", case_ids=[h.case_id for h in found])
        return self._list(found)

    def ListOverdue(self, request: api.ListOverdueRequest, context: grpc.ServicerContext) -> api.ListOverdueResponse:
        self.reads.may_read(current_actor())
        now = self.store.clock.now()
        found = application.list_overdue(self.store, now, direction=_direction(request.direction),
                                         limit=_list_limit(request.limit))
        self.reads.shared(current_actor(), request="ListOverdue", case_ids=[h.case_id for h in found])
        listed = self._list(found, now)
        return api.ListOverdueResponse(handoffs=listed.handoffs, as_of=listed.as_of)

    def _view(self, handoff: d.Handoff) -> api.Handoff:
        return adapters.to_view(handoff, self.store.clock.now())

    def _list(self, found: list[d.Handoff], now: datetime | None = None) -> api.ListHandoffsResponse:
        as_of = now or self.store.clock.now()
        return api.ListHandoffsResponse(handoffs=[adapters.to_view(h, as_of) for h in found],
                                        as_of=adapters.timestamp(as_of))


def handoff_servicer_adder(store: EventStore, hooks: HandoffHooks | None = None) -> Callable[[grpc.Server], None]:
    """For `create_server(servicers=[...])`."""
    store.ensure_tables(projections.TABLES)
    servicer = HandoffServicer(store, hooks)
    return lambda server: api_grpc.add_HandoffServiceServicer_to_server(servicer, server)


# --- request validation --------------------------------------------------------------------------


def _limits(request: api.ForwardCaseRequest | api.RequestWorkRequest) -> tuple[timedelta, timedelta]:
    violations = [FieldViolation(name, "required") for name in ("accept_within", "answer_within")
                  if not request.HasField(name)]
    if violations:
        raise InvalidArgument(violations)
    return _timedelta(request.accept_within), _timedelta(request.answer_within)


def _timedelta(value: Duration) -> timedelta:
    return value.ToTimedelta()


def _handoff_id(value: str) -> str:
    if not d.HANDOFF_ID.match(value):
        raise InvalidArgument.single("handoff_id", "1 to 100 characters: letters, digits, '.', '_', '-'")
    return value


def _outcome(request: api.CompleteHandoffRequest) -> Message:
    typed: TypedMessage = request.outcome
    if not request.HasField("outcome") or not typed.type:
        raise InvalidArgument.single("outcome.type", "the full protobuf type name of the outcome is required")
    try:
        return decode_payload(typed.type, typed.data)
    except LookupError:
        raise InvalidArgument.single("outcome.type", f"{typed.type!r} is not a message type this service knows") \
            from None
    except DecodeError:
        raise InvalidArgument.single("outcome.data", f"not a serialized {typed.type}") from None


def _direction(value: int) -> d.Direction | None:
    if value == api.DIRECTION_UNSPECIFIED:
        return None
    try:
        return adapters.DIRECTION_FROM_PB[value]
    except KeyError:
        raise InvalidArgument.single("direction", f"unknown direction {value}") from None


def _state(value: int) -> d.State:
    try:
        return adapters.STATE_FROM_PB[value]
    except KeyError:
        raise InvalidArgument.single("state", f"unknown state {value}") from None


def _list_limit(value: int) -> int:
    if value < 0 or value > application.MAX_LIST:
        raise InvalidArgument.single("limit", f"0 (default {DEFAULT_LIMIT}) to {application.MAX_LIST}")
    return value or DEFAULT_LIMIT
