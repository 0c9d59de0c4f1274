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

import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

from infra.apache_kafka import _SERVER_PROPERTIES, ApacheKafka
from infra.kafka_secrets import BROKER_NAME, MECHANISM, write_certificates

ADMIN = "admin"

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
