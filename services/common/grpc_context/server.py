"""The server side of the seam every service's gRPC API goes through.

One interceptor gives every call four things, so servicers only translate:
- a SERVER span named after the method, child of the caller's W3C trace context, around the
  handler and everything it does (architecture invariant 8);
- the calling `Actor`, resolved from call metadata by an `Authenticator` and readable by the
  handler through `current_actor()` (events record it, invariant 2);
- the request checked before the handler sees it: bytes that do not decode, text outside its
  field's rules (`tongban.common.v1.rules`) answer INVALID_ARGUMENT naming the field, and strings
  reach the handler normalised (`hygiene.py`, invariant 7);
- the mapping of the TongbanError family to gRPC statuses with google.rpc rich details
  (invariant 7, `status.py`); anything unexpected becomes INTERNAL without leaking internals.

`create_server` builds a server with the interceptor and the standard health service.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent import futures
from contextlib import contextmanager
from typing import Any, Final, NoReturn

import grpc
from google.rpc import status_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.common.errors import InvalidArgument, RuleViolation, TongbanError
from services.common.events import Actor
from services.common.grpc_context.hygiene import admitted, admitted_stream, guarded
from services.common.grpc_context.identity import Authenticator, actor_bound
from services.common.grpc_context.status import internal_status, status_for_error
from services.common.reflection import ServiceRecorder, add_reflection
from services.common.telemetry import (
    context_from_grpc_metadata,
    grpc_rpc_attributes,
    grpc_span_name,
    tracer,
)

log = logging.getLogger(__name__)

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
        self.actor = self.authenticator.authenticate(self.metadata, self.method)
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
        with actor_bound(self.actor), trace.use_span(
            self.span, end_on_exit=False, record_exception=False, set_status_on_exception=False
        ):
            yield

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
        return internal_status(trace_id)

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
        authenticator: Authenticator,
        *,
        exempt: Iterable[str] = DEFAULT_EXEMPT,
        untraced: Iterable[str] = DEFAULT_UNTRACED,
    ) -> None:
        self._authenticator = authenticator
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
            return _rebuilt(handler, _refusing, _refusing)
        metadata = _text_metadata(handler_call_details.invocation_metadata)
        authenticator = None if exempt else self._authenticator

        def new_call() -> _ServerCall:
            return _ServerCall(method, metadata, authenticator=authenticator, traced=traced)

        return _rebuilt(
            handler,
            lambda behavior, admit: _unary(behavior, new_call, admit),
            lambda behavior, admit: _streaming(behavior, new_call, admit),
        )


Admit = Callable[[Any], Any]
Wrap = Callable[[Behavior, Admit], Behavior]


def _rebuilt(handler: grpc.RpcMethodHandler, wrap_unary: Wrap, wrap_streaming: Wrap) -> grpc.RpcMethodHandler:
    """`handler` with its request deserializer guarded and its behaviour wrapped, given how its
    requests are admitted (one request, or a client stream of them; hygiene.py)."""
    options = {
        "request_deserializer": guarded(handler.request_deserializer),
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(wrap_unary(handler.unary_unary, admitted), **options)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(wrap_streaming(handler.unary_stream, admitted), **options)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(wrap_unary(handler.stream_unary, admitted_stream), **options)
    if handler.stream_stream is not None:
        return grpc.stream_stream_rpc_method_handler(wrap_streaming(handler.stream_stream, admitted_stream), **options)
    return handler


def _refusing(behavior: Behavior, admit: Admit) -> Behavior:
    # For methods with neither identity nor span (health probes): only the request is checked.
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            request = admit(request)
        except InvalidArgument as exc:
            context.abort_with_status(rpc_status.to_status(status_for_error(exc)))
        return behavior(request, context)

    return handle


def _unary(behavior: Behavior, new_call: Callable[[], _ServerCall], admit: Admit) -> Behavior:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        call = new_call()
        try:
            call.authenticate()
            with call.active():
                response = behavior(admit(request), context)
        except Exception as exc:
            call.fail(exc, context)
        call.succeeded()
        return response

    return handle


def _streaming(behavior: Behavior, new_call: Callable[[], _ServerCall], admit: Admit) -> Behavior:
    def handle(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        call = new_call()
        ended = False
        try:
            call.authenticate()
            with call.active():
                responses = iter(behavior(admit(request), context))
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
    authenticator: Authenticator,
    servicers: Iterable[Callable[[grpc.Server], None]] = (),
    max_workers: int = 16,
    exempt: Iterable[str] = DEFAULT_EXEMPT,
    health_servicer: health.HealthServicer | None = None,
    options: Sequence[tuple[str, Any]] = (),
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[grpc.Server, int]:
    """A grpc server (not started) with the context interceptor proving each caller with
    `authenticator` (a TokenAuthenticator in every service; there is no default that believes
    headers), each `servicers` adder applied
    (e.g. `lambda s: add_MarriageServiceServicer_to_server(servicer, s)`), and the standard
    health service beside them answering SERVING. Binds `address` ("127.0.0.1:0" picks a free
    port) and returns the server and the bound port.

    `credentials` (grpc.ssl_server_credentials, see trust/tls.py) serve TLS, or mutual TLS.
    Pass your own `health_servicer` to flip statuses later (e.g. enter_graceful_shutdown()).
    Server reflection lists every service added, itself included (services/common/reflection.py)."""
    interceptor = ServerContextInterceptor(authenticator, exempt=exempt)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        interceptors=[interceptor],
        # Without this Linux lets a second instance bind the same port and silently share calls.
        options=[("grpc.so_reuseport", 0), *options],
    )
    added = ServiceRecorder(server)  # reflection lists what the adders add
    for add in servicers:
        add(added)
    health_servicer = health_servicer or health.HealthServicer()
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, added)
    add_reflection(server, added.service_names)
    # TLS (services/common/trust/tls.py) wherever deployed; plaintext only for development and tests.
    if credentials is not None:
        port = server.add_secure_port(address, credentials)
    else:
        port = server.add_insecure_port(address)
    if port == 0:  # older grpc reported a failed bind this way instead of raising
        raise RuntimeError(f"could not bind gRPC server to {address}")
    return server, port


