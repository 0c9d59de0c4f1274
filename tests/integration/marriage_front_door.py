"""One region's marriage service over a SQLite store behind a real gRPC server on a loopback port,
for the tests that send it hostile input (test_input_hygiene.py, test_input_fuzz.py). No broker:
a registration waits for nobody (wait_seconds=0) and stays "awaiting_registry"."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from services.common.clock import FakeClock
from services.common.events import Actor
from services.common.grpc_context import ErrorDetails, create_server, error_details
from services.common.store import EventStore, sqlite_url
from services.host import Infrastructure
from services.marriage.bootstrap import bootstrap
from tests.fixtures.trust import actor_metadata, authenticator
from tests.unit.marriage.people import NINGXIA, clerk
from tongban.marriage.v1 import marriage_service_pb2 as api
from tongban.marriage.v1 import marriage_service_pb2_grpc as api_grpc

SERVICE = "tongban.marriage.v1.MarriageService"
REGISTRAR = clerk()


@dataclass
class FrontDoor:
    store: EventStore
    channel: grpc.Channel

    def call(self, method: str, request: Any, actor: Actor = REGISTRAR) -> Any:
        stub = getattr(api_grpc.MarriageServiceStub(self.channel), method)
        return stub(request, metadata=actor_metadata(actor), timeout=30)

    def refusal(self, method: str, request: Any, actor: Actor = REGISTRAR) -> ErrorDetails:
        try:
            self.call(method, request, actor)
        except grpc.RpcError as exc:
            return error_details(exc)
        raise AssertionError(f"{method} was not refused")

    def raw(self, method: str, data: bytes, actor: Actor = REGISTRAR) -> bytes:
        """Bytes sent as they are, answered as they come (identity serializers)."""
        call = self.channel.unary_unary(f"/{SERVICE}/{method}")
        return call(data, metadata=actor_metadata(actor), timeout=30)


@contextmanager
def front_door(data_dir: Path, *, db: Path | None = None) -> Iterator[FrontDoor]:
    store = EventStore.open(sqlite_url(db or data_dir / "marriage.db"), region=NINGXIA, service="marriage",
                            clock=FakeClock())
    marriage = bootstrap(Infrastructure.over(store))
    server, port = create_server("127.0.0.1:0", servicers=[marriage.servicer], authenticator=authenticator(NINGXIA))
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield FrontDoor(store, channel)
    finally:
        server.stop(grace=None)
        store.close()


DECLARED = {"consents": True, "no_spouse": True, "no_prohibited_kinship": True, "appears_in_person": True}


def registration(husband: str, wife: str, *, name_a: str = "男方", name_b: str = "女方") -> api.RegisterMarriageRequest:
    return api.RegisterMarriageRequest(
        party_a=api.PartyInput(citizen_id=husband, name=name_a, declaration=DECLARED),
        party_b=api.PartyInput(citizen_id=wife, name=name_b, declaration=DECLARED),
        wait_seconds=0,
    )
