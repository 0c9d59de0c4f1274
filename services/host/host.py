"""The host of one service of one region (docs/cross-region.md, "One service process").

An asyncio loop runs in the main thread. It starts, in threads: the gRPC server (the service's
servicers and the hand-off API, behind the grpc_context interceptor, with server reflection), the
outbox relay, and the deadline scheduler; they stop with the host (SIGTERM or SIGINT). On the loop,
the host's consumer (consuming.py) reads the region's own hand-off topic, its registry decisions
and any topic the service asks for (invariant 10: not the whole country's events of its service),
and hands each batch to the dispatcher (dispatch.py).

`prepare()` opens the store, then calls the service's composition root once (definition.py), and
refills the broker if it lost this store's events (refill.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

from services.common import deadlines, heap
from services.common.audit.grpc_api import audit_servicer_adder
from services.common.clock import Clock, SystemClock
from services.common.clock_control import ControlledClock
from services.common.consumer import Headers, MessageGate
from services.common.deadlines import DeadlineScheduler
from services.common.grpc_context import create_server
from services.common.handoff import DEADLINE_HANDLERS as HANDOFF_DEADLINE_HANDLERS
from services.common.handoff import handoff_reaction, handoff_servicer_adder
from services.common.handoff import projections as handoff_projections
from services.common.handoff.topics import handoff_route, handoffs_topic
from services.common.kafka_settings import aiokafka_consumer_config, ensure_topics, events_topic
from services.common.kit import requests as command_requests
from services.common.log_format import LOG_FORMAT
from services.common.payments.api import payment_servicer_adder
from services.common.readiness import clear_consuming, mark_consuming
from services.common.registry.resend import ClaimResender
from services.common.registry.topics import DECISIONS_TOPIC, consumed_decision_topics, redundant_on_the_national_record
from services.common.relay import OutboxRelay
from services.common.relay_backlog import PREPARE_TIMEOUT
from services.common.relay_producer import relay_producer
from services.common.store import EventStore, sqlite_url
from services.common.telemetry import setup_tracing
from services.common.trust.authenticator import TokenAuthenticator
from services.common.trust.keys import REGISTRY, KeyDirectory, ensure_region_key, keys_dir
from services.common.trust.signing import DECISION_PURPOSE, EnvelopeSigner
from services.common.trust.tls import ServerTls
from services.host.definition import Infrastructure, RawHandler, Reaction, ServiceDefinition, Wiring
from services.host.dispatch import DISPATCH_BATCH, Dispatcher
from services.host.refill import TABLES as RELAY_TOPIC_TABLES
from services.host.refill import refill_if_broker_lost
from services.host.relay_loop import RelayLoop

if TYPE_CHECKING:
    from services.host.consuming import HostConsumer

log = logging.getLogger(__name__)

CLOCKS = ("system", "controlled")
# What every host uses whatever its service: deadlines (the scheduler), the hand-off tables (its
# API and reaction), which topic each relay cursor counts for, and the commands' request ids
# (the unit of work's, invariant 9).
HOST_TABLES = (deadlines.TABLES, handoff_projections.TABLES, RELAY_TOPIC_TABLES, command_requests.TABLES)
# The front door's knobs (docs/store-performance.md, "The front door"), overridable by the
# environment so `tongban bench api` can measure a stack with others.
GRPC_WORKERS_ENV = "TONGBAN_GRPC_WORKERS"
GROUP_COMMIT_ENV = "TONGBAN_GROUP_COMMIT"
DEFAULT_GRPC_WORKERS = 16
# Group commit (store/group.py): concurrent commands share one commit (one fsync), each still in
# its own savepoint with its own conflict check. On because no transaction body of any component
# waits on anything but its own store (no network, no broker, no other service): a body that did
# would stall every writer of the store behind it (docs/store-performance.md, "The front door").
# Without it, SQLite writers queue on busy_timeout, whose sleeps (up to 100 ms each) are where a
# RegisterMarriage under 50 clients spent most of its time. 0 gives every transaction its own commit.
DEFAULT_GROUP_COMMIT = 64  # commands per shared commit at most


@dataclass(frozen=True)
class HostConfig:
    region: str
    kafka: str
    data_dir: Path
    store_url: str | None = None  # default: SQLite at <data_dir>/<region>/<service>.db
    # The public keys this host trusts (services/common/trust/keys.py, KeyDirectory). Default: the
    # data directory's development layout. The region's own signing key is always
    # <data_dir>/<region>/keys/signing.key (made on first start when missing).
    key_directory: Path | None = None
    grpc_address: str = "127.0.0.1:0"
    tracing: str | None = None  # none | console | otlp | memory (default: TONGBAN_TRACING, else none)
    topic_prefix: str = ""  # prepended to every topic and the group id (tests, side-by-side demos)
    clock: str = "system"  # or "controlled": real time plus the offset file under data_dir
    partitions: int = 4
    relay_interval: float = 0.2
    scheduler_interval: float = 1.0
    refill_check_interval: float = 30.0
    # A claim whose answer from the registry has not come this long after it was recorded is sent
    # again from the store (services/common/registry/resend.py); checked every resend_check_interval.
    claim_resend_after: float = 20.0
    resend_check_interval: float = 10.0
    loglevel: str = "warning"
    # The public keys of the region's identity provider that callers' tokens must be signed with
    # (default <data_dir>/<region>/keys/idp, where `tongban up` keeps its development IdP).
    idp_keys: Path | None = None
    # The national IdP's public keys, trusted for a national auditor's audit reads only (default
    # <data_dir>/national/keys/idp; none there: no national auditor is trusted).
    national_idp_keys: Path | None = None
    tls: ServerTls | None = None  # TLS on the gRPC port (mutual TLS with a client CA); None: plaintext

    def instance_dir(self, service: str) -> Path:
        return self.data_dir / self.region / service


class ServiceHost:
    """One service of one region: store, gRPC, relay, scheduler and the consumer. `prepare()`
    opens the store and the topics; `run()` serves until a signal stops it."""

    def __init__(self, definition: ServiceDefinition, config: HostConfig, *, clock: Clock | None = None,
                 settings: Any = None) -> None:
        self.definition = definition
        self.settings = settings
        self.config = config
        self.service = definition.name
        self.region = config.region
        self.clock = clock or _clock(config)
        self.store: EventStore | None = None
        self.grpc_port: int | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: grpc.Server | None = None
        self._relay: OutboxRelay | None = None
        self._resender: ClaimResender | None = None
        self.wiring: Wiring | None = None  # the service's composition root, called once by prepare()
        self._reactions: list[Reaction] = []
        self._raw_handlers: dict[str, RawHandler] = {}
        self._dispatcher: Dispatcher | None = None
        self.gate: MessageGate | None = None  # what this host refused is counted here and recorded
        self.authenticator: TokenAuthenticator | None = None  # proves every gRPC caller (prepare())

    # -- names ------------------------------------------------------------------------------

    def topic(self, name: str) -> str:
        return f"{self.config.topic_prefix}.{name}" if self.config.topic_prefix else name

    @property
    def events_topic(self) -> str:
        return self.topic(events_topic(self.service))

    @property
    def group_id(self) -> str:
        return self.topic(f"tongban-{self.service}-{self.region}")

    @property
    def endpoint_file(self) -> Path:
        return self.config.data_dir / self.region / f"{self.service}.endpoint"

    @property
    def consuming_marker(self) -> Path:
        return self.config.data_dir / self.region / f"{self.service}.consuming"

    @property
    def handoffs_topic(self) -> str:
        """The hand-offs addressed to this region (handoff/topics.py): the one hand-off topic it reads."""
        return handoffs_topic(self.events_topic, self.region)

    def topics(self) -> list[str]:
        """Every topic the host consumes. Not its service's events topic, which carries the whole
        country's events: what concerns this region of it (hand-offs) comes on its own topic."""
        names = [*(self._reaction_topic(r) for r in self._reactions), *self._raw_handlers]
        return list(dict.fromkeys(names))

    def _decision_topics(self) -> list[str]:
        """Where this region hears the registry: its own decisions and the national record (invariant 10)."""
        return consumed_decision_topics(self.region, self.topic(DECISIONS_TOPIC))

    def _raw_topics(self, handlers: Mapping[str, RawHandler]) -> dict[str, RawHandler]:
        """The service's raw handlers by the topics they read: a handler of DECISIONS_TOPIC reads
        this region's decisions topic and the national record."""
        topics: dict[str, RawHandler] = {}
        for name, handler in handlers.items():
            names = self._decision_topics() if name == DECISIONS_TOPIC else [self.topic(name)]
            topics.update(dict.fromkeys(names, handler))
        return topics

    def _reaction_topic(self, reaction: Reaction) -> str:
        return self.topic(reaction.topic or events_topic(self.service))

    def _collect_reactions(self, wiring: Wiring) -> list[Reaction]:
        reactions = list(wiring.reactions)
        if wiring.handoff_hooks is not None:
            reaction = handoff_reaction(self.region, wiring.handoff_hooks, service=self.service)
            reactions.append(Reaction(name=reaction.name, event_types=reaction.event_types, handle=reaction,
                                      topic=handoffs_topic(events_topic(self.service), self.region),
                                      wants=reaction.wants))
        names = [r.name for r in reactions]
        if len(names) != len(set(names)):
            raise ValueError(f"reaction names must be unique within a service: {names}")
        return reactions

    # -- lifecycle ----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Open the store (creating its tables), wire the service once over it, make sure the
        topics exist, and refill the broker if it lost this store's events."""
        self.config.instance_dir(self.service).mkdir(parents=True, exist_ok=True)
        # Before anything else: a host that cannot verify callers must not start at all.
        self.authenticator = TokenAuthenticator.from_data_dir(self.config.data_dir, self.region,
                                                              keys_dir=self.config.idp_keys,
                                                              national_keys=self.config.national_idp_keys)
        url = self.config.store_url or sqlite_url(self.config.data_dir / self.region / f"{self.service}.db")
        self.store = EventStore.open(url, region=self.region, service=self.service, clock=self.clock,
                                     tables=[*HOST_TABLES, *self.definition.tables],
                                     group_commit=_env_int(GROUP_COMMIT_ENV, DEFAULT_GROUP_COMMIT))
        self.wiring = self.definition.wire(Infrastructure(self.store, self.clock, self.region, self.settings,
                                                          offices=self.authenticator.offices))
        self._reactions = self._collect_reactions(self.wiring)
        self._raw_handlers = self._raw_topics(self.wiring.raw_handlers)
        # Invariant 8: this region signs what it publishes, and acts only on what verifies.
        key = ensure_region_key(self.config.data_dir, self.region)
        signer = EnvelopeSigner(key, directory=keys_dir(self.config.data_dir, self.region))  # follows a rotation
        self.gate = MessageGate(self.store, KeyDirectory(self.config.key_directory or self.config.data_dir, own=key))
        self._dispatcher = Dispatcher(
            self.store, [(self._reaction_topic(r), r) for r in self._reactions], self._raw_handlers, self._stop,
            gate=self.gate, raw_signers=dict.fromkeys(self._decision_topics(), (REGISTRY, DECISION_PURPOSE)),
            raw_skips=redundant_on_the_national_record(self.region, self.topic(DECISIONS_TOPIC)))
        ensure_topics(self.config.kafka, self.topics(), partitions=self.config.partitions)
        # A hand-off message also goes to its addressee's hand-off topic; made on first use if the
        # admin has not made it (a deployment's admin makes every region's: kafka-setup, `tongban up`).
        self._relay = OutboxRelay(self.store, relay_producer(self.config.kafka), self.events_topic, signer=signer,
                                  extra_topics=handoff_route(self.events_topic),
                                  prepare_topics=lambda names: ensure_topics(self.config.kafka, names,
                                                                             partitions=self.config.partitions,
                                                                             timeout=PREPARE_TIMEOUT))
        refill_if_broker_lost(self.store, self._relay, self.config.kafka, partitions=self.config.partitions)
        self._resender = ClaimResender(self.store, self._relay.publish_again,
                                       resend_after=timedelta(seconds=self.config.claim_resend_after))

    def start_background(self) -> None:
        """gRPC server, relay and scheduler threads (the worker's start-up hook)."""
        store, relay = self._require()
        wiring = self.wiring
        assert wiring is not None
        adders = list(wiring.servicers)
        adders.append(audit_servicer_adder(store, region=self.region, service=self.service, clock=self.clock))
        if wiring.handoff_hooks is not None:
            adders.append(handoff_servicer_adder(store, wiring.handoff_hooks))
        if wiring.payments is not None:
            adders.append(payment_servicer_adder(wiring.payments))
        assert self.authenticator is not None
        tls = self.config.tls
        self._server, self.grpc_port = create_server(self.config.grpc_address, servicers=adders,
                                                     authenticator=self.authenticator,
                                                     credentials=tls.credentials() if tls else None,
                                                     max_workers=_env_int(GRPC_WORKERS_ENV, DEFAULT_GRPC_WORKERS))
        self._server.start()
        handlers = {**HANDOFF_DEADLINE_HANDLERS, **wiring.deadline_handlers} \
            if wiring.handoff_hooks is not None else dict(wiring.deadline_handlers)
        scheduler = DeadlineScheduler(store, self.clock, handlers, name=f"{self.service}-{self.region}")
        self._stop.clear()
        self._threads = [
            threading.Thread(target=RelayLoop(
                store, relay, self.config.kafka, self.config.partitions, self._resender, self.config.relay_interval,
                self.config.refill_check_interval, self.config.resend_check_interval).run, args=(self._stop,),
                name="relay", daemon=True),
            threading.Thread(target=scheduler.run, args=(self._stop, self.config.scheduler_interval),
                             name="deadlines", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        host = self.config.grpc_address.rsplit(":", 1)[0]
        endpoint = f"{host}:{self.grpc_port}"
        self.endpoint_file.write_text(endpoint + "\n")
        print(f"tongban {self.service} {self.region}: gRPC on {endpoint}", flush=True)

    def stop_background(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.stop(grace=5).wait()
        for thread in self._threads:
            thread.join(timeout=15)
        self._threads = []
        self.endpoint_file.unlink(missing_ok=True)
        clear_consuming(self.consuming_marker)

    def close(self) -> None:
        if self._relay is not None:
            self._relay.producer.close(timeout=10)
            self._relay = None
        if self.store is not None:
            self.store.close()

    def run(self) -> int:
        """Prepare, then serve until SIGTERM or SIGINT (exit 0), or until the consumer fails (exit 1,
        logged: the supervisor restarts the host, which reads on from the last committed batch)."""
        setup_tracing(f"tongban-{self.service}", region=self.region, exporter=self.config.tracing)
        logging.basicConfig(level=self.config.loglevel.upper(), format=LOG_FORMAT)
        self.prepare()
        try:
            heap.settle()
            return asyncio.run(self._serve())
        finally:
            self.close()

    async def _serve(self) -> int:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        await asyncio.to_thread(self.start_background)
        consumer = self.consumer()
        consuming = asyncio.ensure_future(consumer.run())
        stopped = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait({consuming, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            self._stop.set()  # a dispatch retrying a lost database gives up, so the consumer can stop
            consumer.stop()
            await asyncio.gather(consuming, return_exceptions=True)
            await asyncio.to_thread(self.stop_background)
        if stopping.is_set():
            return 0
        failure = consuming.exception()
        log.error("the %s consumer of %s stopped: %s", self.service, self.region, failure or "for no reason",
                  exc_info=failure)
        return 1

    def consumer(self) -> HostConsumer:
        """The host's consumer of its topics (consuming.py), in the host's group."""
        from services.host.consuming import HostConsumer  # aiokafka: only where a host consumes

        dispatcher = self._dispatcher
        if dispatcher is None:
            raise RuntimeError("ServiceHost.prepare() has not run")
        return HostConsumer(aiokafka_consumer_config(self.config.kafka, self.group_id), self.topics(),
                            dispatcher.dispatch_batch, batch=DISPATCH_BATCH,
                            on_assigned=lambda: mark_consuming(self.consuming_marker))

    # -- dispatch -----------------------------------------------------------------------------

    def dispatch(self, topic: str, key: bytes | None, value: bytes, headers: Headers) -> None:
        """Handle one message of `topic` (a prefixed name): see dispatch.py."""
        if self._dispatcher is None:
            raise RuntimeError("ServiceHost.prepare() has not run")
        self._dispatcher.dispatch(topic, key, value, headers)

    def _require(self) -> tuple[EventStore, OutboxRelay]:
        if self.store is None or self._relay is None:
            raise RuntimeError("ServiceHost.prepare() has not run")
        return self.store, self._relay


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    value = int(raw)  # a typo must stop the host, not quietly run it with the default
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, not {value}")
    return value


def _clock(config: HostConfig) -> Clock:
    if config.clock == "controlled":
        return ControlledClock(config.data_dir)
    if config.clock == "system":
        return SystemClock()
    raise ValueError(f"clock must be one of {CLOCKS}, not {config.clock!r}")
