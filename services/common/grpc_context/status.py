"""The TongbanError family mapped to google.rpc statuses with rich details (invariant 7), in
one place; `client.error_details` is its mirror on the calling side.

A status travels in the call's trailers (grpc-message, percent-encoded, and grpc-status-details-bin,
base64), which a client refuses past its metadata limit (8 KiB by default) with RESOURCE_EXHAUSTED.
Errors name what the caller sent (a case id, a stream, a field), so every text of a status is
bounded here (`bounded`, by UTF-8 bytes, with an ellipsis), and field violations are listed only
while they fit in DETAILS_BUDGET: whatever a caller sends, the answer arrives."""

from __future__ import annotations

from typing import Any, Final

from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from services.common.errors import (
    ConcurrencyConflict,
    InvalidArgument,
    NotAuthorised,
    NotFound,
    RuleViolation,
    TongbanError,
    WrongOwner,
)
from services.common.grpc_context.identity import Unauthenticated

ERROR_DOMAIN: Final = "tongban"
MAX_TEXT_BYTES: Final = 600  # the status message, a description (UTF-8)
MAX_NAME_BYTES: Final = 100  # a field path, a rule, a case or stream id, a key
DETAILS_BUDGET: Final = 3000  # the field violations of one answer, serialized
ELLIPSIS: Final = "…"


def bounded(text: str, limit: int = MAX_NAME_BYTES) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, whole characters, an ellipsis marking the cut."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    return encoded[: limit - len(ELLIPSIS.encode())].decode(errors="ignore") + ELLIPSIS


def _packed(*details: Any) -> list[any_pb2.Any]:
    packed = []
    for detail in details:
        message = any_pb2.Any()
        message.Pack(detail)
        packed.append(message)
    return packed


def status_for_error(error: TongbanError) -> status_pb2.Status:
    """The google.rpc Status a TongbanError answers with (invariant 7)."""
    status = _status(error)
    status.message = bounded(status.message, MAX_TEXT_BYTES)
    return status


def _status(error: TongbanError) -> status_pb2.Status:
    if isinstance(error, InvalidArgument):
        return _invalid_argument(error)
    if isinstance(error, RuleViolation):
        failure = error_details_pb2.PreconditionFailure(
            violations=[
                error_details_pb2.PreconditionFailure.Violation(
                    type="RULE", subject=bounded(error.rule), description=bounded(error.message, MAX_TEXT_BYTES)
                )
            ]
        )
        info = error_details_pb2.ErrorInfo(reason=bounded(error.rule), domain=ERROR_DOMAIN)
        code = code_pb2.PERMISSION_DENIED if isinstance(error, NotAuthorised) else code_pb2.FAILED_PRECONDITION
        return status_pb2.Status(code=code, message=str(error), details=_packed(failure, info))
    if isinstance(error, ConcurrencyConflict):
        info = error_details_pb2.ErrorInfo(
            reason="CONCURRENCY_CONFLICT",
            domain=ERROR_DOMAIN,
            metadata={
                "stream_id": bounded(error.stream_id),
                "expected_version": str(error.expected),
                "actual_version": str(error.actual),
            },
        )
        return status_pb2.Status(code=code_pb2.ABORTED, message=str(error), details=_packed(info))
    if isinstance(error, WrongOwner):
        info = error_details_pb2.ErrorInfo(
            reason="WRONG_OWNER",
            domain=ERROR_DOMAIN,
            metadata={"owner_region": bounded(error.owner_region), "case_id": bounded(error.case_id)},
        )
        return status_pb2.Status(code=code_pb2.PERMISSION_DENIED, message=str(error), details=_packed(info))
    if isinstance(error, NotFound):
        resource = error_details_pb2.ResourceInfo(resource_type=bounded(error.what), resource_name=bounded(error.key))
        return status_pb2.Status(code=code_pb2.NOT_FOUND, message=str(error), details=_packed(resource))
    if isinstance(error, Unauthenticated):
        info = error_details_pb2.ErrorInfo(
            reason="UNAUTHENTICATED", domain=ERROR_DOMAIN, metadata={"key": bounded(error.key)})
        return status_pb2.Status(code=code_pb2.UNAUTHENTICATED, message=str(error), details=_packed(info))
    raise TypeError(f"no gRPC mapping for {type(error).__name__}")


def _invalid_argument(error: InvalidArgument) -> status_pb2.Status:
    bad_request = error_details_pb2.BadRequest()
    for shown, v in enumerate(error.violations):
        violation = error_details_pb2.BadRequest.FieldViolation(
            field=bounded(v.field), description=bounded(v.description, MAX_TEXT_BYTES))
        if shown and bad_request.ByteSize() + violation.ByteSize() > DETAILS_BUDGET:
            # Say how many were left out rather than drop them silently.
            left_out = len(error.violations) - shown
            bad_request.field_violations.add(field=violation.field, description=f"and {left_out} more")
            break
        bad_request.field_violations.append(violation)
    message = "; ".join(f"{v.field}: {v.description}" for v in bad_request.field_violations)
    return status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message, details=_packed(bad_request))


def internal_status(trace_id: str) -> status_pb2.Status:
    """What an unexpected error answers: INTERNAL, saying nothing but where to look."""
    # The trace id lets an operator find the logged traceback without telling the caller anything.
    suffix = f" (trace {trace_id})" if trace_id else ""
    return status_pb2.Status(code=code_pb2.INTERNAL, message=f"internal error{suffix}")
