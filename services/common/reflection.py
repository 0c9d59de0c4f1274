"""gRPC server reflection, so that `grpcurl -plaintext HOST:PORT list` (and describe, and calls
without local .proto files) answers on every Tongban server.

Reflection lists exactly the services added to the server. Servicers come to `create_server` as
adders (`lambda server: add_XServicer_to_server(servicer, server)`), so the names are taken as
they are added: the adders are given a `ServiceRecorder`, a `grpc.Server` that passes every call
on to the real server and notes the name of each service handler it is given (the public
`grpc.ServiceRpcHandler.service_name()`, which the generated `add_*_to_server` functions and
`grpc.method_handlers_generic_handler` both provide). No caller has to list its services a
second time, and none can be forgotten.

Reflection describes a service from the descriptors its generated module registered in the
default pool; a service without one (a hand-made handler in a test) cannot be described, so it
is not listed either."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import grpc
from google.protobuf import descriptor_pool
from grpc_reflection.v1alpha import reflection

log = logging.getLogger(__name__)

SERVICE_NAME = reflection.SERVICE_NAME  # grpc.reflection.v1alpha.ServerReflection


class ServiceRecorder(grpc.Server):
    """Stands in for `server` while servicers are added: everything goes to `server`, and the
    name of each service added is kept in `service_names` (in order, once each)."""

    def __init__(self, server: grpc.Server) -> None:
        self._server = server
        self.service_names: list[str] = []

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        handlers = tuple(generic_rpc_handlers)
        for handler in handlers:
            if isinstance(handler, grpc.ServiceRpcHandler) and handler.service_name() not in self.service_names:
                self.service_names.append(handler.service_name())
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service_name: str, method_handlers: dict[str, Any]) -> None:
        self._server.add_registered_method_handlers(service_name, method_handlers)

    def add_insecure_port(self, address: str) -> int:
        return self._server.add_insecure_port(address)

    def add_secure_port(self, address: str, server_credentials: grpc.ServerCredentials) -> int:
        return self._server.add_secure_port(address, server_credentials)

    def start(self) -> None:
        self._server.start()

    def stop(self, grace: float | None) -> Any:
        return self._server.stop(grace)

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return self._server.wait_for_termination(timeout)


def describable(service_names: Iterable[str], pool: descriptor_pool.DescriptorPool | None = None) -> list[str]:
    """The names of `service_names` whose descriptors `pool` (default: the default pool) holds."""
    pool = pool or descriptor_pool.Default()
    found: list[str] = []
    for name in service_names:
        try:
            pool.FindServiceByName(name)
        except KeyError:
            log.debug("not listed by reflection: no descriptor for %s", name)
            continue
        found.append(name)
    return found


def add_reflection(server: grpc.Server, service_names: Sequence[str]) -> list[str]:
    """Serve reflection on `server` for `service_names` and itself; returns what it lists."""
    listed = [*describable(service_names), SERVICE_NAME]
    reflection.enable_server_reflection(listed, server)
    return listed


__all__ = ["SERVICE_NAME", "ServiceRecorder", "add_reflection", "describable"]
