"""TLS for the gRPC front doors (architecture invariant 8: TLS on every gRPC port in production,
mutual TLS between services as an option).

- `ServerTls`: a server's certificate and key, and optionally the CA whose client certificates it
  requires (mutual TLS: a client without a certificate of that CA cannot even connect);
- `ClientTls`: the CA a client trusts for servers, and optionally its own certificate and key;
- `channel(address, tls)`: a channel, TLS when `tls` is given (else plaintext, development only);
- `DevelopmentCA`: a throwaway CA made with `cryptography`, issuing server and client
  certificates, for `tongban up --tls` and the tests (production mounts its own).

The token (tokens.py) still proves who calls: TLS proves which server answers, keeps the token
secret on the wire, and with mutual TLS admits only known machines.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from services.common.trust.tokens import write_private


@dataclass(frozen=True)
class ServerTls:
    cert: Path
    key: Path
    client_ca: Path | None = None  # mutual TLS: require a client certificate signed by this CA

    def credentials(self) -> grpc.ServerCredentials:
        pair = [(self.key.read_bytes(), self.cert.read_bytes())]
        if self.client_ca is None:
            return grpc.ssl_server_credentials(pair)
        return grpc.ssl_server_credentials(pair, root_certificates=self.client_ca.read_bytes(),
                                           require_client_auth=True)

    @classmethod
    def from_options(cls, cert: str | Path | None, key: str | Path | None,
                     client_ca: str | Path | None = None) -> ServerTls | None:
        """From command-line options: None when no certificate is given (plaintext)."""
        if not cert and not key:
            if client_ca:
                raise ValueError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
            return None
        if not (cert and key):
            raise ValueError("TLS needs both --tls-cert and --tls-key")
        return cls(Path(cert), Path(key), Path(client_ca) if client_ca else None)


@dataclass(frozen=True)
class ClientTls:
    ca: Path
    cert: Path | None = None  # for a server that requires client certificates
    key: Path | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca.read_bytes(),
            private_key=self.key.read_bytes() if self.key else None,
            certificate_chain=self.cert.read_bytes() if self.cert else None)

    @classmethod
    def from_options(cls, ca: str | Path | None, cert: str | Path | None = None,
                     key: str | Path | None = None) -> ClientTls | None:
        if not ca:
            if cert or key:
                raise ValueError("a client certificate needs --tls-ca (the CA that signed the server's)")
            return None
        if bool(cert) != bool(key):
            raise ValueError("a client certificate needs both --tls-cert and --tls-key")
        return cls(Path(ca), Path(cert) if cert else None, Path(key) if key else None)


def channel(address: str, tls: ClientTls | None, *, options: list[tuple[str, Any]] | None = None) -> grpc.Channel:
    """A channel to `address`: TLS when `tls` is given, plaintext otherwise."""
    if tls is None:
        return grpc.insecure_channel(address, options=options)
    return grpc.secure_channel(address, tls.credentials(), options=options)


class DevelopmentCA:
    """A certificate authority for development and tests: an EC P-256 key and a self-signed
    certificate in `directory` (ca.pem, ca.key), issuing leaf certificates beside them."""

    def __init__(self, directory: Path, *, name: str = "Tongban development CA") -> None:
        self.directory = directory
        self.cert_path, self.key_path = directory / "ca.pem", directory / "ca.key"
        if self.cert_path.exists():
            self.key = serialization.load_pem_private_key(self.key_path.read_bytes(), None)
            self.cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
            return
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=825))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .sign(self.key, hashes.SHA256()))
        _write_pair(self.cert_path, self.key_path, self.cert, self.key)

    def issue(self, name: str, *, hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
              client: bool = False) -> tuple[Path, Path]:
        """A leaf certificate (server, or `client`) for `hosts`: (cert.pem, key.pem) paths."""
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = []
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        now = dt.datetime.now(dt.UTC)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(self.cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=90))
                .add_extension(x509.SubjectAlternativeName(names), critical=False)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .sign(self.key, hashes.SHA256()))  # type: ignore[arg-type]
        paths = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        _write_pair(*paths, cert, key)
        return paths


def loopback_tls(directory: Path) -> tuple[Path, Path, Path]:
    """(CA, certificate, key) for front doors on this machine (`tongban up --tls`), made once."""
    ca = DevelopmentCA(directory)
    cert, key = directory / "localhost.pem", directory / "localhost.key"
    if not cert.exists():
        cert, key = ca.issue("localhost")
    return ca.cert_path, cert, key


def _write_pair(cert_path: Path, key_path: Path, cert: x509.Certificate, key: Any) -> None:
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    write_private(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
