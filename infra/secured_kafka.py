"""Apache Kafka as production runs it, for the tests that prove the broker's part of the trust model:
one SASL_SSL listener (SCRAM-SHA-512 over TLS), the StandardAuthorizer denying whatever no ACL allows,
and a super user ``admin`` that creates the ACLs it is given.

Everything secret is made per start in the broker's temp dir: a CA and a server certificate for
127.0.0.1 (made with ``cryptography``; Kafka reads PEM key stores directly, ``ssl.keystore.type=PEM``),
and the SCRAM users, written into the KRaft metadata when the storage is formatted (``--add-scram``),
so they exist before the broker accepts its first connection.

The controller listener is TLS with client certificates (mutual TLS): in combined mode the broker
reaches its own controller through it with its own certificate, as ``User:CN=kafka-broker``, a super
user; anything without a certificate the CA signed cannot talk to the controller at all. The
configuration is the one docker-compose.yml runs (infra/kafka/server.properties).
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

from infra.apache_kafka import _SERVER_PROPERTIES, ApacheKafka

ADMIN = "admin"
# The broker's certificate subject, and so its principal on the mutual-TLS controller listener.
BROKER_NAME = "kafka-broker"
MECHANISM = "SCRAM-SHA-512"

_SECURED_PROPERTIES = """\
listeners=SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=SASL_SSL://127.0.0.1:{port}
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL
listener.name.controller.ssl.client.auth=required
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms={mechanism}
sasl.mechanism.inter.broker.protocol={mechanism}
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=\
org.apache.kafka.common.security.scram.ScramLoginModule required username="{admin}" password="{admin_password}";
ssl.keystore.type=PEM
ssl.keystore.location={keystore}
ssl.truststore.type=PEM
ssl.truststore.location={ca}
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:{admin};User:CN={broker_name}
allow.everyone.if.no.acl.found=false
"""


class AclLike(Protocol):
    principal: str
    resource: str
    pattern: str
    name: str
    operation: str


def write_certificates(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A fresh CA (``ca.pem``) and a key + certificate for ``host`` signed by it (``broker.pem``), whose
    subject is ``CN=kafka-broker`` (the broker's principal when it calls its controller)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=2))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tongban test CA")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        san = x509.DNSName(host)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, BROKER_NAME)]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, keystore_path = directory / "ca.pem", directory / "broker.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    # Kafka's PEM key store: an unencrypted PKCS#8 key (no ssl.key.password) followed by the chain.
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    keystore_path.write_bytes(key_pem + cert.public_bytes(serialization.Encoding.PEM))
    keystore_path.chmod(0o600)
    return ca_path, keystore_path


class SecuredKafka(ApacheKafka):
    """ApacheKafka with SASL_SSL, SCRAM users ``users`` (name -> password) and the ACLs ``acls``.

    ``passwords`` holds every user's password (the admin's too) and ``ca_file`` the CA to trust.
    """

    kind = "apache-secured"

    def __init__(
        self, log_dir: Path | None = None, *, users: Mapping[str, str], acls: Iterable[AclLike] = (), **kwargs: object
    ) -> None:
        super().__init__(log_dir, **kwargs)  # type: ignore[arg-type]
        self.passwords: dict[str, str] = {ADMIN: secrets.token_hex(16), **users}
        self._acls = list(acls)
        self._ca_file: Path | None = None
        self._keystore: Path | None = None

    @property
    def ca_file(self) -> Path:
        if self._ca_file is None:
            raise RuntimeError("SecuredKafka is not started")
        return self._ca_file

    def client_config(self, username: str | None = ADMIN, password: str | None = None) -> dict[str, object]:
        """kafka-python settings to log in as ``username`` (its own password unless one is given)."""
        return {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": MECHANISM,
            "sasl_plain_username": username,
            "sasl_plain_password": password if password is not None else self.passwords[username or ADMIN],
            "ssl_cafile": str(self.ca_file),
        }

    def _server_properties(self, port: int, controller_port: int, data_dir: Path) -> str:
        self._ca_file, self._keystore = write_certificates(data_dir / "tls")
        plain = super()._server_properties(port, controller_port, data_dir)
        # The plain listener lines are replaced, not added to: a PLAINTEXT client port must not exist.
        kept = [line for line in plain.splitlines() if not line.startswith(_LISTENER_KEYS)]
        secured = _SECURED_PROPERTIES.format(
            port=port, controller_port=controller_port, mechanism=MECHANISM, admin=ADMIN,
            admin_password=self.passwords[ADMIN], keystore=self._keystore, ca=self._ca_file, broker_name=BROKER_NAME,
        )
        return "\n".join(kept) + "\n" + secured

    def _format_arguments(self) -> list[str]:
        # Passwords are hex (secrets.token_hex) or chosen by tests: no "," "]" or "=" to escape.
        return [
            arg
            for name, password in sorted(self.passwords.items())
            for arg in ("--add-scram", f"{MECHANISM}=[name={name},password={password}]")
        ]

    def _probe_config(self) -> dict[str, object]:
        return self.client_config()

    def start(self) -> SecuredKafka:
        super().start()
        if self._acls:
            try:
                create_acls(self.bootstrap, self.client_config(), self._acls)
            except BaseException:
                self.stop()
                raise
        return self


_LISTENER_KEYS = tuple(
    line.split("=", 1)[0] + "="
    for line in _SERVER_PROPERTIES.splitlines()
    if line.startswith(("listeners=", "advertised.listeners=", "listener.security.protocol.map=",
                        "inter.broker.listener.name="))
)


def create_acls(bootstrap: str, client_config: Mapping[str, object], acls: Iterable[AclLike]) -> None:
    """Create ALLOW bindings for ``acls`` as the given (super) user; raises if the broker refuses any."""
    from kafka import KafkaAdminClient
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    bindings = [
        ACL(
            principal=acl.principal,
            host="*",
            operation=ACLOperation[acl.operation],
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=ResourcePattern(
                ResourceType[acl.resource], acl.name, ACLResourcePatternType[acl.pattern]
            ),
        )
        for acl in acls
    ]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="tongban-acls", **client_config)
    try:
        result = admin.create_acls(bindings)
    finally:
        admin.close()
    if result.get("failed"):
        raise RuntimeError(f"the broker refused ACLs: {result['failed']}")
