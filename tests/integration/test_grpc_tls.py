"""TLS on the gRPC front door (architecture invariant 8: TLS on every gRPC port, mutual TLS as an
option), on loopback with a CA made by `cryptography` (services/common/trust/tls.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.clock import FakeClock
from services.common.grpc_context import create_server
from services.common.store import EventStore, sqlite_url
from services.common.trust.tls import ClientTls, DevelopmentCA, ServerTls, channel
from services.host import Infrastructure
from services.marriage.bootstrap import bootstrap
from tests.fixtures.trust import actor_metadata, authenticator
from tests.unit.marriage.people import NINGXIA, clerk
from tongban.marriage.v1 import marriage_service_pb2 as api
from tongban.marriage.v1 import marriage_service_pb2_grpc as api_grpc


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> DevelopmentCA:
    return DevelopmentCA(tmp_path_factory.mktemp("ca"))


@contextmanager
def _server(tmp_path: Path, tls: ServerTls) -> Iterator[str]:
    store = EventStore.open(sqlite_url(tmp_path / "marriage.db"), region=NINGXIA, service="marriage",
                            clock=FakeClock())
    marriage = bootstrap(Infrastructure.over(store))
    server, port = create_server("127.0.0.1:0", servicers=[marriage.servicer], authenticator=authenticator(NINGXIA),
                                 credentials=tls.credentials())
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)
        store.close()


def _healthy(address: str, tls: ClientTls | None) -> bool:
    with channel(address, tls) as ch:
        try:
            health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        except grpc.RpcError:
            return False
    return True


def test_a_tls_client_is_answered_and_a_plaintext_one_is_not_invariant_8(ca: DevelopmentCA, tmp_path: Path) -> None:
    cert, key = ca.issue("marriage-640000")
    with _server(tmp_path, ServerTls(cert, key)) as address:
        trusted = ClientTls(ca.cert_path)
        assert _healthy(address, trusted)
        with channel(address, trusted) as ch:  # the token travels inside TLS and still decides
            with pytest.raises(grpc.RpcError) as missing:
                api_grpc.MarriageServiceStub(ch).GetCase(api.GetCaseRequest(case_id="marriage-640000-none"),
                                                         metadata=actor_metadata(clerk()), timeout=5)
            assert missing.value.code() is grpc.StatusCode.NOT_FOUND
        assert not _healthy(address, None), "plaintext is not answered on a TLS port"
        stranger = DevelopmentCA(tmp_path / "other-ca")
        assert not _healthy(address, ClientTls(stranger.cert_path)), "a server signed by an unknown CA is not trusted"


def test_mutual_tls_refuses_a_client_without_a_certificate_invariant_8(ca: DevelopmentCA, tmp_path: Path) -> None:
    cert, key = ca.issue("marriage-640000-m")
    with _server(tmp_path, ServerTls(cert, key, client_ca=ca.cert_path)) as address:
        assert not _healthy(address, ClientTls(ca.cert_path)), "no client certificate, no connection"
        window_cert, window_key = ca.issue("window-yc-07", client=True)
        assert _healthy(address, ClientTls(ca.cert_path, window_cert, window_key))


def test_tls_options_must_come_in_pairs() -> None:
    with pytest.raises(ValueError, match="both --tls-cert and --tls-key"):
        ServerTls.from_options("server.pem", None)
    with pytest.raises(ValueError, match="needs --tls-cert and --tls-key"):
        ServerTls.from_options(None, None, "ca.pem")
    assert ServerTls.from_options(None, None) is None and ClientTls.from_options(None) is None
