"""Development trust for a stack on one machine (`tongban up`): each region's identity provider
and the national one (their keys under the data directory, made on the first run and kept after;
`tongban login` signs with them, the services trust their public keys) and, with `--tls`, a
development CA and one loopback server certificate for every front door. Kept here so the
supervisor (services/stack/up.py) calls one function."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.common.trust.national import national_idp, national_keys_dir
from services.common.trust.tls import loopback_tls
from services.common.trust.tokens import IdentityProvider, idp_keys_dir


@dataclass(frozen=True)
class LoopbackTls:
    ca: Path
    cert: Path
    key: Path

    def serve_args(self) -> list[str]:
        """What `tongban serve` is given to serve TLS."""
        return ["--tls-cert", str(self.cert), "--tls-key", str(self.key)]


def development_trust(data_dir: Path, regions: Sequence[str], *, tls: bool,
                      out: Callable[[str], None]) -> LoopbackTls | None:
    """Make (once) every region's development IdP, and the loopback TLS material when `tls`."""
    for region in regions:
        idp = IdentityProvider.open(idp_keys_dir(data_dir, region), region)
        out(f"  identity  {region}: development identity provider, key {idp.kid}")
    # The national auditor's issuer, trusted by every region for audit reads only (national.py).
    national = national_idp(national_keys_dir(data_dir))
    out(f"  identity  national: development identity provider (audit reads only), key {national.kid}")
    if not tls:
        return None
    return LoopbackTls(*loopback_tls(data_dir / "tls"))


def health_serving(address: str, tls: LoopbackTls | None) -> bool:
    """Whether the gRPC health service at `address` answers SERVING (over TLS when `tls`)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from services.common.trust.tls import ClientTls, channel

    with channel(address, ClientTls(tls.ca) if tls else None) as open_channel:
        try:
            reply = health_pb2_grpc.HealthStub(open_channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
