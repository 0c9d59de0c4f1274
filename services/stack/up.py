"""`tongban up`: the supervisor of a whole local stack on one machine.

Children, started in this order and stopped in the reverse one:
1. the broker: the local tansu broker (memory-only) on a free loopback port, unless a Kafka is
   given (`--kafka` or TONGBAN_KAFKA);
2. the registry worker (`tongban registry`), its person records in DIR/registry/persons.db
   (registry_store.py);
3. `tongban serve` for every region and service, each with its SQLite store under DIR, its gRPC
   server on a free port, relay, deadline scheduler and consumers, on the controlled clock
   (services/common/clock_control.py) so the demo can move time for all of them.

Once every gRPC endpoint answers the health service and every consumer (the registry's, each
service's) has its partitions (consumers.py), the supervisor writes `DIR/stack.json` (stackfile.py)
and prints the endpoints. A child that dies before that stops the start (exit 1, with
its log's tail): a stack that never served has a configuration problem, not a crash. From then on
the stack heals itself: a child that dies is reported and restarted with backoff, the rest keeps
running, and a restarted service's new endpoint replaces its old one in the stack file
(supervisor.py: what is restarted, when, and what a broker restart implies; restart.py: backoff
and when to give up). Ctrl-C or SIGTERM stops it cleanly (exit 0). Children run in their own
process group, so the terminal's Ctrl-C reaches only the supervisor, which stops the services
first (their relays flush to a broker that is still there), then the registry, then the broker;
and each child is told by the kernel to stop if the supervisor dies (PR_SET_PDEATHSIG).

A restart on the same DIR resumes: the stores are on disk, each service host refills a fresh
broker from its store (services/host/), and the registry worker finds its records in its own
store."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from services.common.trust.development import LoopbackTls, development_trust, health_serving
from services.common.trust.keys import REGISTRY, keys_dir, provision_development_keys
from services.stack.children import Child, spawn, stop_child
from services.stack.config import REGISTRY_DATADIR, TOPIC_PREFIX_ENV, StackConfig
from services.stack.stackfile import (
    DataDirLock,
    Endpoint,
    StackInfo,
    remove_stack,
    write_stack,
)
from services.stack.web_child import ConsoleNotAnswering, PortInUse, WebConsoleChild

REGISTRY_PARTITIONS = 8
_GRACE_WITHOUT_BROKER = 3.0  # seconds between SIGTERM and SIGKILL for children whose broker died
# Environment tansu would read in place of its flags (as infra/local_broker.py strips them).
_TANSU_ENV = frozenset({"CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "SCHEMA_REGISTRY",
                        "OTEL_EXPORTER_OTLP_ENDPOINT"})
_PROJECT_ROOT = Path(__file__).resolve().parents[2]


class StackError(RuntimeError):
    """The stack could not start."""


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    # The children run `python -m services.cli`: make the project importable whatever the cwd.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop(TOPIC_PREFIX_ENV, None)  # given explicitly on each command line
    return env



class Stack:
    """The supervisor. `start()` brings everything up and returns the StackInfo it wrote;
    `supervise(stop)` watches until `stop` is set or a child dies; `stop()` takes it all down (safe to
    call twice, and after a failed start)."""

    def __init__(self, config: StackConfig, *, out: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.out = out or (lambda line: print(line, flush=True))
        self.info: StackInfo | None = None
        self._lock = DataDirLock(config.data_dir)
        self._broker: Child | None = None
        self._broker_address = config.kafka or ""
        self._registry: Child | None = None
        self._services: list[Child] = []
        self._web: Child | None = None
        self._console: WebConsoleChild | None = None
        self._stopped = False
        self._started = time.monotonic()
        self._tls: LoopbackTls | None = None  # with --tls: the CA and the front doors' certificate

    # -- start ----------------------------------------------------------------------------------

    def start(self) -> StackInfo:
        config = self.config
        services = config.service_names()
        if not services:
            raise StackError("no service to run: this checkout has no services/<name>/bootstrap.py")
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock.acquire()
        try:
            remove_stack(config.data_dir)  # left over from a supervisor that was killed
            # Every region and the registry sign what they publish; the data directory is the key
            # directory they all read (production mounts one instead: README, "Trust model").
            provision_development_keys(config.data_dir, config.regions)
            self._tls = development_trust(config.data_dir, config.regions, tls=config.tls, out=self.out)
            self._start_broker()
            self._start_registry()
            for region in config.regions:
                for service in services:
                    self._start_service(region, service)
            self._wait_until_serving()
            self._wait_until_consuming()
            info = StackInfo(
                data_dir=str(config.data_dir), kafka=self._broker_address, local_broker=self._broker is not None,
                topic_prefix=config.topic_prefix, clock=config.clock, supervisor_pid=os.getpid(),
                started_at=datetime.now(UTC).isoformat(timespec="seconds"),
                broker_pid=self._broker.process.pid if self._broker else None,
                registry_pid=self._registry.process.pid if self._registry else None,
                endpoints=tuple(Endpoint(c.region, c.service, c.address, c.process.pid) for c in self._services),
                tls_ca=str(self._tls.ca) if self._tls else "",
            )
            write_stack(config.data_dir, info)
            self.info = info
            if config.web_port is not None:
                self._console = WebConsoleChild(config.data_dir, config.logs_dir, config.web_port, _child_env)
                url = self._start_console()
                info = self.info = replace(info, web_url=url)
                write_stack(config.data_dir, info)
            return info
        except BaseException:
            self.stop()
            raise

    def _start_console(self) -> str:
        """The console's URL once it answers. A console that died while starting is started once
        more before the stack gives up: grpc's event engine was seen to abort a starting console
        (epoll_wait: bad file descriptor) on a loaded machine, and a second start came up."""
        assert self._console is not None
        for attempt in (1, 2):
            try:
                self._web = self._console.spawn(restart=attempt > 1)
                return self._console.wait_until_answering(self.config.start_timeout, self.check)
            except PortInUse as failed:
                raise StackError(str(failed)) from None
            except ConsoleNotAnswering as failed:
                if attempt > 1 or self._web is None or self._web.process.poll() is None:
                    raise StackError(str(failed)) from None
                self._web.expected_exit = True  # replaced below: check() must not report it again
                self.out(f"tongban up: the web console died while starting; starting it once more ({failed})")
        raise AssertionError("unreachable")

    def _start_broker(self, keep_port: int | None = None) -> None:
        """Start the local broker; on `keep_port` when given (a restart: clients holding the
        address reconnect), else on a free port, which is also the fallback when the kept port
        was taken meanwhile."""
        if self.config.kafka:
            self.out(f"  broker    {self.config.kafka} (given)")
            return
        from infra.brokers import free_ports, log_says_address_in_use, wait_until_answers
        from infra.local_broker import tansu_binary

        binary = tansu_binary()
        # LocalBroker's own spawn leaves tansu in the supervisor's process group, where the
        # terminal's Ctrl-C would stop it before the services flushed to it; started here instead.
        for attempt in range(3):
            port = keep_port if keep_port and attempt == 0 else free_ports(1)[0]
            url = f"tcp://127.0.0.1:{port}"
            log_path = self.config.logs_dir / "broker.log"
            env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
            child = spawn("broker", [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url],
                          log_path, env=env)
            self._broker = child
            address = f"127.0.0.1:{port}"
            try:
                wait_until_answers(address, child.process, log_path, 30.0, "tansu")
            except Exception:
                stop_child(child, 5)
                self._broker = None
                if attempt < 2 and log_says_address_in_use(log_path):
                    continue  # someone took the port between choosing and binding it
                raise
            self._broker_address = address
            self.out(f"  broker    {address} (local tansu, memory-only: refilled from the stores)")
            return

    def _start_registry(self) -> None:
        from services.stack.registry_store import prepare_registry_store

        # A local broker is always a fresh one (memory-only); a given Kafka kept the claims topic.
        taken = prepare_registry_store(self.config.data_dir, fresh_broker=self._broker is not None)
        if taken:
            self.out(f"  registry  took in {taken} person records from an older stack's table backup")
        self._spawn_registry()

    def _spawn_registry(self) -> Child:
        from services import catalogue
        from services.common.kafka_settings import events_topic
        from services.common.registry.topics import CLAIMS_TOPIC, DECISIONS_TOPIC
        from services.stack.registry_store import store_url

        config = self.config
        argv = [sys.executable, "-m", "services.cli", "registry", "--kafka", self._broker_address,
                "--app-id", config.registry_app_id, "--datadir", str(config.data_dir / REGISTRY_DATADIR),
                "--store", store_url(config.data_dir),
                "--claims-topic", config.topic(CLAIMS_TOPIC), "--decisions-topic", config.topic(DECISIONS_TOPIC),
                "--partitions", str(REGISTRY_PARTITIONS), "--loglevel", config.loglevel,
                "--keys", str(keys_dir(config.data_dir, REGISTRY)), "--key-directory", str(config.data_dir)]
        for service in catalogue.claiming():  # the services whose topics carry claims
            argv += ["--service-topic", config.topic(events_topic(service))]
        self._registry = spawn("registry", argv, config.logs_dir / "registry.log", env=_child_env())
        return self._registry

    def _start_service(self, region: str, service: str) -> None:
        self._services.append(self._spawn_service(region, service))

    def _spawn_service(self, region: str, service: str) -> Child:
        config = self.config
        self.endpoint_file(region, service).unlink(missing_ok=True)  # only the new process's address counts
        argv = [sys.executable, "-m", "services.cli", "serve", "--service", service, "--region", region,
                "--kafka", self._broker_address, "--data-dir", str(config.data_dir), "--clock", config.clock,
                "--grpc", "127.0.0.1:0", "--scheduler-interval", str(config.scheduler_interval),
                "--relay-interval", str(config.relay_interval), "--loglevel", config.loglevel]
        if config.topic_prefix:
            argv += ["--topic-prefix", config.topic_prefix]
        argv += self._tls.serve_args() if self._tls else []
        child = spawn(f"{service} {region}", argv, config.logs_dir / f"{region}-{service}.log", env=_child_env())
        child.region, child.service = region, service
        return child

    def endpoint_file(self, region: str, service: str) -> Path:
        return self.config.data_dir / region / f"{service}.endpoint"

    def _wait_until_serving(self) -> None:
        deadline = time.monotonic() + self.config.start_timeout
        pending = list(self._services)
        while pending:
            problem = self.check()
            if problem:
                raise StackError(problem)
            for child in list(pending):
                if self.serving(child):
                    pending.remove(child)
            if not pending:
                return
            if time.monotonic() > deadline:
                names = ", ".join(c.name for c in pending)
                raise StackError(f"not serving after {self.config.start_timeout:.0f}s: {names}; "
                                 f"see the logs in {self.config.logs_dir}")
            time.sleep(0.2)  # polling child processes that have no other way to tell us

    def _wait_until_consuming(self) -> None:
        """Until the registry and every service have their partitions (consumers.py says why)."""
        from services.stack.consumers import Consumer, NotConsuming, marker, wait_until_consuming

        children = [c for c in (self._registry, *self._services) if c is not None]
        found = [Consumer(c.name, marker(self.config.data_dir, c, REGISTRY_DATADIR), c.process.pid) for c in children]
        try:
            wait_until_consuming(found, self.config.start_timeout, self.check, self.out, self.config.logs_dir)
        except NotConsuming as failed:
            raise StackError(str(failed)) from None

    @property
    def registry_child(self) -> Child | None:
        return self._registry

    def serving(self, child: Child) -> bool:
        """Whether a service child has written its endpoint file and answers the health service."""
        endpoint_file = self.endpoint_file(child.region, child.service)
        if not child.address and endpoint_file.exists():
            child.address = endpoint_file.read_text().strip()
        return bool(child.address) and health_serving(child.address, self._tls)

    # -- watch and stop -------------------------------------------------------------------------

    def children(self) -> list[Child]:
        return [c for c in (self._broker, self._registry, *self._services, self._web) if c is not None]

    def check(self) -> str | None:
        """A message naming a child that exited on its own, with its log's tail; None if all run."""
        for child in self.children():
            code = child.process.poll()
            if code is not None and not child.expected_exit:
                return (f"{child.name} (pid {child.process.pid}) exited unexpectedly with code {code}; "
                        f"log {child.log_path}:\n{child.tail()}")
        return None

    # -- restart (supervisor.py decides when) ---------------------------------------------------

    def restart(self, child: Child) -> list[Child]:
        """Start a dead child again; returns the services now starting (not serving yet)."""
        if child.name == "broker":
            return self._restart_broker()
        if child.name == "registry":
            self._spawn_registry()
            return []
        if child.name == "web" and self._console is not None:
            self._web = self._console.spawn(restart=True)  # on the same port: the URL a clerk has open stays right
            return []
        index = next(i for i, c in enumerate(self._services) if (c.region, c.service) == (child.region, child.service))
        self._services[index] = self._spawn_service(child.region, child.service)
        return [self._services[index]]

    def _restart_broker(self) -> list[Child]:
        """The new broker is empty (memory-only), on the same port: everything above it starts
        again (supervisor.py says why)."""
        port = int(self._broker_address.rpartition(":")[2])
        # Nothing can flush to a dead broker: a short grace, then SIGKILL, which loses nothing (the
        # stores are the truth, the relays' cursors and the registry's records wait for the broker).
        others = [c for c in (self._registry, self._broker) if c is not None]  # a broker from a failed try
        self._stop_services(others, timeout=_GRACE_WITHOUT_BROKER)
        self._registry = self._broker = None
        self._start_broker(keep_port=port)
        self._start_registry()
        self._services = [self._spawn_service(c.region, c.service) for c in self._services]
        return list(self._services)

    def publish(self) -> StackInfo:
        """Write the stack file again with the children's current pids and endpoints; a service
        still starting keeps its last endpoint until it serves on its new one."""
        assert self.info is not None, "publish() after start()"
        last = {(e.region, e.service): e for e in self.info.endpoints}
        info = replace(
            self.info, kafka=self._broker_address,
            broker_pid=self._broker.process.pid if self._broker else None,
            registry_pid=self._registry.process.pid if self._registry else None,
            endpoints=tuple(Endpoint(c.region, c.service, c.address, c.process.pid) if c.address
                            else last[(c.region, c.service)] for c in self._services))
        write_stack(self.config.data_dir, info)
        self.info = info
        return info

    def _stop_services(self, others: list[Child] | None = None, timeout: float | None = None) -> None:
        """Stop the services (and `others`) in parallel."""
        timeout = self.config.stop_timeout if timeout is None else timeout
        threads = [threading.Thread(target=stop_child, args=(c, timeout)) for c in [*self._services, *(others or ())]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        timeout = self.config.stop_timeout
        # Services first (their relays flush to the broker), then the registry, then the broker.
        if self._web is not None:  # first: nobody starts work on a stack that is going away
            stop_child(self._web, timeout)
        self._stop_services()
        if self._registry is not None:
            stop_child(self._registry, timeout)
        if self._broker is not None:
            stop_child(self._broker, timeout)
        for child in self._services:
            (self.config.data_dir / child.region / f"{child.service}.endpoint").unlink(missing_ok=True)
        remove_stack(self.config.data_dir)
        self._lock.release()

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def elapsed(self) -> float:
        return time.monotonic() - self._started
