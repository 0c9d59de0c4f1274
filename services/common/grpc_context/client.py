"""The client side of the seam: decoding a refused call's google.rpc details (as mapped by
`status.status_for_error`) into plain data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.common.errors import FieldViolation


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
    """Decode a failed call's google.rpc details (from any server using this package's mapping;
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
