"""`tongban bench registry`: one registry worker's throughput on a burst of claims (issue 15).

A local broker (or the one TONGBAN_KAFKA names), the registry worker as the stack runs it (a
subprocess: `python -m services.common.registry.worker`), and one region's marriage store with its
relay, as in a `tongban up` stack. After a warm-up (the worker has joined its groups and decided a
first claim), in two bursts:

0. one claim at a time (SINGLE_CLAIMS of them): from its publication to its decision read, the
   registry's own part of a registration's round trip when nothing else is going on;
1. ``requests``: ``--claims`` claims on as many persons are recorded in the region's store, then
   published by its relay at once; timed until the worker's decision on every one of them (granted)
   is on the region's decisions topic;
2. ``confirms``: every claim is then confirmed at once, as a region does once both persons of a
   marriage are granted; timed until every confirmation is on the region's decisions topic.

Each burst reports inputs decided per second (claims / the time from the first publish to the last
decision read), the time the relay took to publish it, and the worker's CPU over the burst (cores,
from /proc). The worker's store is SQLite with synchronous=FULL, as the stack's. The numbers move
with the machine's load: say the load beside them."""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from services.common.bench_api_load import process_cpu
from services.common.bench_report import Measure, write_json

DEFAULT_CLAIMS = 2000
REGION = "640000"
SERVICE = "marriage"
PARTITIONS = 8  # the stack's (WorkerSettings.partitions)
SINGLE_CLAIMS = 20  # claims published one at a time, each waited for: the registry's own latency
DECISION_TIMEOUT = 300.0
_ROOT = Path(__file__).resolve().parents[2]


class RegistryBenchError(RuntimeError):
    """The run cannot give a number (the worker died, decisions did not come)."""


@dataclass
class Burst:
    name: str
    inputs: int
    publish_seconds: float
    seconds: float
    worker_cpu: float  # cores

    @property
    def rate(self) -> float:
        return self.inputs / self.seconds if self.seconds else 0.0


@dataclass
class Results:
    bursts: list[Burst]
    single_seconds: list[float]  # sorted: each alone, from its publication to its decision read

    def single_ms(self, fraction: float) -> float:
        return 1000 * self.single_seconds[min(len(self.single_seconds) - 1, int(fraction * len(self.single_seconds)))]


class _Outcomes:
    """Reads the region's decisions topic in a thread and counts distinct decisions per outcome."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        from kafka import KafkaConsumer

        # A short fetch wait: the measuring consumer must not add the broker's wait to the numbers.
        self._consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                       enable_auto_commit=False, group_id=None, fetch_max_wait_ms=10)
        self._seen: set[str] = set()
        self._counts: dict[str, int] = {}
        self.messages: list[tuple[bytes, Any]] = []  # (value, headers) of each distinct decision
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-registry-outcomes", daemon=True)

    def __enter__(self) -> _Outcomes:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._consumer.close()

    def _run(self) -> None:
        from services.common.registry.adapters import decision_from_proto
        from tongban.registry.v1 import registry_pb2

        while not self._stop.is_set():
            for records in self._consumer.poll(timeout_ms=200).values():
                for record in records:
                    decision = decision_from_proto(registry_pb2.RegistryDecision.FromString(record.value))
                    with self._changed:
                        if decision.decision_id not in self._seen:
                            self._seen.add(decision.decision_id)
                            self.messages.append((record.value, record.headers))
                            self._counts[str(decision.outcome)] = self._counts.get(str(decision.outcome), 0) + 1
                            self._changed.notify_all()

    def count(self, outcome: str) -> int:
        with self._lock:
            return self._counts.get(outcome, 0)

    def wait_for(self, outcome: str, count: int, timeout: float, alive: Callable[[], None]) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._counts.get(outcome, 0) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RegistryBenchError(f"only {self._counts.get(outcome, 0)} of {count} {outcome} decisions "
                                             f"came within {timeout:.0f}s")
                self._changed.wait(min(left, 1.0))
                alive()


def _persons(count: int) -> list[str]:
    from services.common.identity import make_citizen_id

    first = date(1960, 1, 1) + timedelta(days=uuid.uuid4().int % 10_000)
    return [make_citizen_id("640104", first + timedelta(days=n // 900), n % 900 + 1) for n in range(count)]


def _worker(bootstrap: str, workdir: Path, prefix: str, service_topic: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "services.common.registry.worker", "worker", "--without-web",
            "--kafka", bootstrap, "--app-id", f"{prefix}.registry", "--claims-topic", f"{prefix}.claims",
            "--decisions-topic", f"{prefix}.decisions", "--service-topic", service_topic,
            "--partitions", str(PARTITIONS), "--datadir", str(workdir / "registry"), "--loglevel", "warning"]
    log = (workdir / "registry-worker.log").open("wb")
    return subprocess.Popen(argv, cwd=_ROOT, stdout=log, stderr=subprocess.STDOUT)


def _record(store: Any, claims: list[tuple[str, str]], action: Callable[..., Any]) -> None:
    from services.common.events import Actor
    from services.common.kit.provenance import Provenance
    from services.common.registry import ClaimKind

    actor = Actor(kind="clerk", clerk_id="bench", office_code=f"{REGION}-OFFICE-01", region=REGION, role="window")
    for start in range(0, len(claims), 100):  # as a busy front door's group commits would
        with store.transaction() as tx:
            for claim_id, person in claims[start:start + 100]:
                action(tx, claim_id=claim_id, citizen_id=person, kind=ClaimKind.LIVE_MARRIAGE,
                       case_id=f"case-{claim_id}",
                       provenance=Provenance(actor=actor, correlation_id=f"case-{claim_id}",
                                             causation_id=f"cmd-{uuid.uuid4().hex}", occurred_at=datetime.now(UTC)))


def _burst(name: str, relay: Any, outcomes: _Outcomes, outcome: str, inputs: int, worker: subprocess.Popen[bytes],
           alive: Callable[[], None]) -> Burst:
    """Publish what the region recorded, and wait for `inputs` more decisions of `outcome`."""
    expected = outcomes.count(outcome) + inputs
    cpu_before = process_cpu((worker.pid,))
    began = time.monotonic()
    while relay.publish_pending():
        pass
    published = time.monotonic()
    outcomes.wait_for(outcome, expected, DECISION_TIMEOUT, alive)
    took = time.monotonic() - began
    cpu = (process_cpu((worker.pid,)) - cpu_before) / took if took else 0.0
    return Burst(name, inputs, published - began, took, cpu)


def run_bursts(claims: int, workdir: Path, progress: Callable[[str], None]) -> Results:
    from infra.brokers import open_broker
    from services.common.kafka_settings import ensure_topics
    from services.common.registry import confirm_claim, decision_reaction, request_claim
    from services.common.registry.topics import region_decisions_topic
    from services.common.relay import OutboxRelay
    from services.common.relay_producer import kafka_producer
    from services.common.store import EventStore, sqlite_url
    from services.common.trust.keys import ensure_region_key
    from services.common.trust.signing import EnvelopeSigner
    from services.host.host import HOST_TABLES
    from services.marriage.bootstrap import TABLES as MARRIAGE_TABLES

    with contextlib.ExitStack() as cleanup:
        broker = cleanup.enter_context(open_broker(workdir / "broker"))
        prefix = f"bench.registry.{uuid.uuid4().hex[:8]}"
        service_topic = f"{prefix}.{SERVICE}.events"
        decisions = region_decisions_topic(REGION, f"{prefix}.decisions")
        ensure_topics(broker.bootstrap, [service_topic], partitions=2)
        ensure_topics(broker.bootstrap, [f"{prefix}.claims", f"{prefix}.decisions", decisions],
                      partitions=PARTITIONS)
        # The region's key where the worker looks for the regions' keys: the directory above its datadir.
        signer = EnvelopeSigner(ensure_region_key(workdir, REGION))
        worker = _worker(broker.bootstrap, workdir, prefix, service_topic)

        def stop_worker() -> None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        cleanup.callback(stop_worker)

        def alive() -> None:
            if worker.poll() is not None:
                raise RegistryBenchError(f"the registry worker exited with {worker.returncode}: "
                                         f"see {workdir / 'registry-worker.log'}")
        store = EventStore.open(sqlite_url(workdir / "region.db"), region=REGION, service=SERVICE,
                                tables=(*HOST_TABLES, *MARRIAGE_TABLES))
        cleanup.callback(store.close)
        producer = kafka_producer(broker.bootstrap)
        cleanup.callback(producer.close, 5)
        relay = OutboxRelay(store, producer, service_topic, signer=signer)
        outcomes = cleanup.enter_context(_Outcomes(broker.bootstrap, decisions))
        everyone = [(f"bench-{n}-{uuid.uuid4().hex[:8]}", p)
                    for n, p in enumerate(_persons(claims + 1 + SINGLE_CLAIMS))]
        warmup, singles, burst = everyone[:1], everyone[1:1 + SINGLE_CLAIMS], everyone[1 + SINGLE_CLAIMS:]
        progress("warm-up: the worker joins its groups and decides a first claim …")
        _record(store, warmup, request_claim)
        _burst("warm-up", relay, outcomes, "granted", 1, worker, alive)
        progress(f"{SINGLE_CLAIMS} claims one at a time …")
        latencies: list[float] = []
        for single in singles:
            _record(store, [single], request_claim)
            latencies.append(_burst("single", relay, outcomes, "granted", 1, worker, alive).seconds)
        progress(f"{claims:,} claims at once …")
        _record(store, burst, request_claim)
        requests = _burst("requests", relay, outcomes, "granted", claims, worker, alive)
        progress(f"{claims:,} confirmations at once …")
        # The region records its grants (untimed: the region's side is not the worker's throughput).
        react = decision_reaction(REGION, SERVICE, lambda tx, d: None)
        for value, headers in list(outcomes.messages):
            react(store, value, headers)
        _record(store, everyone, confirm_claim)
        # The warm-up's and the single claims are confirmed too: more inputs of that burst.
        confirms = _burst("confirms", relay, outcomes, "confirmed", len(everyone), worker, alive)
        return Results([requests, confirms], sorted(latencies))


def measures(results: Results) -> list[Measure]:
    out = [Measure("registry_single_claim_p50", results.single_ms(0.5), "ms", "sqlite"),
           Measure("registry_single_claim_max", results.single_ms(1.0), "ms", "sqlite")]
    for b in results.bursts:
        out += [Measure(f"registry_{b.name}_rate", b.rate, "inputs/s", "sqlite"),
                Measure(f"registry_{b.name}_seconds", b.seconds, "s", "sqlite"),
                Measure(f"registry_{b.name}_publish_seconds", b.publish_seconds, "s", "sqlite"),
                Measure(f"registry_{b.name}_worker_cpu", b.worker_cpu, "cores", "sqlite")]
    return out


def run_registry_bench(args: argparse.Namespace) -> int:
    """`tongban bench registry`. Returns the process exit code."""
    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.claims < 1:
        print("tongban bench registry: --claims must be ≥ 1", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as cleanup:
        workdir = Path(args.data) if args.data else Path(
            cleanup.enter_context(tempfile.TemporaryDirectory(prefix="tongban-bench-registry-")))
        workdir.mkdir(parents=True, exist_ok=True)
        try:
            results = run_bursts(args.claims, workdir, progress)
        except (RegistryBenchError, OSError) as exc:
            print(f"tongban bench registry: {exc}", file=sys.stderr)
            return 1
    rows = [("burst", "inputs", "inputs/s", "seconds", "relay publish s", "worker cpu")]
    rows += [(b.name, f"{b.inputs:,}", f"{b.rate:,.1f}", f"{b.seconds:.2f}", f"{b.publish_seconds:.2f}",
              f"{b.worker_cpu:.2f}") for b in results.bursts]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    print(f"\n{SINGLE_CLAIMS} claims one at a time, publication to decision read: "
          f"p50 {results.single_ms(0.5):,.0f} ms, max {results.single_ms(1.0):,.0f} ms")
    if args.json:
        found = measures(results)
        write_json(args.json, found, progress)
    return 0


def add_registry_bench_parser(bench_subparsers: Any) -> argparse.ArgumentParser:
    """Add `bench registry` to the `tongban bench` subparsers."""
    bench = bench_subparsers.add_parser(
        "registry", help="one registry worker's inputs decided per second on a burst of claims",
        formatter_class=argparse.RawDescriptionHelpFormatter, description=__doc__.split("\n", 2)[2])
    bench.add_argument("--claims", type=int, default=DEFAULT_CLAIMS,
                       help="claims in each burst, on as many persons (default %(default)s)")
    bench.add_argument("--data", metavar="DIR", help="working directory (default: a temp dir, removed afterwards); "
                                                     "kept, with the worker's log and stores")
    bench.add_argument("--json", metavar="FILE", help='write [{"name", "value", "unit", "backend"}, ...] to FILE')
    bench.set_defaults(func=run_registry_bench)
    return bench
