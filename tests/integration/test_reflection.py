"""Server reflection on a real server (what `grpcurl -plaintext HOST:PORT list` asks): every
service the server was given is listed and described, without any caller identity."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.wrappers_pb2 import StringValue
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from services.common.clock import FakeClock
from services.common.events import Actor
from services.common.grpc_context import create_server
from services.common.handoff import handoff_servicer_adder
from services.common.registry import registry_servicer
from services.common.store import EventStore, sqlite_url
from services.host import Infrastructure
from services.marriage.bootstrap import bootstrap
from tests.fixtures.trust import actor_metadata, authenticator
from tongban.marriage.v1 import marriage_service_pb2

NINGXIA = "640000"
MARRIAGE = "tongban.marriage.v1.MarriageService"
HEALTH = "grpc.health.v1.Health"
REFLECTION = "grpc.reflection.v1alpha.ServerReflection"
CLERK = Actor(kind="clerk", clerk_id="c-07", office_code="640104-MRO-01", region=NINGXIA, role="clerk")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EventStore]:
    store = EventStore.open(sqlite_url(tmp_path / "marriage.db"), region=NINGXIA, service="marriage",
                            clock=FakeClock())
    yield store
    store.close()


def test_reflection_lists_every_service_added_and_describes_their_methods(store: EventStore) -> None:
    marriage = bootstrap(Infrastructure.over(store))
    servicers = [marriage.servicer, handoff_servicer_adder(store), registry_servicer(store)]
    server, port = create_server("127.0.0.1:0", servicers=servicers,
                                 authenticator=authenticator(NINGXIA))
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            database = ProtoReflectionDescriptorDatabase(channel)  # sends no actor metadata
            assert sorted(database.get_services()) == sorted([
                MARRIAGE, "tongban.handoff.v1.HandoffService", "tongban.registry.v1.RegistryService", HEALTH,
                REFLECTION])

            pool = DescriptorPool(database)  # resolves each file over reflection, imports included
            marriage = pool.FindServiceByName(MARRIAGE)
            expected = marriage_service_pb2.DESCRIPTOR.services_by_name["MarriageService"]
            assert [m.name for m in marriage.methods] == [m.name for m in expected.methods]
            get_case = marriage.methods_by_name["GetCase"]
            assert get_case.input_type.full_name == "tongban.marriage.v1.GetCaseRequest"
            assert [f.name for f in get_case.input_type.fields] == ["case_id", "reason"]
            case = get_case.output_type.fields_by_name["case"].message_type
            assert case.full_name == "tongban.marriage.v1.Case"
            # A type from another file, reached through the imports reflection sent along.
            party = pool.FindMessageTypeByName("tongban.marriage.v1.PartyRecord")
            assert party.fields_by_name["birth_date"].message_type.full_name == "tongban.common.v1.Date"
    finally:
        server.stop(grace=None)


def test_a_service_without_descriptors_is_served_but_not_listed() -> None:
    # A hand-made handler (as tests use) has no .proto: reflection could not describe it.
    echo = grpc.method_handlers_generic_handler("test.Echo", {"Say": grpc.unary_unary_rpc_method_handler(
        lambda request, context: request, request_deserializer=StringValue.FromString,
        response_serializer=StringValue.SerializeToString)})
    server, port = create_server("127.0.0.1:0", servicers=[lambda s: s.add_generic_rpc_handlers((echo,))],
                                 authenticator=authenticator(NINGXIA))
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            assert sorted(ProtoReflectionDescriptorDatabase(channel).get_services()) == [HEALTH, REFLECTION]
            say = channel.unary_unary("/test.Echo/Say", request_serializer=StringValue.SerializeToString,
                                      response_deserializer=StringValue.FromString)
            assert say(StringValue(value="你好"), metadata=actor_metadata(CLERK)).value == "你好"
    finally:
        server.stop(grace=None)
