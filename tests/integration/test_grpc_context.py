"""The gRPC seam on a real server and a real channel: the actor reaches the handler, refusals map
to statuses with readable details (invariant 7), and a call is one trace (invariant 8)."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.wrappers_pb2 import StringValue
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from services.common.errors import (
    ConcurrencyConflict,
    FieldViolation,
    InvalidArgument,
    NotAuthorised,
    NotFound,
    RuleViolation,
    TongbanError,
    WrongOwner,
)
from services.common.events import Actor
from services.common.grpc_context import (
    AUTHORIZATION_KEY,
    CLERK_ID_KEY,
    DEFAULT_EXEMPT,
    OFFICE_KEY,
    REGION_KEY,
    NoActor,
    acting_as,
    create_server,
    current_actor,
    error_details,
)
from services.common.telemetry import TracingClientInterceptor, current_trace_context, memory_tracing, tracer
from tests.fixtures.trust import actor_metadata, authenticator

SERVICE = "tongban.test.v1.Probe"
CLERK = Actor(kind="clerk", clerk_id="c-0042", office_code="640104-MRO-01", region="640000", role="window")

ERRORS: dict[str, TongbanError] = {
    "invalid": InvalidArgument(
        [
            FieldViolation("applicant.citizen_id", "check character does not match"),
            FieldViolation("partner.name", "must not be empty"),
        ]
    ),
    "rule": RuleViolation("MinimumMarriageAge", "男方未满二十二周岁 (民法典 第1047条)"),
    "forbidden": NotAuthorised("AuthorisedStatusQuery", "role 'window' may not query marital status"),
    "conflict": ConcurrencyConflict("marriage-1", expected=3, actual=4),
    "owner": WrongOwner("disability-7", "510000"),
    "missing": NotFound("case", "relief-9"),
}


def _describe(actor: Actor) -> str:
    return "|".join((actor.kind, actor.clerk_id, actor.office_code, actor.region, actor.role))


def who_am_i(request: StringValue, context: grpc.ServicerContext) -> StringValue:
    # A nested span stands for the work a handler does: it must land in the caller's trace.
    with tracer().start_as_current_span("decide"):
        return StringValue(value=f"{_describe(current_actor())}#{current_trace_context().traceparent}")


def fail(request: StringValue, context: grpc.ServicerContext) -> StringValue:
    if request.value == "unexpected":
        raise RuntimeError("connection to postgres://admin:hunter2@db failed")
    if request.value == "abort":
        context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down")
    raise ERRORS[request.value]


def public(request: StringValue, context: grpc.ServicerContext) -> StringValue:
    try:
        return StringValue(value=_describe(current_actor()))
    except NoActor:
        return StringValue(value="no actor")


def stream(request: StringValue, context: grpc.ServicerContext) -> Iterator[StringValue]:
    for i in range(3):
        if request.value == "rule" and i == 1:
            raise ERRORS["rule"]
        yield StringValue(value=f"{current_actor().clerk_id}:{i}")


def _add_probe(server: grpc.Server) -> None:
    codec = {"request_deserializer": StringValue.FromString, "response_serializer": StringValue.SerializeToString}
    handlers = {
        "WhoAmI": grpc.unary_unary_rpc_method_handler(who_am_i, **codec),
        "Fail": grpc.unary_unary_rpc_method_handler(fail, **codec),
        "Public": grpc.unary_unary_rpc_method_handler(public, **codec),
        "Stream": grpc.unary_stream_rpc_method_handler(stream, **codec),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


@pytest.fixture(scope="module")
def channel() -> Iterator[grpc.Channel]:
    server, port = create_server(
        "127.0.0.1:0",
        servicers=[_add_probe],
        authenticator=authenticator("640000"),
        exempt=(*DEFAULT_EXEMPT, f"/{SERVICE}/Public"),
        # One worker, so consecutive calls share a thread: an actor left behind would show.
        max_workers=1,
    )
    server.start()
    raw = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield grpc.intercept_channel(raw, TracingClientInterceptor())
    finally:
        raw.close()
        server.stop(grace=None)


@pytest.fixture
def spans() -> InMemorySpanExporter:
    memory = memory_tracing().memory
    assert memory is not None
    return memory


def _unary(channel: grpc.Channel, method: str) -> grpc.UnaryUnaryMultiCallable:
    return channel.unary_unary(
        f"/{SERVICE}/{method}",
        request_serializer=StringValue.SerializeToString,
        response_deserializer=StringValue.FromString,
    )


def _call(channel: grpc.Channel, method: str, value: str = "", metadata: list[tuple[str, str]] | None = None) -> str:
    reply = _unary(channel, method)(StringValue(value=value), metadata=metadata, timeout=10)
    return reply.value


def _refusal(
    channel: grpc.Channel, method: str, value: str = "", metadata: list[tuple[str, str]] | None = None
) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        _call(channel, method, value, metadata=actor_metadata(CLERK) if metadata is None else metadata)
    return caught.value


def test_the_actor_reaches_the_handler(channel: grpc.Channel) -> None:
    described, _ = _call(channel, "WhoAmI", metadata=actor_metadata(CLERK)).split("#")
    assert described == "clerk|c-0042|640104-MRO-01|640000|window"

    auditor = Actor(kind="auditor", clerk_id="a-7", office_code="", region="640000", role="auditor")
    described, _ = _call(channel, "WhoAmI", metadata=actor_metadata(auditor)).split("#")
    assert described == "auditor|a-7||640000|auditor"


def test_the_actor_does_not_outlive_its_call(channel: grpc.Channel) -> None:
    _call(channel, "WhoAmI", metadata=actor_metadata(CLERK))
    assert _call(channel, "Public") == "no actor"
    assert _call(channel, "Public", metadata=actor_metadata(CLERK)) == "no actor"  # exempt: not resolved


def test_a_call_without_a_token_is_unauthenticated_naming_the_key(channel: grpc.Channel) -> None:
    """Architecture invariant 8: no credential, no actor."""
    error = _refusal(channel, "WhoAmI", metadata=[])
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert AUTHORIZATION_KEY in (error.details() or "")
    assert error_details(error).metadata == {"key": AUTHORIZATION_KEY}


@pytest.mark.parametrize("key", [CLERK_ID_KEY, OFFICE_KEY, REGION_KEY])
def test_plain_identity_headers_are_refused_even_beside_a_token(channel: grpc.Channel, key: str) -> None:
    """Architecture invariant 8: identity comes from the token only."""
    error = _refusal(channel, "WhoAmI", metadata=[*actor_metadata(CLERK), (key, "640000")])
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert error_details(error).metadata == {"key": key}


def test_invalid_argument_lists_every_field(channel: grpc.Channel) -> None:
    details = error_details(_refusal(channel, "Fail", "invalid"))
    assert details.code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.field_violations == ERRORS["invalid"].violations  # type: ignore[attr-defined]


def test_rule_violation_names_the_rule(channel: grpc.Channel) -> None:
    details = error_details(_refusal(channel, "Fail", "rule"))
    assert details.code is grpc.StatusCode.FAILED_PRECONDITION
    assert details.rule == details.reason == "MinimumMarriageAge"
    assert "民法典 第1047条" in details.message


def test_a_rule_about_who_may_act_is_permission_denied_and_names_the_rule(channel: grpc.Channel) -> None:
    details = error_details(_refusal(channel, "Fail", "forbidden"))
    assert details.code is grpc.StatusCode.PERMISSION_DENIED
    assert details.rule == "AuthorisedStatusQuery"


def test_concurrency_conflict_is_aborted(channel: grpc.Channel) -> None:
    details = error_details(_refusal(channel, "Fail", "conflict"))
    assert details.code is grpc.StatusCode.ABORTED
    assert details.metadata["actual_version"] == "4"


def test_wrong_owner_names_the_owner(channel: grpc.Channel) -> None:
    error = _refusal(channel, "Fail", "owner")
    details = error_details(error)
    assert details.code is grpc.StatusCode.PERMISSION_DENIED
    assert details.reason == "WRONG_OWNER"
    assert details.owner_region == "510000"
    assert "510000" in (error.details() or "")


def test_not_found(channel: grpc.Channel) -> None:
    details = error_details(_refusal(channel, "Fail", "missing"))
    assert details.code is grpc.StatusCode.NOT_FOUND
    assert details.resource == ("case", "relief-9")
    assert details.as_dict()["resource"] == {"type": "case", "name": "relief-9"}


def test_unexpected_errors_are_internal_and_logged_not_leaked(
    channel: grpc.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    error = _refusal(channel, "Fail", "unexpected")
    assert error.code() is grpc.StatusCode.INTERNAL
    assert "hunter2" not in (error.details() or "")
    assert "internal error" in (error.details() or "")
    assert "hunter2" in caplog.text


def test_a_handler_that_aborts_keeps_its_status(channel: grpc.Channel) -> None:
    error = _refusal(channel, "Fail", "abort")
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error.details() == "slow down"


def test_streams_carry_the_actor_and_map_errors(channel: grpc.Channel) -> None:
    call = channel.unary_stream(
        f"/{SERVICE}/Stream",
        request_serializer=StringValue.SerializeToString,
        response_deserializer=StringValue.FromString,
    )
    replies = call(StringValue(), metadata=actor_metadata(CLERK), timeout=10)
    assert [r.value for r in replies] == ["c-0042:0", "c-0042:1", "c-0042:2"]

    received = []
    with pytest.raises(grpc.RpcError) as caught:
        for reply in call(StringValue(value="rule"), metadata=actor_metadata(CLERK), timeout=10):
            received.append(reply.value)
    assert received == ["c-0042:0"]
    assert error_details(caught.value).rule == "MinimumMarriageAge"


def test_health_answers_serving_without_identity(channel: grpc.Channel) -> None:
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_a_call_is_one_trace(channel: grpc.Channel, spans: InMemorySpanExporter) -> None:
    with tracer("window").start_as_current_span("window.register") as window:
        _, traceparent = _call(channel, "WhoAmI", metadata=actor_metadata(CLERK)).split("#")
    trace_id = window.get_span_context().trace_id

    # Server and handler spans end before the reply is sent, the client span when it arrives.
    by_name: dict[tuple[str, SpanKind], ReadableSpan] = {
        (s.name, s.kind): s for s in spans.get_finished_spans() if s.context.trace_id == trace_id
    }
    client = by_name[(f"{SERVICE}/WhoAmI", SpanKind.CLIENT)]
    server = by_name[(f"{SERVICE}/WhoAmI", SpanKind.SERVER)]
    decide = by_name[("decide", SpanKind.INTERNAL)]
    assert client.parent is not None and client.parent.span_id == window.get_span_context().span_id
    assert server.parent is not None and server.parent.span_id == client.context.span_id
    assert decide.parent is not None and decide.parent.span_id == server.context.span_id
    # What the handler would store in its event names the same trace.
    assert traceparent.split("-")[1] == f"{trace_id:032x}"
    assert server.attributes is not None
    assert server.attributes["tongban.actor.clerk_id"] == "c-0042"
    assert server.attributes["rpc.grpc.status_code"] == grpc.StatusCode.OK.value[0]


def test_a_refusal_is_recorded_on_the_server_span(channel: grpc.Channel, spans: InMemorySpanExporter) -> None:
    with tracer("window").start_as_current_span("window.register") as window:
        _refusal(channel, "Fail", "rule")
        _refusal(channel, "Fail", "unexpected")
    trace_id = window.get_span_context().trace_id
    rule, unexpected = (
        s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER and s.context.trace_id == trace_id
    )
    assert rule.attributes is not None and rule.attributes["tongban.rule"] == "MinimumMarriageAge"
    # A refused request is the caller's problem, not a server fault; a crash is.
    assert rule.status.status_code is StatusCode.UNSET
    assert unexpected.status.status_code is StatusCode.ERROR


def test_health_checks_are_not_traced(channel: grpc.Channel, spans: InMemorySpanExporter) -> None:
    health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert not [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]


def test_current_actor_outside_a_call() -> None:
    with pytest.raises(NoActor):
        current_actor()
    with acting_as(CLERK):
        assert current_actor() is CLERK
    with pytest.raises(NoActor):
        current_actor()
