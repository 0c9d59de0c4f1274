"""docker-compose.yml is consistent, and the services load their configuration from it.
No Docker engine runs here, so the file is checked, not run: every image is buildable from this
repository or pinned, every dependency and healthcheck exists, ports do not clash, and each
Tongban container's command and environment parse into the configuration its process would use."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from services.cli import build_parser as cli_parser
from services.common.kafka_acls import REGISTRY_USER, Acl, deployment_acls, region_user
from services.common.registry.topics import DECISIONS_TOPIC, consumed_decision_topics

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
TONGBAN = {name: s for name, s in SERVICES.items() if s.get("image") == "tongban:dev"}
SERVE = {name: s for name, s in TONGBAN.items() if s["command"][0] == "serve"}


def _topics_created() -> set[str]:
    return set(_partitions_created())


def _partitions_created() -> dict[str, int]:
    """topic -> partitions, from kafka-setup's `for topic in ...; do kafka-topics.sh ... --partitions N` loops."""
    script = " ".join(SERVICES["kafka-setup"]["command"])
    loops = re.findall(r"for topic in ([^;]*?); do\s+\S*kafka-topics\.sh [^\n]*--partitions (\d+)", script)
    return {topic: int(partitions) for names, partitions in loops for topic in names.split()}


def test_every_image_is_pinned_or_built_from_this_repository() -> None:
    for name, service in SERVICES.items():
        if "build" in service:
            dockerfile = ROOT / service["build"]["context"] / service["build"]["dockerfile"]
            assert dockerfile.is_file(), name
            for line in dockerfile.read_text().splitlines():
                if line.startswith("COPY "):
                    for source in shlex.split(line)[1:-1]:
                        assert (ROOT / source).exists(), f"{dockerfile} copies missing {source}"
        else:
            image = service["image"]
            assert ":" in image and not image.endswith(":latest"), f"{name} pins its image version"


def test_dependencies_exist_and_wait_on_what_they_say() -> None:
    for name, service in SERVICES.items():
        for target, spec in service.get("depends_on", {}).items():
            assert target in SERVICES, f"{name} depends on unknown {target}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[target], f"{name} waits for {target} to be healthy: it has no check"
            if spec["condition"] == "service_completed_successfully":
                assert SERVICES[target].get("restart") == "no", f"{target} is a one-shot job"


def test_published_ports_do_not_clash() -> None:
    host_ports = [p.split(":")[0] for s in SERVICES.values() for p in s.get("ports", [])]
    assert len(host_ports) == len(set(host_ports))


def test_every_topic_the_stack_uses_is_created() -> None:
    from services.common.handoff.topics import handoffs_topic
    from services.common.kafka_settings import events_topic
    from services.common.registry import DECISIONS_TOPIC
    from services.common.registry.topics import region_decisions_topic

    created = _topics_created()
    services = {s["command"][s["command"].index("--service") + 1] for s in SERVE.values()}
    for service in services:
        assert events_topic(service) in created
    assert DECISIONS_TOPIC in created
    # Invariant 10: each region's own decisions topic, which only it may read (and so cannot create).
    assert {region_decisions_topic(region) for region in _regions()} <= created
    # ... and its own hand-off topic of each service, which every region writes and only it reads.
    assert {handoffs_topic(events_topic(service), region) for service in services for region in _regions()} <= created
    registry = SERVICES["registry"]["command"]
    for i, arg in enumerate(registry):
        if arg == "--service-topic":
            assert registry[i + 1] in created


def test_each_region_has_its_database_and_every_service_container(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.host.cli import build_parser, config_from_args, load_definition

    init_sql = (ROOT / "infra/postgres/init-databases.sql").read_text()
    assert SERVE, "the compose file runs services"
    for name, container in SERVE.items():
        for key, value in container["environment"].items():
            monkeypatch.setenv(key, str(value))
        args = build_parser().parse_args(container["command"][1:])
        config = config_from_args(args)
        service, region = name.rsplit("-", 1)
        assert (args.service, config.region) == (service, region), name
        load_definition(args.service, None)  # the service the container runs exists
        store = urlparse(config.store_url or "")
        assert store.scheme == "postgresql+psycopg"
        assert store.hostname == f"postgres-{region}" and store.hostname in SERVICES
        assert f"CREATE DATABASE {store.path.lstrip('/')};" in init_sql
        # Healthy only after the init script: the image runs it on a server without TCP.
        assert "pg_isready -h 127.0.0.1" in SERVICES[store.hostname]["healthcheck"]["test"][1]
        kafka_host = config.kafka.split(":")[0]
        assert kafka_host in SERVICES and _broker_properties()["advertised.listeners"] == f"SASL_SSL://{config.kafka}"
        grpc_port = config.grpc_address.rsplit(":", 1)[1]
        assert any(p.endswith(f":{grpc_port}") for p in container["ports"]), "the gRPC port is published"
        otlp = urlparse(container["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert otlp.hostname in SERVICES and container["environment"]["TONGBAN_TRACING"] == "otlp"
        assert container["healthcheck"]["test"][1:3] == ["tongban", "health"]
        assert container["healthcheck"]["test"][3].endswith(f":{grpc_port}")


def _broker_properties() -> dict[str, str]:
    return _properties((ROOT / "infra/kafka/server.properties").read_text())


def _properties(text: str) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return {key.strip(): value.strip() for key, value in pairs}


def _kafka_clients() -> dict[str, tuple[str, dict[str, Any]]]:
    """Every container that talks to Kafka, with the principal it must log in as."""
    clients = {name: (region_user(name.rsplit("-", 1)[1]), s) for name, s in SERVE.items()}
    clients["registry"] = (REGISTRY_USER, SERVICES["registry"])
    return clients


def _regions() -> list[str]:
    return sorted({name.rsplit("-", 1)[1] for name in SERVE})


def test_every_kafka_client_logs_in_as_its_own_principal_with_only_its_own_secret() -> None:
    """Invariant 8 (issue 10, brokers): SASL_SSL with SCRAM, the CA, and a password that no other region
    can read -- each container mounts only its own directory of the secrets volume."""
    for name, (principal, container) in _kafka_clients().items():
        env = container["environment"]
        assert env["TONGBAN_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name
        assert env["TONGBAN_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512", name
        assert env["TONGBAN_KAFKA_USERNAME"] == principal, name
        assert "TONGBAN_KAFKA_PASSWORD" not in env, f"{name}: the password comes from a mounted file, not the env"
        secret_dir = str(Path(env["TONGBAN_KAFKA_PASSWORD_FILE"]).parent)
        assert str(Path(env["TONGBAN_KAFKA_CA_FILE"]).parent) == secret_dir, name
        mounts = [v for v in container["volumes"] if isinstance(v, dict) and v["source"] == "kafka-secrets"]
        assert [(m["target"], m["volume"]["subpath"], m["read_only"]) for m in mounts] == [
            (secret_dir, principal, True)
        ], f"{name} mounts its own secrets only"
        assert container["depends_on"]["kafka-setup"]["condition"] == "service_completed_successfully", name
    made_for = SERVICES["kafka-secrets"]["command"][1:]
    assert sorted(made_for) == _regions(), "kafka-secrets makes a password for every region that runs"


def test_no_plaintext_listener_is_exposed_and_unlisted_means_denied() -> None:
    """Invariant 8: clients reach Kafka over SASL_SSL only; the controller wants a client certificate;
    the StandardAuthorizer denies what no ACL allows."""
    props = _broker_properties()
    protocols = dict(pair.split(":") for pair in props["listener.security.protocol.map"].split(","))
    listeners = [entry.split(":")[0] for entry in props["listeners"].split(",")]
    assert {name: protocols[name] for name in listeners} == {"SASL_SSL": "SASL_SSL", "CONTROLLER": "SSL"}
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert props["advertised.listeners"].startswith("SASL_SSL://") and "," not in props["advertised.listeners"]
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["authorizer.class.name"].endswith("StandardAuthorizer")
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:admin;User:CN=kafka-broker"
    assert "ports" not in SERVICES["kafka"], "the broker is reached inside the compose network only"
    assert "PLAINTEXT" not in str(SERVICES["kafka"])


def test_the_compose_broker_runs_the_security_settings_the_integration_test_proves() -> None:
    """tests/integration/test_kafka_acls.py runs infra/secured_kafka.py; compose must run the same."""
    from infra.secured_kafka import _SECURED_PROPERTIES

    tested = _properties(_SECURED_PROPERTIES)
    compose = _broker_properties()
    for key in ("listener.security.protocol.map", "listener.name.controller.ssl.client.auth",
                "inter.broker.listener.name", "ssl.keystore.type", "ssl.truststore.type", "authorizer.class.name",
                "allow.everyone.if.no.acl.found"):
        assert compose[key] == tested[key], key
    assert compose["sasl.enabled.mechanisms"] == tested["sasl.enabled.mechanisms"].format(mechanism="SCRAM-SHA-512")


def _acls_in_setup() -> set[Acl]:
    found: set[Acl] = set()
    for line in " ".join(SERVICES["kafka-setup"]["command"]).splitlines():
        if not line.strip().startswith("acl "):
            continue
        words = shlex.split(line.strip())
        options: dict[str, list[str]] = {}
        for flag, value in zip(words[2::2], words[3::2], strict=True):
            options.setdefault(flag, []).append(value)
        [resource] = [kind for kind in ("--topic", "--group") if kind in options]
        pattern = options.get("--resource-pattern-type", ["literal"])[0].upper()
        for operation in options["--operation"]:
            found.add(Acl(f"User:{words[1]}", resource[2:].upper(), pattern, options[resource][0], operation.upper()))
    return found


def test_the_acls_give_each_region_its_own_topics_and_only_the_registry_decisions() -> None:
    """Invariant 8: kafka-setup creates exactly the deployment's ACLs (services/common/kafka_acls.py) for
    the regions and services this file runs -- none missing, none extra."""
    services = sorted({s["command"][s["command"].index("--service") + 1] for s in SERVE.values()})
    expected = set(deployment_acls(_regions(), services))
    created = _acls_in_setup()
    assert sorted(expected - created) == [], "ACLs missing from kafka-setup"
    assert sorted(created - expected) == [], "ACLs in kafka-setup that the layout does not grant"
    for region in _regions():
        own = {acl.name for acl in created if acl.principal == f"User:{region_user(region)}"}
        assert not {name for name in own if any(other in name for other in _regions() if other != region)}


def test_the_registry_worker_parses_its_command() -> None:
    from services.common.registry.worker import build_parser as registry_parser

    args = registry_parser().parse_args(SERVICES["registry"]["command"][1:])
    assert args.service_topics


def test_the_registry_topics_have_as_many_partitions_as_its_worker_is_told() -> None:
    """The registry worker keeps its claims-topic positions per partition (person_store.py) and
    declares its topics with its --partitions: the claims and decisions topics are made with as many."""
    from services.common.registry import CLAIMS_TOPIC, DECISIONS_TOPIC
    from services.common.registry.worker import build_parser as registry_parser

    args = registry_parser().parse_args(SERVICES["registry"]["command"][1:])
    created = _partitions_created()
    assert (created[CLAIMS_TOPIC], created[DECISIONS_TOPIC]) == (args.partitions, args.partitions)


def test_traces_flow_from_the_collector_to_the_viewer() -> None:
    collector = yaml.safe_load((ROOT / "infra/otel/collector.yaml").read_text())
    exporters = collector["service"]["pipelines"]["traces"]["exporters"]
    endpoint = collector["exporters"][exporters[0]]["endpoint"]
    assert endpoint.split(":")[0] in SERVICES
    mounted = SERVICES["otel-collector"]["volumes"][0].split(":")[0]
    assert (ROOT / mounted).resolve() == (ROOT / "infra/otel/collector.yaml").resolve()


def test_the_healthcheck_command_exists() -> None:
    args = cli_parser().parse_args(["health", "127.0.0.1:50051"])
    assert args.func.__name__ == "cmd_health"


TRUST_DIR = "/etc/tongban/trust"


def test_grpc_runs_with_tls_and_tokens_from_the_trust_volume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Architecture invariant 8 in the compose file: every service serves TLS with a certificate,
    and trusts its region's IdP keys, from the `trust` volume that the one-shot trust-init job
    fills; running that job's command really makes every file the services name."""
    from services.cli import main as tongban
    from services.common.trust.tls import ServerTls
    from services.common.trust.tokens import TrustedKeys
    from services.host.cli import build_parser, config_from_args

    init = SERVICES["trust-init"]
    assert init.get("restart") == "no" and f"trust:{TRUST_DIR}" in init["volumes"]
    command = [str(part).replace(TRUST_DIR, str(tmp_path)) for part in init["command"]]
    assert tongban(command) == 0
    for name, container in SERVE.items():
        assert f"trust:{TRUST_DIR}:ro" in container["volumes"], name
        assert container["depends_on"]["trust-init"]["condition"] == "service_completed_successfully"
        for key, value in container["environment"].items():
            monkeypatch.setenv(key, str(value))
        args = build_parser().parse_args([str(a).replace(TRUST_DIR, str(tmp_path)) for a in container["command"][1:]])
        config = config_from_args(args)
        assert isinstance(config.tls, ServerTls), f"{name} serves TLS"
        config.tls.credentials()  # the certificate and key exist and load
        assert config.idp_keys is not None and TrustedKeys.from_dir(config.idp_keys, config.region).keys
        # The national auditor's IdP, trusted by every region for audit reads only, from the same volume.
        assert str(config.national_idp_keys) == f"{TRUST_DIR}/idp/national", name
        assert TrustedKeys.from_dir(tmp_path / "idp" / "national", "national").keys
        health = container["healthcheck"]["test"]
        assert health[health.index("--tls-ca") + 1] == f"{TRUST_DIR}/ca.pem", "the healthcheck speaks TLS"
    assert tongban(command) == 0, "running it again keeps what is there"


def test_every_region_runs_every_service_of_the_catalogue() -> None:
    """Issues 13 and 14: disability and relief run in every region, as marriage does."""
    from services import catalogue

    running = {(s["command"][s["command"].index("--service") + 1], name.rsplit("-", 1)[1]) for name, s in SERVE.items()}
    assert running == {(service, region) for service in catalogue.names() for region in _regions()}
    assert len(_regions()) >= 3


def test_the_registry_forwards_the_claims_of_every_claiming_service() -> None:
    from services import catalogue
    from services.common.kafka_settings import events_topic
    from services.common.registry.worker import build_parser as registry_parser

    args = registry_parser().parse_args(SERVICES["registry"]["command"][1:])
    assert sorted(args.service_topics) == sorted(events_topic(name) for name in catalogue.claiming())


def _topics_consumed(service: str, tmp_path: Path) -> set[str]:
    """Every topic the service's host subscribes to, from its own wiring (ServiceHost.topics): its
    region's hand-off topic (not the whole country's events of the service), what it reacts to, and
    the registry's decisions."""
    from services.catalogue import entry
    from services.common.handoff.topics import handoffs_topic
    from services.common.kafka_settings import events_topic
    from services.common.store import EventStore, sqlite_url
    from services.host.definition import Infrastructure
    from services.host.host import HOST_TABLES

    definition = entry(service).definition()
    store = EventStore.open(sqlite_url(tmp_path / f"{service}.db"), region="640000", service=service,
                            tables=[*HOST_TABLES, *definition.tables])
    wiring = definition.wire(Infrastructure.over(store))
    own = events_topic(service)
    decisions = set(consumed_decision_topics("640000")) if DECISIONS_TOPIC in wiring.raw_handlers else set()
    handoffs = {handoffs_topic(own, "640000")} if wiring.handoff_hooks is not None else set()
    raw = {name for name in wiring.raw_handlers if name != DECISIONS_TOPIC}
    return {*handoffs, *(reaction.topic or own for reaction in wiring.reactions), *raw, *decisions}


def test_each_service_may_read_exactly_the_topics_it_consumes(tmp_path: Path) -> None:
    """Invariant 8: the ACLs let a region read what its services subscribe to (relief follows the marriage
    topic, services/relief/application/marriage_reactions.py), even where the region runs that service
    alone -- and no other service's topic besides."""
    from services.common.kafka_acls import CHECKPOINT_TOPIC, LITERAL, TOPIC, user

    services = sorted({s["command"][s["command"].index("--service") + 1] for s in SERVE.values()})
    for service in services:
        principal = user(region_user("640000"))
        readable = {acl.name for acl in deployment_acls(["640000"], [service])
                    if (acl.principal, acl.resource, acl.pattern, acl.operation) == (principal, TOPIC, LITERAL, "READ")}
        assert readable == _topics_consumed(service, tmp_path) | {CHECKPOINT_TOPIC}, service


SIGNING_DIR = "/etc/tongban/signing"


def _signing_mounts(container: dict[str, Any]) -> dict[str, str]:
    """target -> subpath of the container's mounts of the `signing` volume (all read-only)."""
    mounts = [v for v in container["volumes"] if isinstance(v, dict) and v["source"] == "signing"]
    assert all(m["read_only"] for m in mounts), "a service never writes a signing key"
    return {m["target"]: m["volume"]["subpath"] for m in mounts}


def test_envelopes_are_signed_with_each_regions_own_key_and_verified_with_everyones_public_keys(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Invariant 8 in the compose file: the signing-keys job really makes every key the containers mount;
    a region's services see only their region's private key (at <data-dir>/<region>/keys, where the host
    loads it) and the public keys of all; the registry signs with its own and believes the regions'."""
    from infra.signing_keys import main as make_keys
    from services.common.registry.worker import build_parser as registry_parser
    from services.common.trust.keys import REGISTRY, KeyDirectory, keys_dir, load_key_from
    from services.host.cli import build_parser, config_from_args

    job = SERVICES["signing-keys"]
    assert job.get("restart") == "no" and f"signing:{SIGNING_DIR}" in job["volumes"]
    assert job["entrypoint"] == ["python", "-m", "infra.signing_keys"] and job["command"][0] == SIGNING_DIR
    assert sorted(job["command"][1:]) == _regions(), "signing-keys makes a key for every region that runs"
    volume = tmp_path / "signing"
    make_keys([str(volume), *job["command"][1:]])

    def key_directory_of(container: dict[str, Any], where: str) -> KeyDirectory:
        assert _signing_mounts(container)[where] == "public"
        return KeyDirectory(volume / "public")

    spoken: dict[str, tuple[bytes, str]] = {}  # speaker -> (signature over b"hello", key id)
    for name, container in SERVE.items():
        for key, value in container["environment"].items():
            monkeypatch.setenv(key, str(value))
        config = config_from_args(build_parser().parse_args(container["command"][1:]))
        own = str(keys_dir(config.data_dir, config.region))
        mounts = _signing_mounts(container)
        assert mounts[own] == f"{config.region}/keys", f"{name} mounts its region's key where the host loads it"
        assert set(mounts) == {own, str(config.key_directory)}, f"{name} sees no other private key"
        assert container["depends_on"]["signing-keys"]["condition"] == "service_completed_successfully", name
        key = load_key_from(volume / mounts[own], config.region)
        spoken[config.region] = (key.sign(b"hello"), key.key_id)
        assert config.key_directory is not None
        believed = key_directory_of(container, str(config.key_directory))
        assert {config.region, REGISTRY} | set(_regions()) <= believed.ring.regions(), name

    registry = SERVICES["registry"]
    args = registry_parser().parse_args(registry["command"][1:])
    mounts = _signing_mounts(registry)
    assert mounts[str(args.keys_dir)] == f"{REGISTRY}/keys", "the registry signs with its own key"
    assert set(mounts) == {str(args.keys_dir), str(args.key_directory)}, "and sees no region's private key"
    assert registry["depends_on"]["signing-keys"]["condition"] == "service_completed_successfully"
    registry_key = load_key_from(volume / mounts[str(args.keys_dir)], REGISTRY)
    spoken[REGISTRY] = (registry_key.sign(b"hello"), registry_key.key_id)
    believed = key_directory_of(registry, str(args.key_directory))
    for region in _regions():
        assert believed.ring.check(b"hello", *spoken[region], region) is None, f"the registry believes {region}"
        assert believed.ring.check(b"hello", *spoken[region], REGISTRY) is not None, f"{region} cannot decide"
    assert believed.ring.check(b"hello", *spoken[REGISTRY], REGISTRY) is None
    assert not list((volume / "public").glob("*.key")), "the shared directory holds public keys only"
    made = {path: path.read_bytes() for path in volume.rglob("*") if path.is_file()}
    make_keys([str(volume), *job["command"][1:]])
    assert made == {path: path.read_bytes() for path in volume.rglob("*") if path.is_file()}, "a rerun keeps the keys"


def test_the_image_makes_each_regions_key_mount_point_for_the_service_user() -> None:
    """A mount point Docker creates is root's: the service could then not write its region's directory."""
    dockerfile = (ROOT / "infra/Dockerfile").read_text()
    default = re.search(r'ARG TONGBAN_REGIONS="([^"]*)"', dockerfile)
    assert default is not None and sorted(default.group(1).split()) == _regions()
    for name in TONGBAN:
        assert sorted(SERVICES[name]["build"]["args"]["TONGBAN_REGIONS"].split()) == _regions(), name


def test_the_web_console_calls_every_front_door_over_tls_and_signs_clerks_in_with_their_regions_idp(
        tmp_path: Path) -> None:
    """Issue 16: the console runs in compose; it reaches every service of every region by its compose name
    over TLS, and a clerk's token is signed by the clerk's region's IdP (invariant 8)."""
    from services.cli import main as tongban
    from services.common.trust.tokens import TokenVerifier, TrustedKeys
    from services.host.cli import build_parser as serve_parser
    from services.web.cli import build_console, parse_endpoints
    from services.web.session import Clerk

    web = SERVICES["web"]
    args = cli_parser().parse_args(web["command"])
    assert args.func.__name__ == "cmd_web" and args.host == "0.0.0.0"
    assert any(p.endswith(f":{args.port}") for p in web["ports"])
    endpoints = parse_endpoints(args.endpoint)
    for name, container in SERVE.items():
        service, region = name.rsplit("-", 1)
        port = serve_parser().parse_args(container["command"][1:]).grpc.rsplit(":", 1)[1]
        assert endpoints.pop((region, service)) == f"{name}:{port}", name
        assert web["depends_on"][name]["condition"] in ("service_started", "service_healthy")
    assert endpoints == {}, "no endpoint without a container"
    assert str(args.tls_ca) == f"{TRUST_DIR}/ca.pem" and f"trust:{TRUST_DIR}:ro" in web["volumes"]
    assert web["depends_on"]["trust-init"]["condition"] == "service_completed_successfully"
    assert not [v for v in web["volumes"] if isinstance(v, dict)], "the console needs no Kafka secret or signing key"

    trust = tmp_path / "trust"
    assert tongban([str(part).replace(TRUST_DIR, str(trust)) for part in SERVICES["trust-init"]["command"]]) == 0
    idp = trust / Path(args.idp_keys).relative_to(TRUST_DIR)
    app = build_console(tmp_path / "web", parse_endpoints(args.endpoint), tls_ca=trust / "ca.pem", idp_keys=idp)
    assert sorted(app.state.config.regions) == _regions()
    offices = {"640000": "640104-MRO-01", "510000": "510802-MRO-01", "610000": "610113-MRO-01"}
    for region in _regions():
        clerk = Clerk(region=region, office=offices[region], clerk_id="c-07", role="registrar",
                      expires_at="2027-01-01T00:00:00Z")
        token = app.state.config.issue_credential(clerk)
        assert TokenVerifier(TrustedKeys.from_dir(idp / region, region)).verify(token).region == region
