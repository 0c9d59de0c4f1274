"""Kafka client security settings (architecture invariant 8: nobody is believed on their word -- on the
broker, a client logs in with SCRAM over TLS): read from the environment, mapped to each library's
spelling, applied to every client the project builds, and the ACL layout of a deployment."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from services.common.kafka_acls import (
    CHECKPOINT_TOPIC,
    DECISIONS_TOPIC,
    REGISTRY_APP_ID,
    Acl,
    deployment_acls,
    deployment_users,
    region_user,
)
from services.common.kafka_security import KafkaSecurity, KafkaSecurityError
from services.common.kafka_settings import (
    aiokafka_consumer_config,
    aiokafka_producer_config,
    events_topic,
    kafka_python_admin_config,
    kafka_python_consumer_config,
    kafka_python_producer_config,
)

BOOTSTRAP = "kafka:9092"


@pytest.fixture
def ca_file(tmp_path: Path) -> Path:
    from infra.kafka_secrets import write_certificates

    ca, _ = write_certificates(tmp_path, ["kafka"])
    return ca


def secured_env(ca_file: Path, tmp_path: Path) -> dict[str, str]:
    password = tmp_path / "password"
    password.write_text("s3cret\n")  # as `echo` writes it: the newline is not part of the password
    return {
        "TONGBAN_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
        "TONGBAN_KAFKA_USERNAME": "region-640000",
        "TONGBAN_KAFKA_PASSWORD_FILE": str(password),
        "TONGBAN_KAFKA_CA_FILE": str(ca_file),
    }


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    """Development (tansu) needs no settings: an empty environment is PLAINTEXT and no client gets extra kwargs."""
    security = KafkaSecurity.from_env({})
    assert not security.secured
    assert security.kafka_python() == security.aiokafka() == {}
    assert "security_protocol" not in kafka_python_producer_config(BOOTSTRAP, security=security)


def test_sasl_ssl_from_the_environment_reads_the_password_file(ca_file: Path, tmp_path: Path) -> None:
    """SCRAM-SHA-512 is the default mechanism; the password comes from the mounted file, without its newline."""
    security = KafkaSecurity.from_env(secured_env(ca_file, tmp_path))
    assert (security.protocol, security.mechanism, security.username) == ("SASL_SSL", "SCRAM-SHA-512", "region-640000")
    assert security.password == "s3cret"
    assert "s3cret" not in repr(security)


def test_kafka_python_clients_get_the_same_security(ca_file: Path, tmp_path: Path) -> None:
    """Producer, consumer and admin (relay, audit, topic set-up) all log in the same way."""
    security = KafkaSecurity.from_env(secured_env(ca_file, tmp_path))
    expected = {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "region-640000",
        "sasl_plain_password": "s3cret",
        "ssl_cafile": str(ca_file),
        "ssl_check_hostname": True,
    }
    for config in (
        kafka_python_producer_config(BOOTSTRAP, security=security),
        kafka_python_consumer_config(BOOTSTRAP, "g", security=security),
        kafka_python_admin_config(BOOTSTRAP, "tongban-x", security=security),
    ):
        assert {key: config[key] for key in expected} == expected
        assert config["bootstrap_servers"] == BOOTSTRAP


def test_aiokafka_gets_an_ssl_context_that_checks_the_broker(ca_file: Path, tmp_path: Path) -> None:
    """aiokafka (the hosts' and the registry worker's consumers and producers) takes an SSLContext, not a
    CA path."""
    security = KafkaSecurity.from_env(secured_env(ca_file, tmp_path))
    for config in (aiokafka_producer_config(BOOTSTRAP, security=security),
                   aiokafka_consumer_config(BOOTSTRAP, "g", security=security)):
        assert (config["security_protocol"], config["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
        assert config["sasl_plain_username"] == "region-640000"
        context = config["ssl_context"]
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert config["sasl_plain_password"] == "s3cret"


def test_clients_built_without_settings_read_the_environment(
    ca_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Call sites that pass no `security` (relay, host, audit) still log in when the deployment says so."""
    for name, value in secured_env(ca_file, tmp_path).items():
        monkeypatch.setenv(name, value)
    assert kafka_python_producer_config(BOOTSTRAP)["sasl_plain_username"] == "region-640000"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"TONGBAN_KAFKA_SECURITY_PROTOCOL": "SSL"}, "TONGBAN_KAFKA_SECURITY_PROTOCOL"),
        ({"TONGBAN_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "TONGBAN_KAFKA_PASSWORD": "x"}, "TONGBAN_KAFKA_USERNAME"),
        ({"TONGBAN_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "TONGBAN_KAFKA_USERNAME": "u"}, "TONGBAN_KAFKA_PASSWORD"),
        ({"TONGBAN_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "TONGBAN_KAFKA_USERNAME": "u", "TONGBAN_KAFKA_PASSWORD": "x",
          "TONGBAN_KAFKA_SASL_MECHANISM": "PLAIN"}, "TONGBAN_KAFKA_SASL_MECHANISM"),
        ({"TONGBAN_KAFKA_PASSWORD_FILE": "/nonexistent/password"}, "TONGBAN_KAFKA_PASSWORD_FILE"),
        ({"TONGBAN_KAFKA_CA_FILE": "/nonexistent/ca.pem"}, "TONGBAN_KAFKA_CA_FILE"),
    ],
)
def test_incomplete_settings_fail_naming_the_variable(env: dict[str, str], named: str) -> None:
    """A half-configured client would try PLAINTEXT and hang until its timeout: refuse it at once, by name."""
    with pytest.raises(KafkaSecurityError, match=named):
        KafkaSecurity.from_env(env)


def test_the_acl_layout_gives_each_region_only_its_own_group_and_no_topic_to_do_everything_with() -> None:
    """Invariant 8: 640000's principal may join its own group, not 510000's; since the hosts read with
    plain consumers (no faust app making internal topics) no grant of a region covers ALL operations."""
    acls = deployment_acls(["640000", "510000"], ["marriage"])
    ningxia = {acl for acl in acls if acl.principal == "User:region-640000"}
    assert Acl("User:region-640000", "GROUP", "LITERAL", "tongban-marriage-640000", "READ") in ningxia
    assert not [acl for acl in ningxia if "510000" in acl.name]
    assert not [acl for acl in acls if acl.operation == "ALL"]
    assert {acl.operation for acl in ningxia if acl.name == DECISIONS_TOPIC} == {"READ", "DESCRIBE"}
    assert Acl("User:region-640000", "TOPIC", "LITERAL", events_topic("marriage"), "WRITE") in ningxia


def test_the_registry_is_granted_no_topic_of_its_own_beyond_claims_and_decisions() -> None:
    """Invariant 5: the registry worker keeps its person records in its own store (person_store.py),
    not in a faust table, and reads with plain consumers, so no grant of the layout reaches a
    changelog or an assignor's leader topic of its app."""
    acls = [acl for acl in deployment_acls(["640000"], ["marriage"]) if acl.principal == "User:registry"]

    def granted(topic: str) -> set[str]:
        return {acl.operation for acl in acls if acl.resource == "TOPIC" and (
            acl.name == topic if acl.pattern == "LITERAL" else topic.startswith(acl.name))}

    assert granted(f"{REGISTRY_APP_ID}-persons-changelog") == set()
    assert granted(f"{REGISTRY_APP_ID}-__assignor-__leader") == set()
    assert granted("tongban.registry.claims.v1") == {"CREATE", "DESCRIBE", "READ", "WRITE"}


def test_only_the_registry_writes_decisions_and_auditors_write_nothing() -> None:
    """Invariant 5/8: the registry is the single writer of decisions; auditors only read."""
    acls = deployment_acls(["640000"], ["marriage"])
    writers = {acl.principal for acl in acls if acl.name == DECISIONS_TOPIC and acl.operation in ("WRITE", "ALL")}
    assert writers == {"User:registry"}
    assert {acl.operation for acl in acls if acl.principal == "User:auditor"} == {"READ", "DESCRIBE"}


def test_acl_names_match_the_services_own_names() -> None:
    """The layout names what the code really uses: the registry's app id and the checkpoint topic."""
    from services.common.audit.kafka_log import CHECKPOINT_TOPIC as audit_checkpoints
    from services.common.registry.worker.settings import DEFAULT_APP_ID

    assert (audit_checkpoints, DEFAULT_APP_ID) == (CHECKPOINT_TOPIC, REGISTRY_APP_ID)
    assert deployment_users(["640000"]) == ["registry", "auditor", "region-640000"]
    with pytest.raises(ValueError, match="6-digit"):
        region_user("64")


def test_deployment_secrets_give_each_principal_its_own_directory_and_survive_a_rerun(tmp_path: Path) -> None:
    """docker-compose.yml's kafka-secrets job: one directory per reader; a rerun (a restart, or a new region)
    keeps every existing password and the CA, so nothing rotates behind the broker's back."""
    from cryptography import x509

    from infra.kafka_secrets import make_deployment_secrets

    first = make_deployment_secrets(tmp_path, ["640000"])
    assert set(first) == {"admin", "registry", "auditor", "region-640000"}
    assert (tmp_path / "region-640000" / "password").read_text().strip() == first["region-640000"]
    assert sorted(p.name for p in (tmp_path / "region-640000").iterdir()) == ["ca.pem", "password"]
    assert first["admin"] not in "".join(p.read_text() for p in (tmp_path / "region-640000").iterdir())
    assert f'password="{first["admin"]}"' in (tmp_path / "broker" / "admin.properties").read_text()
    ca = (tmp_path / "broker" / "ca.pem").read_bytes()
    cert = x509.load_pem_x509_certificates((tmp_path / "broker" / "broker.pem").read_bytes())[0]
    assert "kafka" in cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
        x509.DNSName
    )

    second = make_deployment_secrets(tmp_path, ["640000", "510000"])
    assert {name: second[name] for name in first} == first
    assert "region-510000" in second and (tmp_path / "broker" / "ca.pem").read_bytes() == ca
