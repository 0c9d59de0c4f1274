"""The host of one service of one region (docs/cross-region.md, "One service process").

A faust worker runs in the main thread (faust needs it). Its start-up hook starts, in threads:
the gRPC server (the service's servicers and the hand-off API, behind the grpc_context
interceptor), the outbox relay, and the deadline scheduler; they stop with the worker (SIGTERM or
SIGINT). The worker's agents consume the service's own topic and any topic it asks for, and
dispatch each message:

- on a topic with a raw handler (e.g. `tongban.registry.decisions.v1`, whose messages are not
  stored-event envelopes): to that handler, which keeps its own inbox;
- otherwise: decode and verify the envelope, pick the reactions for its event type, let each
  one's `wants` filter it (nothing is recorded for a message a reaction does not want, not even
  an inbox row), and apply the reaction through `consume` (the inbox: exactly one effect however
  often the message arrives).

A service provides a `ServiceDefinition`; `main(argv)` builds the host from arguments and
environment, so `tongban serve --service marriage --region 640000` can call it:

    python -m services.common.runtime --service marriage --region 640000 --kafka 127.0.0.1:9092

Refilling a broker that lost its data (invariant 1). Kafka gives every topic a UUID when it is
created; a broker that lost its data (the memory-only local one restarted, a wiped cluster)
recreates the topic under a new id. The store records the id of the topic its relay cursor counts
for. On start, and every `refill_check_interval` seconds, the host recreates the topic if it is
missing and compares ids: a different id with a cursor past 0 moves the cursor back to 0, so the
relay publishes the whole log again (consumers shrug off what they already processed). The
cursor is moved before the new id is saved, so a crash in between only refills twice."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import DecodeError
from sqlalchemy import BigInteger, Column, String, Table, insert, select, update
from sqlalchemy.exc import OperationalError

from services.common.clock import Clock, SystemClock
from services.common.clock_control import ControlledClock
from services.common.consumer import CorruptEnvelope, Handler, Headers, consume, decode
from services.common.deadlines import DeadlineHandler, DeadlineScheduler
from services.common.errors import ConcurrencyConflict, TongbanError
from services.common.events import RecordedEvent, to_micros
from services.common.grpc_context import create_server
from services.common.handoff import DEADLINE_HANDLERS as HANDOFF_DEADLINE_HANDLERS
from services.common.handoff import HandoffHooks, handoff_reaction, handoff_servicer_adder
from services.common.kafka_settings import ensure_topics, events_topic
from services.common.relay import OutboxRelay, Producer, kafka_producer
from services.common.store import EventStore, sqlite_url
from services.common.store.engine import WRITE
from services.common.store.schema import metadata
from services.common.telemetry import setup_tracing

log = logging.getLogger(__name__)

KAFKA_ENV = "TONGBAN_KAFKA"
DATA_ENV = "TONGBAN_DATA"
REGION_ENV = "TONGBAN_REGION"
GRPC_ENV = "TONGBAN_GRPC"
CLOCK_ENV = "TONGBAN_CLOCK"
TOPIC_PREFIX_ENV = "TONGBAN_TOPIC_PREFIX"
CLOCKS = ("system", "controlled")

ServicerFactory = Callable[[EventStore], Callable[[grpc.Server], None]]
# (store, key, value, headers) for a topic whose messages are not stored-event envelopes.
RawHandler = Callable[[EventStore, bytes | None, bytes, Headers], None]

# Which incarnation of a topic each relay cursor counts for (see the module docstring).
relay_topics = Table(
    "relay_topics",
    metadata,
    Column("relay", String(100), primary_key=True),
    Column("topic_id", String(64), nullable=False),
    Column("checked_at_us", BigInteger, nullable=False),
    # `python -m services.common.runtime` runs this file as __main__ and the service definition
    # imports it again as services.common.runtime: the second definition must not fail.
    extend_existing=True,
)


@dataclass(frozen=True)
class Reaction:
    """A service's reaction to stored events of some types, applied once per event through the
    inbox. `name` is the inbox consumer name: unique within the service and never renamed (a new
    name would process every event again). `topic` is a logical topic name (default: the service's
    own events topic). `wants`, if given, filters before any transaction."""

    name: str
    event_types: frozenset[str]
    handle: Handler
    topic: str | None = None
    wants: Callable[[RecordedEvent], bool] | None = None


@dataclass(frozen=True)
class ServiceDefinition:
    """What a service brings to its host. `handoff_hooks=None` leaves the hand-off API and
    reaction out (a service that never hands cases between regions)."""

    name: str
    servicers: Sequence[ServicerFactory] = ()
    reactions: Sequence[Reaction] = ()
    deadline_handlers: Mapping[str, DeadlineHandler] = field(default_factory=dict)
    raw_handlers: Mapping[str, RawHandler] = field(default_factory=dict)
    handoff_hooks: HandoffHooks | None = field(default_factory=HandoffHooks)


@dataclass(frozen=True)
class HostConfig:
    region: str
    kafka: str
    data_dir: Path
    store_url: str | None = None  # default: SQLite at <data_dir>/<region>/<service>.db
    grpc_address: str = "127.0.0.1:0"
    tracing: str | None = None  # none | console | otlp | memory (default: TONGBAN_TRACING, else none)
    topic_prefix: str = ""  # prepended to every topic and the group id (tests, side-by-side demos)
    clock: str = "system"  # or "controlled": real time plus the offset file under data_dir
    partitions: int = 4
    relay_interval: float = 0.2
    scheduler_interval: float = 1.0
    refill_check_interval: float = 30.0
    loglevel: str = "warning"

    def instance_dir(self, service: str) -> Path:
        return self.data_dir / self.region / service


class ServiceHost:
    """One service of one region: store, gRPC, relay, scheduler and the faust app. `prepare()`
    opens the store and the topics; `run()` runs the worker until a signal stops it."""

    def __init__(self, definition: ServiceDefinition, config: HostConfig, *, clock: Clock | None = None) -> None:
        self.definition = definition
        self.config = config
        self.service = definition.name
        self.region = config.region
        self.clock = clock or _clock(config)
        self.store: EventStore | None = None
        self.grpc_port: int | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: grpc.Server | None = None
        self._producer: Producer | None = None
        self._relay: OutboxRelay | None = None
        self._reactions = self._collect_reactions()
        self._by_topic_type: dict[tuple[str, str], list[Reaction]] = defaultdict(list)
        for reaction in self._reactions:
            for event_type in reaction.event_types:
                self._by_topic_type[(self._reaction_topic(reaction), event_type)].append(reaction)
        self._raw_handlers = {self.topic(name): handler for name, handler in definition.raw_handlers.items()}

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

    def topics(self) -> list[str]:
        """Every topic the host consumes: its own events topic first."""
        names = [self.events_topic, *(self._reaction_topic(r) for r in self._reactions), *self._raw_handlers]
        return list(dict.fromkeys(names))

    def _reaction_topic(self, reaction: Reaction) -> str:
        return self.topic(reaction.topic or events_topic(self.service))

    def _collect_reactions(self) -> list[Reaction]:
        reactions = list(self.definition.reactions)
        if self.definition.handoff_hooks is not None:
            reaction = handoff_reaction(self.region, self.definition.handoff_hooks, service=self.service)
            reactions.append(Reaction(name=reaction.name, event_types=reaction.event_types, handle=reaction,
                                      wants=reaction.wants))
        names = [r.name for r in reactions]
        if len(names) != len(set(names)):
            raise ValueError(f"reaction names must be unique within a service: {names}")
        return reactions

    # -- lifecycle ----------------------------------------------------------------------------

    def prepare(self) -> None:
        """Open the store (creating its tables), make sure the topics exist, and refill the broker
        if it lost this store's events."""
        self.config.instance_dir(self.service).mkdir(parents=True, exist_ok=True)
        url = self.config.store_url or sqlite_url(self.config.data_dir / self.region / f"{self.service}.db")
        self.store = EventStore.open(url, region=self.region, service=self.service, clock=self.clock)
        ensure_topics(self.config.kafka, self.topics(), partitions=self.config.partitions)
        self._producer = kafka_producer(self.config.kafka)
        self._relay = OutboxRelay(self.store, self._producer, self.events_topic)
        refill_if_broker_lost(self.store, self._relay, self.config.kafka, partitions=self.config.partitions)

    def start_background(self) -> None:
        """gRPC server, relay and scheduler threads (the worker's start-up hook)."""
        store, relay = self._require()
        adders = [factory(store) for factory in self.definition.servicers]
        if self.definition.handoff_hooks is not None:
            adders.append(handoff_servicer_adder(store, self.definition.handoff_hooks))
        self._server, self.grpc_port = create_server(self.config.grpc_address, servicers=adders)
        self._server.start()
        handlers = {**HANDOFF_DEADLINE_HANDLERS, **self.definition.deadline_handlers} \
            if self.definition.handoff_hooks is not None else dict(self.definition.deadline_handlers)
        scheduler = DeadlineScheduler(store, self.clock, handlers, name=f"{self.service}-{self.region}")
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._relay_loop, args=(relay,), name="relay", daemon=True),
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

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=10)
            self._producer = None
        if self.store is not None:
            self.store.close()

    def run(self) -> int:
        """Prepare, then run the faust worker in this (main) thread until SIGTERM/SIGINT."""
        import faust

        setup_tracing(f"tongban-{self.service}", region=self.region, exporter=self.config.tracing)
        self.prepare()
        try:
            app = self.build_app()
            worker = faust.Worker(app, _host_service(self), loglevel=self.config.loglevel, quiet=True,
                                  redirect_stdouts=False)
            try:
                worker.execute_from_commandline()
            except SystemExit as done:
                return int(done.code or 0)
            return 0
        finally:
            self.close()

    def build_app(self) -> Any:
        from services.common.faust_app import create_app, raw_topic

        app = create_app(self.group_id, self.config.kafka, datadir=self.config.instance_dir(self.service) / "faust")
        for index, name in enumerate(self.topics()):
            app.agent(raw_topic(app, name), name=f"{self.group_id}.dispatch-{index}")(self._agent(name))
        return app

    def _agent(self, topic: str) -> Callable[[Any], Any]:
        async def dispatch_all(stream: Any) -> None:
            async for event in stream.events():
                # The store is synchronous: keep the event loop (heartbeats) free meanwhile.
                await asyncio.to_thread(self.dispatch, topic, event.key, event.value, event.headers)

        return dispatch_all

    # -- dispatch -----------------------------------------------------------------------------

    def dispatch(self, topic: str, key: bytes | None, value: bytes, headers: Headers) -> None:
        """Handle one message of `topic` (a prefixed name). Never raises for a bad message: it is
        logged and skipped, and stays unprocessed in the inbox, so a republish brings it back."""
        store, _ = self._require()
        raw = self._raw_handlers.get(topic)
        if raw is not None:
            self._guarded(f"raw message on {topic}", lambda: raw(store, key, value, headers))
            return
        try:
            event = decode(value)
        except (CorruptEnvelope, ValueError, DecodeError) as exc:
            log.error("dropping undecodable message on %s: %s", topic, exc)
            return
        for reaction in self._by_topic_type.get((topic, event.type), ()):
            if reaction.wants is not None and not reaction.wants(event):
                continue
            what = f"{event.type} {event.event_id} ({reaction.name})"
            applied = self._guarded(what, lambda r=reaction: consume(store, r.name, value, headers, r.handle))
            if applied is not None:
                log.info("%s %s", "applied" if applied else "duplicate", what)

    def _guarded(self, what: str, work: Callable[[], Any]) -> Any:
        """Run `work`, retrying what a retry can fix: a version conflict with a concurrent writer
        (a few times), a database that went away (until it is back, or the host stops). A message
        refused by the protocol, or a bug, is logged and skipped; returns None then."""
        conflicts = 0
        delay = 0.1
        while True:
            try:
                return work()
            except ConcurrencyConflict as conflict:
                conflicts += 1
                if conflicts >= 10:
                    log.error("skipping %s: still conflicting after %d attempts: %s", what, conflicts, conflict)
                    return None
            except OperationalError:
                log.warning("database unavailable while handling %s; retrying in %.1fs", what, delay, exc_info=True)
                if self._stop.wait(delay):
                    raise
                delay = min(delay * 2, 5.0)
            except TongbanError as refused:
                log.warning("rejected %s: %s", what, refused)
                return None
            except Exception:
                log.exception("skipping %s: unexpected error", what)
                return None

    def _relay_loop(self, relay: OutboxRelay) -> None:
        store, _ = self._require()
        next_check = time.monotonic() + self.config.refill_check_interval
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + self.config.refill_check_interval
                    refill_if_broker_lost(store, relay, self.config.kafka, partitions=self.config.partitions)
                if relay.publish_pending():
                    continue
            except Exception:
                # The cursor only moves after the broker acknowledged: a retry never loses an event.
                log.exception("relay %s failed; retrying with a new producer", relay.name)
                self._renew_producer(relay)
            self._stop.wait(self.config.relay_interval)

    def _renew_producer(self, relay: OutboxRelay) -> None:
        """Replace the relay's producer. An idempotent producer whose broker restarted empty asks
        for a new producer id and, refused (tansu answers InitProducerId with UnknownError), stays
        in a fatal state for good; a fresh one starts clean."""
        old = self._producer
        try:
            self._producer = relay.producer = kafka_producer(self.config.kafka)
        except Exception:
            log.exception("relay %s: cannot create a producer yet", relay.name)
            return
        if old is not None:
            try:
                old.close(timeout=0)
            except Exception:
                log.debug("closing the failed producer failed", exc_info=True)

    def _require(self) -> tuple[EventStore, OutboxRelay]:
        if self.store is None or self._relay is None:
            raise RuntimeError("ServiceHost.prepare() has not run")
        return self.store, self._relay


def _host_service(host: ServiceHost) -> Any:
    """A mode.Service that the faust worker starts and stops with itself (defined here so that
    importing this module does not import faust)."""
    import mode

    class HostService(mode.Service):
        async def on_start(self) -> None:
            await asyncio.to_thread(host.start_background)

        async def on_stop(self) -> None:
            await asyncio.to_thread(host.stop_background)

    return HostService()


def _clock(config: HostConfig) -> Clock:
    if config.clock == "controlled":
        return ControlledClock(config.data_dir)
    if config.clock == "system":
        return SystemClock()
    raise ValueError(f"clock must be one of {CLOCKS}, not {config.clock!r}")


# --- refilling a broker that lost its data ------------------------------------------------------


def topic_id(bootstrap: str, topic: str) -> str | None:
    """The UUID the broker gave `topic` when it created it; None if the broker does not say."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="tongban-topic-id")
    try:
        [described] = admin.describe_topics([topic])
    finally:
        admin.close()
    value = str(described.get("topic_id") or "")
    return None if not value or set(value) <= {"0", "-"} else value


def refill_if_broker_lost(store: EventStore, relay: OutboxRelay, bootstrap: str, *, partitions: int = 4) -> bool:
    """Recreate the relay's topic if it is missing; if the topic is not the one the relay's cursor
    counts for (a new topic id), publish the whole log again. Returns True when it moved the
    cursor back."""
    ensure_topics(bootstrap, [relay.topic], partitions=partitions)
    current = topic_id(bootstrap, relay.topic)
    if current is None:
        log.warning("broker gives no topic id for %s: cannot tell whether it lost its data", relay.topic)
        return False
    with store.engine.connect() as conn:
        recorded = conn.execute(select(relay_topics.c.topic_id).where(relay_topics.c.relay == relay.name)).scalar()
    if recorded == current:
        return False
    cursor = relay.cursor()
    if cursor > 0:
        log.warning("topic %s is new to relay %s (id %s, cursor counted for %s): republishing from position 0 "
                    "(%d events)", relay.topic, relay.name, current, recorded or "an unrecorded topic", cursor)
        relay.republish_from(0)
    now = to_micros(store.clock.now())
    with store.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        if recorded is None:
            conn.execute(insert(relay_topics).values(relay=relay.name, topic_id=current, checked_at_us=now))
        else:
            conn.execute(update(relay_topics).where(relay_topics.c.relay == relay.name)
                         .values(topic_id=current, checked_at_us=now))
    return cursor > 0


# --- command line ---------------------------------------------------------------------------------


def load_definition(service: str | None, definition: str | None) -> ServiceDefinition:
    """`--definition module:attr` (a ServiceDefinition or a function returning one), else the
    convention `services.<service>.bootstrap:service_definition`."""
    target = definition or f"services.{service}.bootstrap:service_definition"
    module_name, _, attr = target.partition(":")
    found = getattr(importlib.import_module(module_name), attr or "service_definition")
    result = found() if callable(found) and not isinstance(found, ServiceDefinition) else found
    if not isinstance(result, ServiceDefinition):
        raise TypeError(f"{target} is not a ServiceDefinition")
    if service and result.name != service:
        raise ValueError(f"{target} defines service {result.name!r}, not {service!r}")
    return result


def build_parser() -> argparse.ArgumentParser:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="tongban serve",
        description="Run one service of one region: gRPC front door, outbox relay, deadline scheduler and Kafka "
                    "consumers in one process. Stops cleanly on SIGTERM or Ctrl-C.",
        epilog="example: tongban serve --service marriage --region 640000 --kafka 127.0.0.1:9092")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--service", help="service name; its definition is services.<service>.bootstrap")
    which.add_argument("--definition", metavar="MODULE:ATTR", help="load the service definition from here")
    parser.add_argument("--region", default=env.get(REGION_ENV), help=f"GB/T 2260 code (env {REGION_ENV})")
    parser.add_argument("--kafka", default=env.get(KAFKA_ENV), help=f"bootstrap servers host:port (env {KAFKA_ENV})")
    parser.add_argument("--data-dir", type=Path, default=Path(env.get(DATA_ENV, "data")),
                        help=f"SQLite stores, faust state, endpoint files, the clock offset (env {DATA_ENV}, "
                             "default ./data)")
    parser.add_argument("--store", help="store URL or SQLite path (default <data-dir>/<region>/<service>.db)")
    parser.add_argument("--grpc", default=env.get(GRPC_ENV, "127.0.0.1:0"),
                        help=f"gRPC listen address (env {GRPC_ENV}; default 127.0.0.1:0, a free port, printed)")
    parser.add_argument("--tracing", choices=["none", "console", "otlp", "memory"],
                        help="span exporter (default: env TONGBAN_TRACING, else none)")
    parser.add_argument("--clock", choices=CLOCKS, default=env.get(CLOCK_ENV, "system"),
                        help=f"'controlled' adds the offset in <data-dir>/clock-offset (time travel; env {CLOCK_ENV})")
    parser.add_argument("--topic-prefix", default=env.get(TOPIC_PREFIX_ENV, ""),
                        help="prefix for every topic and the consumer group (side-by-side runs on one broker)")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of topics this host creates")
    parser.add_argument("--scheduler-interval", type=float, default=1.0, help="seconds between deadline passes")
    parser.add_argument("--relay-interval", type=float, default=0.2, help="seconds between idle relay polls")
    parser.add_argument("--refill-check-interval", type=float, default=30.0,
                        help="seconds between checks that the broker still holds this store's events")
    parser.add_argument("--loglevel", default="warning", choices=["debug", "info", "warning", "error"])
    return parser


def config_from_args(args: argparse.Namespace) -> HostConfig:
    if not args.region:
        raise SystemExit(f"--region (or {REGION_ENV}) is required")
    if not args.kafka:
        raise SystemExit(f"--kafka (or {KAFKA_ENV}) is required")
    from services.common.errors import InvalidArgument
    from services.common.identity import RegionCode

    try:
        RegionCode.parse(args.region)
    except InvalidArgument as bad:
        raise SystemExit(f"--region {args.region!r}: {bad}") from None
    store = args.store
    if store and "://" not in store:
        store = sqlite_url(store)
    return HostConfig(
        region=args.region, kafka=args.kafka, data_dir=args.data_dir, store_url=store, grpc_address=args.grpc,
        tracing=args.tracing, topic_prefix=args.topic_prefix, clock=args.clock, partitions=args.partitions,
        relay_interval=args.relay_interval, scheduler_interval=args.scheduler_interval,
        refill_check_interval=args.refill_check_interval, loglevel=args.loglevel,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    definition = load_definition(args.service, args.definition)
    host = ServiceHost(definition, config_from_args(args))
    return host.run()


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy: service definitions import
    # services.common.runtime, and their ServiceDefinition must be the class main checks for.
    from services.common.runtime import main as _main

    sys.exit(_main())
