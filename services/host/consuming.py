"""The host's consumers: one aiokafka consumer in the host's group, reading every topic the host
consumes (its hand-offs, its registry decisions, what its service asked for; invariant 10) and
handing each fetched batch to the dispatcher (dispatch.py).

At least once, never ahead of the store (invariant 1): a batch's offsets are committed only once
everything its messages did is committed; if dispatching raises, the partitions go back to the
batch's first offsets and the batch is read again after a back-off. A message read twice changes
nothing the second time (the inbox; the raw handlers keep their own).

A plain consumer rather than faust agents, for two reasons measured or seen here:
- faust hands each message to its stream through two tasks of its own (`wait_first` in its
  consumer's `_drain_messages`): about a quarter of a region's CPU per registration in a burst
  (docs/store-performance.md, "Sixth pass"). Here a fetch is one batch, with no task per message:
  `tongban bench consumers` measured a twelfth of faust's CPU a message ("Seventh pass").
- faust's consumer can skip messages after a restart (registry/worker/forwarder.py, which reads
  the same way for that reason); a skipped registry decision would leave a case waiting for the
  claim's resend.

Batches: whatever the fetch brought, per topic in order, up to `batch` messages each; the topics
of one fetch are dispatched side by side, each in a thread of its own (the store is synchronous and
its group commit lets them share commits; the loop keeps its heartbeats meanwhile)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.common.consumer import Headers
from services.common.kafka_clients import BatchListener, stop_client

log = logging.getLogger(__name__)

Message = tuple[bytes | None, bytes, Headers]
DispatchBatch = Callable[[str, Sequence[Message]], None]

RETRY_AFTER = 1.0  # seconds before a batch whose dispatch raised is read again
# How long one fetch call waits for records when none are buffered: it returns as soon as some
# are (the fetcher reads ahead in the background); idle, the loop wakes once per FETCH_WAIT_MS.
FETCH_WAIT_MS = 1_000


class HostConsumer:
    """Consume `topics` (one consumer of the group `config` names) until `stop()`. `on_assigned`
    is called each time the group gives this consumer its partitions: from then on messages are
    taken in as they come (readiness.py)."""

    def __init__(self, config: dict[str, Any], topics: Sequence[str], dispatch_batch: DispatchBatch, *,
                 batch: int, on_assigned: Callable[[], None] | None = None) -> None:
        if not topics:
            raise ValueError("a host consumer needs at least one topic")
        self._config = config  # aiokafka_consumer_config(...): group, security, fetch wait, no auto-commit
        self._topics = list(topics)
        self._dispatch_batch = dispatch_batch
        self._batch = batch
        self._on_assigned = on_assigned
        self._stopping = asyncio.Event()
        # Held while a batch is dispatched and committed: a rebalance waits for it (BatchListener), so
        # whoever takes a partition over starts after what was done here, not with a repeat of it.
        self._working = asyncio.Lock()

    def stop(self) -> None:
        """Ask `run()` to return once the batch in hand, if any, is dispatched and committed."""
        self._stopping.set()

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(**self._config)
        consumer.subscribe(self._topics, listener=BatchListener(self._working, self._on_assigned))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await consumer.start()  # returns once the group has given this consumer its partitions
            while not self._stopping.is_set():
                fetch = asyncio.ensure_future(consumer.getmany(timeout_ms=FETCH_WAIT_MS,
                                                                 max_records=self._batch * len(self._topics)))
                await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not fetch.done():  # stopped while waiting: nothing was taken, nothing is lost
                    fetch.cancel()
                    await asyncio.gather(fetch, return_exceptions=True)
                    break
                fetched = fetch.result()
                if fetched:
                    async with self._working:
                        await self._handle(consumer, fetched)
        finally:
            stopping.cancel()
            await stop_client(consumer, "consumer")

    async def _handle(self, consumer: AIOKafkaConsumer, fetched: dict[TopicPartition, list[Any]]) -> None:
        by_topic: dict[str, list[Message]] = {}
        for tp, records in fetched.items():
            by_topic.setdefault(tp.topic, []).extend((r.key, r.value, r.headers) for r in records)
        try:
            await asyncio.gather(*(asyncio.to_thread(self._dispatch_topic, topic, messages)
                                   for topic, messages in by_topic.items()))
        except Exception:
            if self._stopping.is_set():
                return  # stopping (the dispatcher gives up its retries then): read again at the next start
            log.exception("dispatching %d messages failed; reading them again in %.0fs",
                          sum(map(len, by_topic.values())), RETRY_AFTER)
            for tp, records in fetched.items():
                if tp in consumer.assignment():
                    consumer.seek(tp, records[0].offset)
            await asyncio.sleep(RETRY_AFTER)  # back-off before a retry, not synchronisation
            return
        assigned = consumer.assignment()
        offsets = {tp: records[-1].offset + 1 for tp, records in fetched.items() if tp in assigned}
        try:
            await consumer.commit(offsets)
        except Exception as exc:  # e.g. the group rebalanced meanwhile: read again, changing nothing
            log.warning("committing the offsets of a handled batch failed (%s); its messages will be read again", exc)

    def _dispatch_topic(self, topic: str, messages: list[Message]) -> None:
        """A topic's messages in order (so each partition's), `batch` at a time: one thread per topic."""
        for start in range(0, len(messages), self._batch):
            self._dispatch_batch(topic, messages[start:start + self._batch])
