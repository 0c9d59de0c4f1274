"""The secrets a secured Kafka deployment needs, made once: a CA, the broker's TLS key and certificate,
and a random SCRAM password for every principal (services/common/kafka_acls.py names them).

docker-compose.yml runs it as a one-shot job before Kafka starts::

    python -m infra.kafka_secrets /secrets 640000 510000 610000

Layout, one directory per reader, so each container mounts only its own (a compose volume ``subpath``):

    broker/      ca.pem, broker.pem (key + certificate, Kafka's PEM key store), admin.password,
                 admin.properties (the Kafka CLI tools' login as the super user)
    users/       <user>.password for every SCRAM user (only the set-up job that creates them reads it)
    <user>/      ca.pem, password     e.g. region-640000/, registry/, auditor/

Existing files are kept, so restarting the job neither rotates a password nor re-issues a certificate;
to rotate, delete the file and rerun it together with the set-up job (which updates the SCRAM user).
Files are world-readable inside their directory: isolation comes from which directory a container
mounts, because the broker (apache/kafka) and the services (tongban) run as different users.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import secrets
from collections.abc import Sequence
from pathlib import Path

from services.common.kafka_acls import ADMIN_USER, deployment_users

# The broker's certificate subject, and so its principal on the mutual-TLS controller listener.
BROKER_NAME = "kafka-broker"
MECHANISM = "SCRAM-SHA-512"


def write_certificates(
    directory: Path, hosts: Sequence[str] = ("127.0.0.1",), *, days: int = 2
) -> tuple[Path, Path]:
    """A fresh CA (``ca.pem``) and a key + certificate for ``hosts`` signed by it (``broker.pem``), whose
    subject is ``CN=kafka-broker`` (the broker's principal when it calls its controller)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days))
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tongban Kafka CA")])
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, BROKER_NAME)]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(valid[0]).not_valid_after(valid[1])
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
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
    return ca_path, keystore_path


def _keep_or_write(path: Path, text: str) -> str:
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n", encoding="utf-8")
    path.chmod(0o444)
    return text


def admin_properties(admin_password: str, ca_file: str) -> str:
    """The Kafka CLI tools' ``--command-config`` for the super user."""
    return (
        "security.protocol=SASL_SSL\n"
        f"sasl.mechanism={MECHANISM}\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{ADMIN_USER}" password="{admin_password}";\n'
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={ca_file}\n"
    )


def make_deployment_secrets(directory: Path, regions: Sequence[str], *, broker_host: str = "kafka",
                            mount: str = "/run/kafka") -> dict[str, str]:
    """Create whatever is missing under ``directory``; return every user's password (the admin's too).

    ``mount`` is where a container sees its own directory (the admin properties name the CA there).
    """
    broker = directory / "broker"
    if not (broker / "ca.pem").is_file() or not (broker / "broker.pem").is_file():
        # Ten years: a demo deployment should not stop on an expired certificate; production brings its own.
        write_certificates(broker, (broker_host, "localhost"), days=3650)
    ca_pem = (broker / "ca.pem").read_text()
    passwords = {ADMIN_USER: _keep_or_write(broker / "admin.password", secrets.token_hex(24))}
    _keep_or_write(broker / "admin.properties", admin_properties(passwords[ADMIN_USER], f"{mount}/ca.pem").rstrip())
    for user in deployment_users(regions):
        # Hex: nothing that the SCRAM CLI syntax ("[password=...]") or a JAAS line would need escaped.
        password = _keep_or_write(directory / "users" / f"{user}.password", secrets.token_hex(24))
        _keep_or_write(directory / user / "password", password)
        _keep_or_write(directory / user / "ca.pem", ca_pem.strip())
        passwords[user] = password
    for path in directory.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o444)
    return passwords


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.kafka_secrets", description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("regions", nargs="+", help="GB/T 2260 region codes, e.g. 640000")
    parser.add_argument("--broker-host", default="kafka", help="the broker's DNS name, in its certificate")
    args = parser.parse_args(argv)
    users = make_deployment_secrets(args.directory, args.regions, broker_host=args.broker_host)
    print(f"kafka secrets in {args.directory}: CA, broker certificate, users {', '.join(sorted(users))}")


if __name__ == "__main__":
    main()
