"""The server-side seam every service's gRPC API goes through, and its client-side mirror.

One interceptor gives every call three things, so servicers only translate:
- a SERVER span named after the method, child of the caller's W3C trace context, around the
  handler and everything it does (architecture invariant 8);
- the calling `Actor`, resolved from call metadata by an `Authenticator` and readable by the
  handler through `current_actor()` (events record it, invariant 2);
- the mapping of the TongbanError family to gRPC statuses with google.rpc rich details
  (invariant 7), in one place; anything unexpected becomes INTERNAL without leaking internals.

Clients attach their actor with `actor_metadata(actor)` and decode refusals with
`error_details(rpc_error)`.
"""

from __future__ import annotations

import contextvars
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final, NoReturn, Protocol

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

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
from services.common.events import ACTOR_KINDS, Actor
from services.common.telemetry import (
    context_from_grpc_metadata,
    grpc_rpc_attributes,
    grpc_span_name,
    tracer,
)

log = logging.getLogger(__name__)

CLERK_ID_KEY: Final = "x-tongban-clerk-id"
OFFICE_KEY: Final = "x-tongban-office"
REGION_KEY: Final = "x-tongban-region"
ROLE_KEY: Final = "x-tongban-role"
# Optional: absent means a clerk, by far the most common caller (windows, reviewers, approvers).
ACTOR_KIND_KEY: Final = "x-tongban-actor-kind"

ERROR_DOMAIN: Final = "tongban"
HEALTH_PREFIX: Final = "/grpc.health.v1.Health/"
# Infrastructure probes carry no clerk; reflection only describes the API.
DEFAULT_EXEMPT: Final = (
    HEALTH_PREFIX,
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
)
# Load balancers probe health every few seconds; a span per probe would bury the case traces.
DEFAULT_UNTRACED: Final = (HEALTH_PREFIX,)

# gRPC codes OTel's RPC conventions count as server faults; refusals such as INVALID_ARGUMENT
# are the caller's and leave the server span's status unset.
_SERVER_FAULTS: Final = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)


# --- the calling actor -----------------------------------------------------------------------


class Unauthenticated(TongbanError):
    """The call carries no usable identity; `key` names the metadata key at fault."""

    def __init__(self, key: str, problem: str = "missing") -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{problem} metadata key {key!r}")


class NoActor(RuntimeError):
    """current_actor() was asked outside a call that has one."""


class Authenticator(Protocol):
    def authenticate(self, metadata: Mapping[str, str]) -> Actor:
        """The actor the call metadata names; raises Unauthenticated naming the key at fault."""
        ...


_REGION_CODE = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class TrustedHeaders:
    """Believes the identity headers as sent. The seam where verifying them (mTLS, signed
    tokens) will go; until then a deployment must only expose the port to trusted callers."""

    def authenticate(self, metadata: Mapping[str, str]) -> Actor:
        kind = metadata.get(ACTOR_KIND_KEY, "clerk").strip() or "clerk"
        if kind not in ACTOR_KINDS:
            raise Unauthenticated(ACTOR_KIND_KEY, f"invalid (not one of {', '.join(ACTOR_KINDS)})")
        clerk_id = _required(metadata, CLERK_ID_KEY)
        # A system actor (scheduler, relay) belongs to a region, not to an office.
        office = _required(metadata, OFFICE_KEY) if kind == "clerk" else metadata.get(OFFICE_KEY, "").strip()
        region = _required(metadata, REGION_KEY)
        if not _REGION_CODE.match(region):
            raise Unauthenticated(REGION_KEY, "invalid (not a six-digit GB/T 2260 code)")
        role = _required(metadata, ROLE_KEY)
        return Actor(kind=kind, clerk_id=clerk_id, office_code=office, region=region, role=role)


def _required(metadata: Mapping[str, str], key: str) -> str:
    value = metadata.get(key, "").strip()
    if not value:
        raise Unauthenticated(key)
    return value


_current_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("tongban_current_actor", default=None)


def current_actor() -> Actor:
    """The actor of the gRPC call being handled (or set by `acting_as`)."""
    actor = _current_actor.get()
    if actor is None:
        raise NoActor(
            "no actor for this call: current_actor() works inside a handler of a method that is "
            "not exempt from identity, or inside acting_as(...)"
        )
    return actor


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    """Make `actor` the current actor for the block: for consumers, schedulers and tests that
    call handlers without a gRPC call."""
    token = _current_actor.set(actor)
    try:
        yield actor
    finally:
        _current_actor.reset(token)


def actor_metadata(actor: Actor) -> list[tuple[str, str]]:
    """Call metadata naming `actor`, for a client (the CLI, a window application, tests)."""
    pairs = [
        (ACTOR_KIND_KEY, actor.kind),
        (CLERK_ID_KEY, actor.clerk_id),
        (OFFICE_KEY, actor.office_code),
        (REGION_KEY, actor.region),
        (ROLE_KEY, actor.role),
    ]
    for key, value in pairs:
        # gRPC refuses non-ASCII text metadata with an obscure error at call time; say which.
        if not value.isascii():
            raise ValueError(f"{key} must be ASCII for gRPC metadata, not {value!r}")
    return [(key, value) for key, value in pairs if value]


# --- errors → statuses -----------------------------------------------------------------------


def _packed(*details: Any) -> list[any_pb2.Any]:
    packed = []
    for detail in details:
        message = any_pb2.Any()
        message.Pack(detail)
        packed.append(message)
    return packed


def status_for_error(error: TongbanError) -> status_pb2.Status:
    """The google.rpc Status a TongbanError answers with (invariant 7)."""
    if isinstance(error, InvalidArgument):
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in error.violations
            ]
        )
        return status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=str(error), details=_packed(bad_request))
    if isinstance(error, RuleViolation):
        failure = error_details_pb2.PreconditionFailure(
            violations=[
                error_details_pb2.PreconditionFailure.Violation(
                    type="RULE", subject=error.rule, description=error.message
                )
            ]
        )
        info = error_details_pb2.ErrorInfo(reason=error.rule, domain=ERROR_DOMAIN)
        code = code_pb2.PERMISSION_DENIED if isinstance(error, NotAuthorised) else code_pb2.FAILED_PRECONDITION
        return status_pb2.Status(code=code, message=str(error), details=_packed(failure, info))
    if isinstance(error, ConcurrencyConflict):
        info = error_details_pb2.ErrorInfo(
            reason="CONCURRENCY_CONFLICT",
            domain=ERROR_DOMAIN,
            metadata={
                "stream_id": error.stream_id,
                "expected_version": str(error.expected),
                "actual_version": str(error.actual),
            },
        )
        return status_pb2.Status(code=code_pb2.ABORTED, message=str(error), details=_packed(info))
    if isinstance(error, WrongOwner):
        info = error_details_pb2.ErrorInfo(
            reason="WRONG_OWNER",
            domain=ERROR_DOMAIN,
            metadata={"owner_region": error.owner_region, "case_id": error.case_id},
        )
        return status_pb2.Status(code=code_pb2.PERMISSION_DENIED, message=str(error), details=_packed(info))
    if isinstance(error, NotFound):
        resource = error_details_pb2.ResourceInfo(resource_type=error.what, resource_name=error.key)
        return status_pb2.Status(code=code_pb2.NOT_FOUND, message=str(error), details=_packed(resource))
    if isinstance(error, Unauthenticated):
        info = error_details_pb2.ErrorInfo(reason="UNAUTHENTICATED", domain=ERROR_DOMAIN, metadata={"key": error.key})
        return status_pb2.Status(code=code_pb2.UNAUTHENTICATED, message=str(error), details=_packed(info))
    raise TypeError(f"no gRPC mapping for {type(error).__name__}")


def _internal_status(trace_id: str) -> status_pb2.Status:
    # The trace id lets an operator find the logged traceback without telling the caller anything.
    suffix = f" (trace {trace_id})" if trace_id else ""
    return status_pb2.Status(code=code_pb2.INTERNAL, message=f"internal error{suffix}")


@dataclass(frozen=True)
class ErrorDetails:
    """What a failed call said, decoded from its rich status."""

    code: grpc.StatusCode
    message: str
    field_violations: tuple[FieldViolation, ...] = ()
    rule: str | None = None
    reason: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    owner_region: str | None = None
    resource: tuple[str, str] | None = None  # (type, name) of what was not found

    def as_dict(self) -> dict[str, Any]:
        """Plain data, for a CLI to print as JSON."""
        result: dict[str, Any] = {"code": self.code.name, "message": self.message}
        if self.field_violations:
            result["field_violations"] = [
                {"field": v.field, "description": v.description} for v in self.field_violations
            ]
        for key in ("rule", "reason", "owner_region"):
            if getattr(self, key) is not None:
                result[key] = getattr(self, key)
        if self.metadata:
            result["metadata"] = dict(self.metadata)
        if self.resource is not None:
            result["resource"] = {"type": self.resource[0], "name": self.resource[1]}
        return result


def error_details(rpc_error: grpc.RpcError) -> ErrorDetails:
    """Decode a failed call's google.rpc details (from any server using this module's mapping;
    other errors give just code and message)."""
    code = rpc_error.code() if isinstance(rpc_error, grpc.Call) else grpc.StatusCode.UNKNOWN
    message = (rpc_error.details() or "") if isinstance(rpc_error, grpc.Call) else str(rpc_error)
    try:
        status = rpc_status.from_call(rpc_error) if isinstance(rpc_error, grpc.Call) else None
    except ValueError:  # details that contradict the status line are not to be trusted
        status = None
    if status is None:
        return ErrorDetails(code=code, message=message)
    violations: list[FieldViolation] = []
    rule = reason = owner = None
    metadata: dict[str, str] = {}
    resource = None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            violations.extend(FieldViolation(v.field, v.description) for v in bad_request.field_violations)
        elif detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
            failure = error_details_pb2.PreconditionFailure()
            detail.Unpack(failure)
            rule = next((v.subject for v in failure.violations if v.type == "RULE"), rule)
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
            metadata.update(info.metadata)
            owner = info.metadata.get("owner_region", owner)
        elif detail.Is(error_details_pb2.ResourceInfo.DESCRIPTOR):
            info_r = error_details_pb2.ResourceInfo()
            detail.Unpack(info_r)
            resource = (info_r.resource_type, info_r.resource_name)
    return ErrorDetails(
        code=code,
        message=status.message,
        field_violations=tuple(violations),
        rule=rule,
        reason=reason,
        metadata=metadata,
        owner_region=owner,
        resource=resource,
    )


# --- the server interceptor ------------------------------------------------------------------


def _text_metadata(metadata: Iterable[tuple[str, str | bytes]] | None) -> dict[str, str]:
    # Binary ("-bin") values are not identity or trace headers; the first of a repeated key wins.
    result: dict[str, str] = {}
    for key, value in metadata or ():
        if isinstance(value, str):
            result.setdefault(key.lower(), value)
    return result


def _aborted_by_handler(exc: BaseException, context: grpc.ServicerContext) -> bool:
    # A handler that called context.abort() already chose its status; grpc signals that with a
    # bare Exception() after recording the code, and expects to see it propagate unchanged.
    return type(exc) is Exception and not exc.args and context.code() is not None


class _ServerCall:
    """One call's span, actor and error handling, entered around each step of the handler (the
    whole call for unary responses, each item for streams, which grpc may pull in between)."""

    def __init__(
        self,
        method: str,
        metadata: dict[str, str],
        *,
        authenticator: Authenticator | None,
        traced: bool,
    ) -> None:
        self.method = method
        self.metadata = metadata
        self.authenticator = authenticator
        parent = context_from_grpc_metadata(metadata.items())
        if traced:
            self.span: trace.Span = tracer().start_span(
                grpc_span_name(method),
                context=parent,
                kind=SpanKind.SERVER,
                attributes=grpc_rpc_attributes(method),
            )
        else:
            # Record nothing, but let the caller's context flow on to downstream calls.
            self.span = trace.NonRecordingSpan(trace.get_current_span(parent).get_span_context())
        self.actor: Actor | None = None

    def authenticate(self) -> None:
        if self.authenticator is None:
            return
        self.actor = self.authenticator.authenticate(self.metadata)
        self.span.set_attributes(
            {
                "tongban.actor.kind": self.actor.kind,
                "tongban.actor.clerk_id": self.actor.clerk_id,
                "tongban.actor.office": self.actor.office_code,
                "tongban.actor.region": self.actor.region,
                "tongban.actor.role": self.actor.role,
            }
        )

    @contextmanager
    def active(self) -> Iterator[None]:
        token = _current_actor.set(self.actor)
        try:
            with trace.use_span(self.span, end_on_exit=False, record_exception=False, set_status_on_exception=False):
                yield
        finally:
            _current_actor.reset(token)

    def succeeded(self) -> None:
        self.span.set_attribute("rpc.grpc.status_code", grpc.StatusCode.OK.value[0])
        self.span.end()

    def fail(self, exc: Exception, context: grpc.ServicerContext) -> NoReturn:
        """Answer the call for `exc` and end the span; always raises (grpc's abort)."""
        if _aborted_by_handler(exc, context):
            self._record(context.code(), exc)
            self.span.end()
            raise exc
        status = self._status(exc)
        answer = rpc_status.to_status(status)
        self._record(answer.code, exc)
        self.span.end()
        context.abort_with_status(answer)
        raise AssertionError("unreachable: abort_with_status raises")  # for type checkers

    def _status(self, exc: Exception) -> status_pb2.Status:
        if isinstance(exc, TongbanError):
            try:
                return status_for_error(exc)
            except TypeError:  # a TongbanError nobody mapped yet is a bug here, not the caller's
                pass
        return self._unexpected(exc)

    def _unexpected(self, exc: Exception) -> status_pb2.Status:
        span_context = self.span.get_span_context()
        trace_id = trace.format_trace_id(span_context.trace_id) if span_context.is_valid else ""
        log.error("unexpected error in %s (trace %s)", self.method, trace_id or "-", exc_info=exc)
        self.span.record_exception(exc)
        return _internal_status(trace_id)

    def _record(self, code: grpc.StatusCode, exc: Exception) -> None:
        self.span.set_attribute("rpc.grpc.status_code", code.value[0])
        self.span.set_attribute("error.type", type(exc).__name__ if type(exc) is not Exception else code.name)
        if isinstance(exc, RuleViolation):
            self.span.set_attribute("tongban.rule", exc.rule)
        if code in _SERVER_FAULTS:
            self.span.set_status(Status(StatusCode.ERROR, code.name))


Behavior = Callable[[Any, grpc.ServicerContext], Any]


class ServerContextInterceptor(grpc.ServerInterceptor):
    """Trace, identify and map errors for every call of a (sync) grpc server."""

    def __init__(
        self,
        authenticator: Authenticator | None = None,
        *,
        exempt: Iterable[str] = DEFAULT_EXEMPT,
        untraced: Iterable[str] = DEFAULT_UNTRACED,
    ) -> None:
        self._authenticator: Authenticator = authenticator or TrustedHeaders()
        self._exempt = tuple(exempt)  # method-name prefixes that need no actor
        self._untraced = tuple(untraced)  # method-name prefixes that get no span

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None  # unknown method: grpc answers UNIMPLEMENTED
        method: str = handler_call_details.method
        exempt = method.startswith(self._exempt)
        traced = not method.startswith(self._untraced)
        if exempt and not traced:
            return handler
        metadata = _text_metadata(handler_call_details.invocation_metadata)
        authenticator = None if exempt else self._authenticator

        def new_call() -> _ServerCall:
            return _ServerCall(method, metadata, authenticator=authenticator, traced=traced)

        options = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(_unary(handler.unary_unary, new_call), **options)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(_streaming(handler.unary_stream, new_call), **options)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(_unary(handler.stream_unary, new_call), **options)
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(_streaming(handler.stream_stream, new_call), **options)
        return handler


def _unary(behavior: Behavior, new_call: Callable[[], _ServerCall]) -> Behavior:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        call = new_call()
        try:
            call.authenticate()
            with call.active():
                response = behavior(request, context)
        except Exception as exc:
            call.fail(exc, context)
        call.succeeded()
        return response

    return handle


def _streaming(behavior: Behavior, new_call: Callable[[], _ServerCall]) -> Behavior:
    def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        call = new_call()
        ended = False
        try:
            call.authenticate()
            with call.active():
                responses = iter(behavior(request, context))
            while True:
                # Re-entered per item: grpc pulls items from its own loop, so neither the span
                # nor the actor may stay attached to the thread between them.
                with call.active():
                    try:
                        item = next(responses)
                    except StopIteration:
                        break
                yield item
            ended = True
            call.succeeded()
        except Exception as exc:
            ended = True
            call.fail(exc, context)
        finally:
            if not ended:  # the client went away and grpc dropped the stream
                call.span.end()

    return handle


# --- the server ------------------------------------------------------------------------------


def create_server(
    address: str,
    *,
    servicers: Iterable[Callable[[grpc.Server], None]] = (),
    authenticator: Authenticator | None = None,
    max_workers: int = 16,
    exempt: Iterable[str] = DEFAULT_EXEMPT,
    health_servicer: health.HealthServicer | None = None,
    options: Sequence[tuple[str, Any]] = (),
) -> tuple[grpc.Server, int]:
    """A grpc server (not started) with the context interceptor, each `servicers` adder applied
    (e.g. `lambda s: add_MarriageServiceServicer_to_server(servicer, s)`), and the standard
    health service beside them answering SERVING. Binds `address` ("127.0.0.1:0" picks a free
    port) and returns the server and the bound port.

    Pass your own `health_servicer` to flip statuses later (e.g. enter_graceful_shutdown())."""
    interceptor = ServerContextInterceptor(authenticator, exempt=exempt)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        interceptors=[interceptor],
        # Without this Linux lets a second instance bind the same port and silently share calls.
        options=[("grpc.so_reuseport", 0), *options],
    )
    for add in servicers:
        add(server)
    health_servicer = health_servicer or health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port(address)
    if port == 0:  # older grpc reported a failed bind this way instead of raising
        raise RuntimeError(f"could not bind gRPC server to {address}")
    return server, port


__all__ = [
    "ACTOR_KIND_KEY",
    "CLERK_ID_KEY",
    "DEFAULT_EXEMPT",
    "OFFICE_KEY",
    "REGION_KEY",
    "ROLE_KEY",
    "Authenticator",
    "ErrorDetails",
    "NoActor",
    "ServerContextInterceptor",
    "TrustedHeaders",
    "Unauthenticated",
    "acting_as",
    "actor_metadata",
    "create_server",
    "current_actor",
    "error_details",
    "status_for_error",
]
