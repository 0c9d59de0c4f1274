"""The TongbanError family mapped to google.rpc statuses with rich details (invariant 7), in
one place; `client.error_details` is its mirror on the calling side."""

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


def internal_status(trace_id: str) -> status_pb2.Status:
    """What an unexpected error answers: INTERNAL, saying nothing but where to look."""
    # The trace id lets an operator find the logged traceback without telling the caller anything.
    suffix = f" (trace {trace_id})" if trace_id else ""
    return status_pb2.Status(code=code_pb2.INTERNAL, message=f"internal error{suffix}")
