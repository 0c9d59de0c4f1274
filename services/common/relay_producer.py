"""The relay's producer: a whole outbox batch as one record batch per partition, acknowledged at once.

kafka-python's `send()` costs tens of microseconds of pure Python per message (its accumulator, record
builder and partitioner), which capped the relay at a few thousand events/s. aiokafka builds record
batches in C: the relay hands over a batch of (key, value, headers), this producer groups it by
partition -- the same murmur2 placement as the Java client and kafka-python, so a stream's events stay
on the partition they always went to -- fills one `BatchBuilder` per partition (more when one is
full), sends them as produce requests and returns only when the broker acknowledged every one (acks=all).
The relay moves its cursor after that, so at-least-once is unchanged.

aiokafka is asynchronous; the relay is a thread. The producer runs an event loop on a thread of its
own and the relay waits on it. Not idempotent (aiokafka_producer_config says why); aiokafka keeps one
batch per partition in flight, so order within a partition holds, and a retried batch that arrives
twice is absorbed by the consumers' inboxes.

The relay takes any `Producer`: `relay_producer()` gives this one; `kafka_producer()` gives kafka-python's,
a message at a time, for tools and tests that publish a few."""

from __future__ import annotations

import asyncio
import struct
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any, Protocol

# key, value, headers: one message of a relay batch
Message = tuple[bytes, bytes, list[tuple[str, bytes]]]

_START_TIMEOUT = 60.0
MAX_BATCH_BYTES = 512 * 1024


class BatchProducer:
    """Sends relay batches (see the module docstring). `send_batch` blocks until acknowledged."""

    def __init__(self, bootstrap: str, *, config: dict[str, Any] | None = None) -> None:
        from services.common.kafka_settings import aiokafka_producer_config

        # Record batches of up to 512 KiB: a relay batch goes as one record batch per partition, one
        # produce request in all (aiokafka's 16 KiB split it into dozens of requests, each a round trip,
        # one at a time). Below the 1 MB Kafka accepts by default (message.max.bytes).
        self._config = {**aiokafka_producer_config(bootstrap), "linger_ms": 0, "max_batch_size": MAX_BATCH_BYTES,
                        **(config or {})}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="relay-producer", daemon=True)
        self._thread.start()
        self._producer: Any = None
        try:
            self._call(self._start(), timeout=_START_TIMEOUT)
        except BaseException:
            self._stop_loop()
            raise

    async def _start(self) -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(**self._config)
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer

    def _call(self, coroutine: Any, *, timeout: float | None) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    def submit_batch(self, topic: str, messages: Sequence[Message]) -> Future[None]:
        """Publish `messages` in order (per key); the future is done when the broker acknowledged all
        of them, and fails if it refused any: then none counts as sent."""
        return asyncio.run_coroutine_threadsafe(self._send(topic, messages), self._loop)

    def send_batch(self, topic: str, messages: Sequence[Message], timeout: float = 60.0) -> None:
        """`submit_batch` and wait."""
        self.submit_batch(topic, messages).result(timeout)

    async def _send(self, topic: str, messages: Sequence[Message]) -> None:
        producer = self._producer
        partitions = sorted(await producer.partitions_for(topic))
        count = len(partitions)
        by_partition: dict[int, list[Message]] = {}
        # murmur2 is pure Python (1.8 µs a key below, 3.4 µs as aiokafka writes it): each distinct key
        # of the batch is hashed once.
        placed: dict[bytes, int] = {}
        for message in messages:
            key = message[0]
            partition = placed.get(key)
            if partition is None:
                partition = placed[key] = partitions[(murmur2(key) & 0x7FFFFFFF) % count]
            by_partition.setdefault(partition, []).append(message)
        if not messages:
            return
        # Every partition's record batches are built first and then handed over together, the first
        # of each partition before any second: the sender drains all it holds for a node into one
        # produce request, and keeps one request in flight per node, so handing them over one
        # partition after the other cost a round trip per record batch.
        rounds: list[list[tuple[int, Any]]] = []
        for partition, mine in by_partition.items():
            batch = producer.create_batch()
            turn = 0
            for key, value, headers in mine:
                if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                    _add(rounds, turn, partition, batch)  # full: the next one follows it
                    turn += 1
                    batch = producer.create_batch()
                    if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                        raise ValueError(f"a message of {len(value):,} bytes does not fit in a record batch")
            _add(rounds, turn, partition, batch)
        acks = [await producer.send_batch(batch, topic, partition=partition)
                for turn in rounds for partition, batch in turn]
        await asyncio.gather(*acks)

    # The kafka-python calls the relay's callers also make on a producer.
    def flush(self, timeout: float | None = None) -> None:
        """Nothing is ever left unsent: `send_batch` returns only when acknowledged."""

    def close(self, timeout: float | None = None) -> None:
        try:
            if self._producer is not None:
                # timeout=0 (a producer given up on): a moment to say goodbye, not a wait for a broker.
                self._call(self._producer.stop(), timeout=30.0 if timeout is None else max(timeout, 1.0))
        except Exception:
            pass  # closing what failed: the loop goes below either way
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()


_M, _MASK = 0x5BD1E995, 0xFFFFFFFF
_WORDS: dict[int, struct.Struct] = {}


def murmur2(key: bytes) -> int:
    """Kafka's murmur2 of `key` (the Java client's Utils.murmur2, which places a keyed message; aiokafka's
    and kafka-python's `murmur2` give the same), reading the key's 32-bit words in one unpack instead
    of byte by byte: the relay hashes every distinct stream id it publishes."""
    length = len(key)
    words = _WORDS.get(length >> 2)
    if words is None:
        words = _WORDS[length >> 2] = struct.Struct(f"<{length >> 2}I")
    h = 0x9747B28C ^ length
    for k in words.unpack_from(key):
        k = (k * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail:
        base = length - tail
        if tail == 3:
            h ^= key[base + 2] << 16
        if tail >= 2:
            h ^= key[base + 1] << 8
        h = ((h ^ key[base]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def _add(rounds: list[list[tuple[int, Any]]], turn: int, partition: int, batch: Any) -> None:
    """`batch` as the `turn`-th record batch of `partition` (a partition's batches go in order)."""
    while len(rounds) <= turn:
        rounds.append([])
    rounds[turn].append((partition, batch))


class Producer(Protocol):
    """The part of kafka-python's KafkaProducer the relay uses."""

    def send(self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]) -> Any: ...

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...


def relay_producer(bootstrap: str) -> Producer:
    """The producer a relay publishes with: whole batches per produce request (BatchProducer)."""
    return BatchProducer(bootstrap)  # type: ignore[return-value]


def kafka_producer(bootstrap: str) -> Producer:
    """kafka-python's producer, one message at a time (for tools and tests that publish a few)."""
    from kafka import KafkaProducer

    from services.common.kafka_settings import kafka_python_producer_config

    return KafkaProducer(**kafka_python_producer_config(bootstrap))  # type: ignore[no-any-return]
