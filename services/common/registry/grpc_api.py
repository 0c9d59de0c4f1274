"""The registry's gRPC front door, served by every region's services: RegistryService.QueryPerson.

Only translates: the actor comes from the call (grpc_context), the work is `query_person`, and
errors map to statuses in grpc_context's interceptor (a bad citizen id → INVALID_ARGUMENT naming
"citizen_id")."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from services.common.grpc_context import current_actor
from services.common.registry.adapters import kind_to_proto, outcome_to_proto, timestamp
from services.common.registry.projection import RegistryEntry, query_person
from services.common.store import EventStore
from tongban.registry.v1 import registry_service_pb2, registry_service_pb2_grpc


class RegistryServicer(registry_service_pb2_grpc.RegistryServiceServicer):
    def __init__(self, store: EventStore) -> None:
        self.store = store

    def QueryPerson(
        self, request: registry_service_pb2.QueryPersonRequest, context: grpc.ServicerContext
    ) -> registry_service_pb2.QueryPersonResponse:
        entries = query_person(self.store, request.citizen_id, actor=current_actor(), reason=request.reason)
        return registry_service_pb2.QueryPersonResponse(entries=[entry_to_proto(e) for e in entries])


def entry_to_proto(entry: RegistryEntry) -> registry_service_pb2.RegistryEntry:
    return registry_service_pb2.RegistryEntry(
        citizen_id=entry.citizen_id, kind=kind_to_proto(entry.kind), claim_id=entry.claim_id, case_id=entry.case_id,
        region=entry.region, service=entry.service, status=outcome_to_proto(entry.status),
        holder_case_id=entry.holder_case_id, holder_region=entry.holder_region, holder_service=entry.holder_service,
        decided_at=timestamp(entry.decided_at), holding=entry.holding,
    )


def registry_servicer(store: EventStore) -> Callable[[grpc.Server], None]:
    """An adder for `create_server(servicers=[...])`: serve QueryPerson from `store`."""
    servicer = RegistryServicer(store)
    return lambda server: registry_service_pb2_grpc.add_RegistryServiceServicer_to_server(servicer, server)
