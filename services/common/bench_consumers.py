"""`tongban bench consumers`: the CPU a consumer spends on each message it hands over (issue 15).

A local broker (or the one TONGBAN_KAFKA names) and one topic of 4 partitions holding ``--messages``
messages the size of a registry decision, with the headers the relay writes. Two readers take
turns, ``--rounds`` times, each in a fresh process with a consumer group of its own:

- ``host``      the services' hosts: one aiokafka consumer, a fetch at a time, each topic's batches
                of up to 64 handed to a thread (services/host/consuming.py), offsets committed after;
- ``aiokafka``  the floor: a bare aiokafka consumer counting what each fetch brings, in its loop,
                committing nothing. The host's figure over this one is what consuming.py adds.

Nothing is done with the messages but counting, so what is measured is the reading alone: the
process's CPU (every thread) from the first message handed over to the last, per message. The run
fails unless each reader was handed every message. CPU per message moves less with the machine's
load than rates do.

Until issue 15's eighth pass the second reader was a faust agent, as the hosts read before the
seventh pass and the registry worker before the eighth: 259–276 µs a message against the host
consumer's 17.7–23.9 (docs/store-performance.md, "Seventh pass"). faust is no longer a dependency."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from services.common.bench_report import Measure, write_json

READERS = ("host", "aiokafka")
DEFAULT_MESSAGES = 20_000
DEFAULT_ROUNDS = 3
PARTITIONS = 4
BATCH = 64  # as the host's DISPATCH_BATCH
VALUE_BYTES = 900  # about a signed registry decision
READ_TIMEOUT = 300.0  # seconds a reader may take to be handed every message
_RESULT = '{"cpu_s"'  # how a reader's result line starts (_Count.report)


class ConsumerBenchError(RuntimeError):
    """The run cannot give trustworthy numbers (a reader failed or missed messages)."""


def _produce(bootstrap: str, topic: str, count: int) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    value = b"x" * VALUE_BYTES
    headers = [("tongban-event-type", b"tongban.registry.v1.ClaimGranted"),
               ("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")]
    try:
        for n in range(count):
            producer.send(topic, value=value, key=str(n).encode(), headers=headers)
        producer.flush(timeout=60)
    finally:
        producer.close()


def _read(reader: str, bootstrap: str, topic: str, count: int) -> dict[str, float]:
    """One reader in a process of its own: {"cpu_s", "wall_s", "messages"} from its last line."""
    argv = [sys.executable, "-m", "services.common.bench_consumers", reader, bootstrap, topic, str(count),
            f"bench.consumers.{reader}.{uuid.uuid4().hex[:8]}"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=READ_TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ConsumerBenchError(f"the {reader} reader was not handed {count:,} messages in {READ_TIMEOUT:.0f}s") \
            from exc
    lines = [line for line in done.stdout.splitlines() if line.startswith(_RESULT)]
    if done.returncode != 0 or not lines:
        raise ConsumerBenchError(f"the {reader} reader failed (exit {done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(lines[-1])
    if result["messages"] != count:
        raise ConsumerBenchError(f"the {reader} reader was handed {result['messages']:,} of {count:,} messages")
    return result


def run_rounds(messages: int, rounds: int, workdir: Path, progress: Callable[[str], None]) -> dict[str, list[float]]:
    """CPU µs per message of each reader, one value per round."""
    from infra.brokers import open_broker
    from services.common.kafka_settings import ensure_topics

    with open_broker(workdir / "broker") as broker:
        topic = f"bench.consumers.{uuid.uuid4().hex[:8]}"
        ensure_topics(broker.bootstrap, [topic], partitions=PARTITIONS)
        progress(f"{messages:,} messages of {VALUE_BYTES} bytes onto {topic} ({PARTITIONS} partitions) …")
        _produce(broker.bootstrap, topic, messages)
        per_message: dict[str, list[float]] = {reader: [] for reader in READERS}
        for round_ in range(1, rounds + 1):
            for reader in READERS:
                result = _read(reader, broker.bootstrap, topic, messages)
                per_message[reader].append(result["cpu_s"] / messages * 1e6)
                progress(f"round {round_}/{rounds}, {reader}: {per_message[reader][-1]:,.1f} µs CPU a message, "
                         f"{messages / result['wall_s']:,.0f} messages/s")
        return per_message


def measures(per_message: dict[str, list[float]]) -> list[Measure]:
    found = [Measure(f"consumer_{reader}_cpu_per_message", statistics.median(values), "us", "kafka")
             for reader, values in per_message.items()]
    host, floor = (statistics.median(per_message[r]) for r in READERS)
    return [*found, Measure("consumer_host_vs_aiokafka", host / floor if floor else 0.0, "x", "kafka")]


def run_consumers_bench(args: argparse.Namespace) -> int:
    """`tongban bench consumers`. Returns the process exit code."""
    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    if args.messages < 1 or args.rounds < 1:
        print("tongban bench consumers: --messages and --rounds must be ≥ 1", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as cleanup:
        workdir = Path(tempfile.mkdtemp(prefix="tongban-bench-consumers-"))
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        try:
            per_message = run_rounds(args.messages, args.rounds, workdir, progress)
        except (ConsumerBenchError, OSError) as exc:
            print(f"tongban bench consumers: {exc}", file=sys.stderr)
            return 1
    print(f"{'reader':<8}  {'µs CPU a message (median)':>26}  {'rounds':>24}")
    for reader, values in per_message.items():
        spread = ", ".join(f"{v:,.1f}" for v in values)
        print(f"{reader:<8}  {statistics.median(values):>26,.1f}  {spread:>24}")
    found = measures(per_message)
    print(f"\nthe host's consumer spends {found[-1].value:,.2f}× a bare aiokafka consumer's CPU on each message")
    if args.json:
        write_json(args.json, found, progress)
    return 0


def add_consumers_bench_parser(bench_subparsers: Any) -> argparse.ArgumentParser:
    """Add `bench consumers` to the `tongban bench` subparsers."""
    bench = bench_subparsers.add_parser(
        "consumers", help="CPU per message: the hosts' consumer beside a bare aiokafka consumer",
        formatter_class=argparse.RawDescriptionHelpFormatter, description=__doc__.split("\n", 2)[2])
    bench.add_argument("--messages", type=int, default=DEFAULT_MESSAGES,
                       help="messages on the topic, read whole by each reader each round (default %(default)s)")
    bench.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="turns of each reader (default %(default)s)")
    bench.add_argument("--json", metavar="FILE", help='write [{"name", "value", "unit", "backend"}, ...] to FILE')
    bench.set_defaults(func=run_consumers_bench)
    return bench


# -- one reader, in its own process (`python -m services.common.bench_consumers READER ...`) --------


class _Count:
    """The no-op dispatch: counts what it is handed; the clock starts at the first message."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.seen = 0
        self.started: tuple[float, float] | None = None

    def __call__(self, _topic: str, messages: Sequence[Any]) -> None:
        if self.started is None:
            self.started = (time.process_time(), time.monotonic())
        self.seen += len(messages)

    def done(self) -> bool:
        return self.seen >= self.count

    def report(self) -> None:
        assert self.started is not None
        cpu, wall = time.process_time() - self.started[0], time.monotonic() - self.started[1]
        print(json.dumps({"cpu_s": cpu, "wall_s": wall, "messages": self.seen}), flush=True)


def _read_as_host(bootstrap: str, topic: str, count: _Count, group: str) -> None:
    from services.common.kafka_settings import aiokafka_consumer_config
    from services.host.consuming import HostConsumer

    async def main() -> None:
        consumer = HostConsumer(aiokafka_consumer_config(bootstrap, group), [topic], count, batch=BATCH)
        running = asyncio.ensure_future(consumer.run())
        while not count.done() and not running.done():
            await asyncio.sleep(0.01)  # the reader's own progress, polled; the clock is the dispatch's
        if running.done():
            running.result()
        count.report()
        consumer.stop()
        await running

    asyncio.run(main())


def _read_bare(bootstrap: str, topic: str, count: _Count, group: str) -> None:
    from aiokafka import AIOKafkaConsumer

    from services.common.kafka_settings import aiokafka_consumer_config

    async def main() -> None:
        consumer = AIOKafkaConsumer(topic, **aiokafka_consumer_config(bootstrap, group))
        await consumer.start()
        try:
            while not count.done():
                for records in (await consumer.getmany(timeout_ms=1_000, max_records=BATCH)).values():
                    count(topic, records)
            count.report()  # before the stop, as the host reader reports
        finally:
            await consumer.stop()

    asyncio.run(main())


def _child(argv: Sequence[str]) -> None:
    reader, bootstrap, topic, count, group = argv
    counter = _Count(int(count))
    {"host": _read_as_host, "aiokafka": _read_bare}[reader](bootstrap, topic, counter, group)


if __name__ == "__main__":
    _child(sys.argv[1:])
