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

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
TONGBAN = {name: s for name, s in SERVICES.items() if s.get("image") == "tongban:dev"}
SERVE = {name: s for name, s in TONGBAN.items() if s["command"][0] == "serve"}


def _topics_created() -> set[str]:
    script = " ".join(SERVICES["kafka-topics"]["command"])
    return set(re.search(r"for topic in (.*?); do", script).group(1).split())  # type: ignore[union-attr]


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
    from services.common.kafka_settings import events_topic
    from services.common.registry import DECISIONS_TOPIC

    created = _topics_created()
    services = {s["command"][s["command"].index("--service") + 1] for s in SERVE.values()}
    for service in services:
        assert events_topic(service) in created
    assert DECISIONS_TOPIC in created
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
        kafka_host = config.kafka.split(":")[0]
        assert kafka_host in SERVICES and f"PLAINTEXT://{config.kafka}" in str(SERVICES["kafka"]["environment"])
        grpc_port = config.grpc_address.rsplit(":", 1)[1]
        assert any(p.endswith(f":{grpc_port}") for p in container["ports"]), "the gRPC port is published"
        otlp = urlparse(container["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert otlp.hostname in SERVICES and container["environment"]["TONGBAN_TRACING"] == "otlp"
        assert container["healthcheck"]["test"][1:3] == ["tongban", "health"]
        assert container["healthcheck"]["test"][3].endswith(f":{grpc_port}")


def test_the_registry_worker_parses_its_command() -> None:
    from services.common.registry.worker import build_parser as registry_parser

    args = registry_parser().parse_args(SERVICES["registry"]["command"][1:])
    assert args.service_topics


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
        health = container["healthcheck"]["test"]
        assert health[health.index("--tls-ca") + 1] == f"{TRUST_DIR}/ca.pem", "the healthcheck speaks TLS"
    assert tongban(command) == 0, "running it again keeps what is there"
