"""What a local stack is made of, as `tongban up`, the demo and the benches ask for it: its
regions and services, its broker, its clock, its knobs, and where it keeps things under its data
directory. Light on imports: the command-line parsers read their defaults from here."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from services.stack.restart import RestartPolicy
from services.stack.stackfile import LOGS_DIR

DEFAULT_REGIONS = ("640000", "510000", "610000")
KAFKA_ENV = "TONGBAN_KAFKA"
DATA_ENV = "TONGBAN_DATA"
TOPIC_PREFIX_ENV = "TONGBAN_TOPIC_PREFIX"
REGISTRY_DATADIR = Path("registry", "faust")  # the worker's --datadir; named in its faust days, kept for old stacks


def available_services() -> tuple[str, ...]:
    """The services this checkout can host: the catalogue's, in its order."""
    from services import catalogue

    return catalogue.names()


@dataclass(frozen=True)
class StackConfig:
    data_dir: Path
    regions: tuple[str, ...] = DEFAULT_REGIONS
    services: tuple[str, ...] = ()  # default: every available service
    kafka: str | None = None  # None: start the local broker
    topic_prefix: str = ""  # prefixes topics, group ids and the registry's app id (a shared broker)
    clock: str = "controlled"
    start_timeout: float = 120.0
    stop_timeout: float = 30.0
    scheduler_interval: float = 1.0
    relay_interval: float = 0.2
    loglevel: str = "warning"
    # The web console: None runs none (tests of the stack alone), 0 a free port, else this port.
    web_port: int | None = None
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    tls: bool = False  # gRPC over TLS, with a development CA under DIR/tls (made once)

    def service_names(self) -> tuple[str, ...]:
        return self.services or available_services()

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / LOGS_DIR

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}.{name}" if self.topic_prefix else name

    @property
    def registry_app_id(self) -> str:
        from services.common.registry.worker import DEFAULT_APP_ID

        return f"{self.topic_prefix}-registry" if self.topic_prefix else DEFAULT_APP_ID
