"""How every Kafka client the project builds authenticates to the broker, read from the environment.

The development broker (tansu) speaks PLAINTEXT only, so that is the default and nothing needs setting.
A production Kafka (docker-compose.yml) listens with SASL_SSL: the client proves who it is with SCRAM
(a region's principal, ``region-640000``; the registry's, ``registry``) over TLS checked against the
deployment's CA. The broker's ACLs then decide what that principal may write (services/common/kafka_acls.py).

Settings (read when a client is built, never at import):

==================================  ===========================================================
``TONGBAN_KAFKA_SECURITY_PROTOCOL``  ``PLAINTEXT`` (default) or ``SASL_SSL``
``TONGBAN_KAFKA_SASL_MECHANISM``     ``SCRAM-SHA-512`` (default) or ``SCRAM-SHA-256``
``TONGBAN_KAFKA_USERNAME``           the SCRAM user (the principal is ``User:<name>``)
``TONGBAN_KAFKA_PASSWORD_FILE``      a file holding the password (a mounted secret; preferred)
``TONGBAN_KAFKA_PASSWORD``           the password itself (when no file is given)
``TONGBAN_KAFKA_CA_FILE``            PEM file of the CA that signed the broker's certificate
==================================  ===========================================================

Why one object mapped to each library's spelling: kafka-python and aiokafka name the same settings
differently (``ssl_cafile`` against an ``ssl_context``), and a client built without them silently tries
PLAINTEXT and hangs until its timeout. Building every client
from ``KafkaSecurity`` keeps all of them on the same footing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROTOCOL_ENV = "TONGBAN_KAFKA_SECURITY_PROTOCOL"
MECHANISM_ENV = "TONGBAN_KAFKA_SASL_MECHANISM"
USERNAME_ENV = "TONGBAN_KAFKA_USERNAME"
PASSWORD_ENV = "TONGBAN_KAFKA_PASSWORD"
PASSWORD_FILE_ENV = "TONGBAN_KAFKA_PASSWORD_FILE"
CA_FILE_ENV = "TONGBAN_KAFKA_CA_FILE"

PLAINTEXT = "PLAINTEXT"
SASL_SSL = "SASL_SSL"
PROTOCOLS: tuple[str, ...] = (PLAINTEXT, SASL_SSL)
# SCRAM only: PLAIN would send the password itself to the broker, and GSSAPI/OAUTHBEARER need
# infrastructure (a KDC, a token endpoint) the deployment does not have.
MECHANISMS: tuple[str, ...] = ("SCRAM-SHA-512", "SCRAM-SHA-256")
DEFAULT_MECHANISM = "SCRAM-SHA-512"


class KafkaSecurityError(ValueError):
    """The security settings are incomplete or contradictory; the message names the variable."""


@dataclass(frozen=True)
class KafkaSecurity:
    """Who a client is on the broker and how it reaches it. ``KafkaSecurity()`` is plain development mode."""

    protocol: str = PLAINTEXT
    mechanism: str = DEFAULT_MECHANISM
    username: str | None = None
    # Kept out of repr so a logged settings object never prints the secret.
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise KafkaSecurityError(f"{PROTOCOL_ENV}={self.protocol!r}: expected one of {', '.join(PROTOCOLS)}")
        if self.protocol == PLAINTEXT:
            return
        if self.mechanism not in MECHANISMS:
            raise KafkaSecurityError(f"{MECHANISM_ENV}={self.mechanism!r}: expected one of {', '.join(MECHANISMS)}")
        if not self.username:
            raise KafkaSecurityError(f"{SASL_SSL} needs a SCRAM user: set {USERNAME_ENV}")
        if not self.password:
            raise KafkaSecurityError(f"{SASL_SSL} needs a password: set {PASSWORD_FILE_ENV} (or {PASSWORD_ENV})")

    @property
    def secured(self) -> bool:
        return self.protocol != PLAINTEXT

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSecurity:
        """The settings in ``env`` (default ``os.environ``); KafkaSecurityError names what is wrong."""
        env = os.environ if env is None else env

        def value(name: str) -> str | None:
            # An empty variable counts as unset, as for TONGBAN_KAFKA.
            text = env.get(name, "").strip()
            return text or None

        protocol = (value(PROTOCOL_ENV) or PLAINTEXT).upper()
        password_file = value(PASSWORD_FILE_ENV)
        password = value(PASSWORD_ENV)
        if password_file is not None:
            try:
                # A trailing newline is how editors and `echo` write files; it is never part of a password.
                password = Path(password_file).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise KafkaSecurityError(f"{PASSWORD_FILE_ENV}={password_file!r}: cannot read it ({exc})") from exc
        ca_file = value(CA_FILE_ENV)
        if ca_file is not None and not Path(ca_file).is_file():
            raise KafkaSecurityError(f"{CA_FILE_ENV}={ca_file!r}: no such file")
        return cls(
            protocol=protocol,
            mechanism=(value(MECHANISM_ENV) or DEFAULT_MECHANISM).upper(),
            username=value(USERNAME_ENV),
            password=password,
            ca_file=ca_file,
        )

    def kafka_python(self) -> dict[str, Any]:
        """kwargs for kafka-python's KafkaProducer, KafkaConsumer and KafkaAdminClient."""
        if not self.secured:
            return {}
        return {
            "security_protocol": self.protocol,
            "sasl_mechanism": self.mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
            # None means the system's trust store: right for a broker with a public certificate.
            "ssl_cafile": self.ca_file,
            "ssl_check_hostname": True,
        }

    def ssl_context(self) -> Any:
        """An SSLContext that trusts the CA file (or the system store) and checks the broker's host name."""
        import ssl

        context = ssl.create_default_context(cafile=self.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context

    def aiokafka(self) -> dict[str, Any]:
        """kwargs for aiokafka's AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
        if not self.secured:
            return {}
        return {
            "security_protocol": self.protocol,
            "sasl_mechanism": self.mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
            "ssl_context": self.ssl_context(),
        }


def current(security: KafkaSecurity | None) -> KafkaSecurity:
    """``security`` if given, else the environment's settings: callers that were never told stay correct."""
    return security if security is not None else KafkaSecurity.from_env()
