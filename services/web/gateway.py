"""Calls from the console to a region's services, as the signed-in clerk.

Every call goes to the service's gRPC front door with the clerk's credential; the console has no
other way in. A failed call becomes one of three things a page can show:
- `Refused`       the service said no: the rule (with its article) or the fields at fault;
- `ServiceDown`   the service cannot be reached now: say so plainly, keep what was typed;
- `SignInAgain`   the service does not accept the credential any more (it expired)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from services.common.grpc_context import error_details
from services.common.trust.tls import ClientTls
from services.common.trust.tls import channel as open_channel
from services.web.session import Clerk

CALL_TIMEOUT_SECONDS = 30.0


class ServiceDown(Exception):
    def __init__(self, region: str, service: str, detail: str) -> None:
        self.region = region
        self.service = service
        self.detail = detail
        super().__init__(f"{service} service of region {region} is unreachable: {detail}")


class NotRunHere(ServiceDown):
    """The region's stack does not run this service at all (not a failure: nothing to call)."""


class SignInAgain(Exception):
    """The service refused the clerk's credential (expired, revoked): the clerk signs in again."""


@dataclass(frozen=True)
class Refused(Exception):
    """A refusal as a clerk reads it: what was wrong, the rule broken, the fields to fix."""

    code: str
    message: str
    rule: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)
    owner_region: str = ""

    def __str__(self) -> str:
        return self.message


# How a service's gRPC stub is made from a channel, by service name. Each service of the
# catalogue that the console covers adds its stub here.
def _marriage_stub(channel: grpc.Channel) -> Any:
    from tongban.marriage.v1 import marriage_service_pb2_grpc

    return marriage_service_pb2_grpc.MarriageServiceStub(channel)


def _disability_stub(channel: grpc.Channel) -> Any:
    from tongban.disability.v1 import disability_service_pb2_grpc

    return disability_service_pb2_grpc.DisabilityServiceStub(channel)


def _relief_stub(channel: grpc.Channel) -> Any:
    from tongban.relief.v1 import relief_service_pb2_grpc

    return relief_service_pb2_grpc.ReliefServiceStub(channel)


def _handoff_stub(channel: grpc.Channel) -> Any:
    from tongban.handoff.v1 import handoff_service_pb2_grpc

    return handoff_service_pb2_grpc.HandoffServiceStub(channel)


def _audit_stub(channel: grpc.Channel) -> Any:
    from tongban.audit.v1 import audit_service_pb2_grpc

    return audit_service_pb2_grpc.AuditServiceStub(channel)


def _payments_stub(channel: grpc.Channel) -> Any:
    from tongban.payments.v1 import payment_service_pb2_grpc

    return payment_service_pb2_grpc.PaymentServiceStub(channel)


# Every service's front door also serves the hand-off API for that service's hand-offs, and the
# audit API for its store; a paying service's (disability, relief) also the payment API.
STUBS: dict[str, Callable[[grpc.Channel], Any]] = {
    "marriage": _marriage_stub, "disability": _disability_stub, "relief": _relief_stub,
    "handoff": _handoff_stub, "audit": _audit_stub, "payments": _payments_stub,
}

Addresses = Callable[[str, str], str]  # (region, service) → "host:port"
Credentials = Callable[[Clerk], list[tuple[str, str]]]  # the clerk → call metadata


def stack_addresses(data_dir: Path) -> Addresses:
    """Endpoints from the running stack's file, read at each call: a restarted service may have
    moved, and the console should follow it rather than keep calling a dead port."""

    def address(region: str, service: str) -> str:
        from services.stack.stackfile import StackNotRunning, require_stack

        try:
            info = require_stack(data_dir)
        except StackNotRunning as problem:
            raise ServiceDown(region, service, str(problem)) from None
        try:
            return info.address(region, service)
        except (StackNotRunning, LookupError) as problem:
            raise NotRunHere(region, service, str(problem)) from None

    return address


class Gateway:
    def __init__(self, addresses: Addresses, credentials: Credentials, tls: ClientTls | None = None) -> None:
        self._addresses = addresses
        self._credentials = credentials
        self._tls = tls  # the front doors' CA when they serve TLS
        self._channels: dict[str, grpc.Channel] = {}
        self._lock = threading.Lock()

    def call(self, clerk: Clerk, service: str, method: str, request: Any, *, api: str = "",
             region: str = "") -> Any:
        """Call `method` of `service` in the clerk's region (or `region`: an auditor verifies every
        region's stores), through its `api`: the service's own by default, "handoff" or "audit"."""
        region = region or clerk.region
        address = self._addresses(region, service)
        stub = STUBS[api or service](self._channel(address))
        try:
            return getattr(stub, method)(request, metadata=self._credentials(clerk), timeout=CALL_TIMEOUT_SECONDS)
        except grpc.RpcError as error:
            raise self._translate(error, region, service) from None

    def _channel(self, address: str) -> grpc.Channel:
        with self._lock:
            channel = self._channels.get(address)
            if channel is None:
                channel = self._channels[address] = open_channel(address, self._tls)
            return channel

    def close(self) -> None:
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()

    @staticmethod
    def _translate(error: grpc.RpcError, region: str, service: str) -> Exception:
        details = error_details(error)
        if details.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return ServiceDown(region, service, details.message)
        if details.code == grpc.StatusCode.UNAUTHENTICATED:
            return SignInAgain(details.message)
        return Refused(
            code=details.code.name,
            message=details.message,
            rule=details.rule or "",
            fields={v.field: v.description for v in details.field_violations},
            owner_region=details.owner_region or "",
        )
