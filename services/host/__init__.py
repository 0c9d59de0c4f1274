"""The service host: one service of one region in one process (gRPC, relay, scheduler, Kafka
consumers), built from the service's definition and composition root."""

from services.host.definition import (
    Infrastructure,
    RawHandler,
    Reaction,
    ServiceDefinition,
    ServicerAdder,
    Wiring,
)
from services.host.host import CLOCKS, HostConfig, ServiceHost
from services.host.refill import refill_if_broker_lost, topic_id

__all__ = [
    "CLOCKS",
    "HostConfig",
    "Infrastructure",
    "RawHandler",
    "Reaction",
    "ServiceDefinition",
    "ServiceHost",
    "ServicerAdder",
    "Wiring",
    "refill_if_broker_lost",
    "topic_id",
]
