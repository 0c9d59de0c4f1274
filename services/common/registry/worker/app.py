"""The registry worker's process: the forwarder (forwarder.py), the decider reading the claims
topic, and the expiry checks, on one asyncio loop with plain aiokafka clients (the flow and its
crash safety are in the package docstring).

Why plain aiokafka and not faust, which this worker was until the eighth pass of issue 15:
- faust hands every message to an agent through tasks of its own: `tongban bench consumers`
  measured about twelve times the CPU a message of a plain consumer reading the same batches
  (docs/store-performance.md, "Seventh pass"), and the worker reads every claim of the country;
- faust-streaming 0.15.3 was seen to skip messages after a restart, which is why the forwarder
  already read plainly and why `GapHealer` exists;
- faust's own topics (its partition assignor's leader topic) needed grants of their own.

One consumer of the claims topic, in the group named by the app id (the group faust's agent used,
so its committed offsets carry over); one of the service topics, in "<app id>.forward"; one
producer for both (claims and decisions). A batch's records are committed to the person store,
then its decisions sent and acknowledged, then its offsets committed: a crash anywhere repeats,
never loses, and repeats decide nothing new (the package docstring)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.common.clock import Clock, SystemClock
from services.common.kafka_clients import BatchListener, stop_client
from services.common.kafka_settings import aiokafka_consumer_config, aiokafka_producer_config, ensure_topics
from services.common.readiness import clear_consuming, mark_consuming
from services.common.registry.domain import due_expiries, record_from_json
from services.common.registry.topics import decision_topics
from services.common.registry.worker.decider import decision_message, expiry_input, take
from services.common.registry.worker.forwarder import Outgoing, deliver_all, forward_loop
from services.common.registry.worker.gap_healer import GapHealer
from services.common.registry.worker.person_store import Effect, PersonStore
from services.common.registry.worker.settings import WorkerSettings
from services.common.registry.worker.trust import WorkerTrust

log = logging.getLogger("tongban.registry.worker")

# The decider takes what one fetch brings, up to BATCH_INPUTS inputs: their records are committed in
# one store transaction and their decisions sent together.
BATCH_INPUTS = 500
# How long one fetch waits for records when none are buffered; it returns as soon as some are.
FETCH_WAIT_MS = 1_000
STOP_GRACE = 10.0  # seconds a stop waits for the batch in hand (see _finish_batch_in_hand)


class Topic:
    """A topic the worker sends to, through its one producer (what `deliver_all` sends with)."""

    def __init__(self, producer: AIOKafkaProducer, name: str) -> None:
        self._producer = producer
        self._name = name

    def get_topic_name(self) -> str:
        return self._name

    async def send(self, *, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> asyncio.Future[Any]:
        """Enqueue the message; the future is its acknowledgement."""
        return await self._producer.send(self._name, value=value, key=key, headers=headers)


class RegistryWorker:
    """The forwarder, the decider and the expiry checks of one worker. `clock` stamps the inputs
    and drives expiry."""

    def __init__(self, settings: WorkerSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.trust = WorkerTrust.load(settings.signing_keys, settings.trusted_keys, settings.datadir)
        # The person records live in the worker's own store (person_store.py says why); every input's
        # effect is committed there before its decisions are sent.
        self.store = PersonStore(settings.store_url)
        self.gaps = GapHealer(settings.claims_topic)
        self._outputs: dict[str, Topic] = {}
        self._producer: AIOKafkaProducer | None = None
        # Held while a batch is decided, sent and committed: a rebalance and a stop wait for it, so
        # whoever takes a partition over starts after what was done here, not with a repeat of it.
        self._working = asyncio.Lock()
        self._sent: dict[tuple[str, int], float] = {}  # (person, due µs) → when its checks were last sent

    async def run(self, stopping: asyncio.Event) -> None:
        """Serve until `stopping` is set (then return), or until a part fails (then raise: the
        restarted worker takes the input in hand again, at least once)."""
        settings = self.settings
        clear_consuming(settings.consuming_marker)
        # No linger: `deliver_all` enqueues a whole batch's sends before the sender task runs, so they
        # leave together anyway; a linger would only hold an idle claim 5 ms at each of two hops.
        producer = AIOKafkaProducer(**{**aiokafka_producer_config(settings.bootstrap), "linger_ms": 0})
        await producer.start()
        self._producer = producer
        claims = Topic(producer, settings.claims_topic)
        decider = AIOKafkaConsumer(**aiokafka_consumer_config(settings.bootstrap, settings.app_id))
        decider_joined, forwarder_joined = asyncio.Event(), asyncio.Event()
        decider.subscribe([settings.claims_topic], listener=BatchListener(self._working, decider_joined.set))
        # Set once the claims published before this worker started are forwarded: until then a release
        # may be waiting in a service topic, and no deadline is judged (AReleaseCountsFromItsRecording).
        caught_up = asyncio.Event()
        parts = [
            asyncio.ensure_future(forward_loop(settings, claims, self.clock, self.trust, caught_up,
                                               joined=forwarder_joined)),
            asyncio.ensure_future(self._decide_loop(decider)),
            asyncio.ensure_future(self._expiry_loop(claims, caught_up)),
        ]  # each runs until cancelled: one that returns has failed
        announce = asyncio.ensure_future(self._announce(decider_joined, forwarder_joined))
        stopped = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait({*parts, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            clear_consuming(settings.consuming_marker)
            stopped.cancel()
            announce.cancel()
            held = await self._finish_batch_in_hand()
            for part in parts:
                part.cancel()
            await asyncio.gather(announce, *parts, return_exceptions=True)
            if held:
                self._working.release()
            await stop_client(decider, "decider's consumer")
            await stop_client(producer, "producer")
            self.store.close()
        if not stopping.is_set():
            failed = next((part.exception() for part in parts if part.done() and not part.cancelled()
                           and part.exception() is not None), None)
            raise failed or RuntimeError("a part of the registry worker stopped for no reason")

    async def _finish_batch_in_hand(self) -> bool:
        """Wait until the batch in hand is decided, sent and committed (then hold the lock: True), or
        give up after STOP_GRACE seconds: a batch whose sends keep failing (its broker gone) is cut
        short, and since its offsets were not committed the next start reads it again."""
        try:
            await asyncio.wait_for(self._working.acquire(), STOP_GRACE)
        except TimeoutError:
            log.warning("stopping without finishing the batch in hand (its decisions are still being sent "
                        "after %.0fs); it is read again at the next start", STOP_GRACE)
            return False
        return True

    async def _announce(self, decider_joined: asyncio.Event, forwarder_joined: asyncio.Event) -> None:
        await decider_joined.wait()
        await forwarder_joined.wait()
        mark_consuming(self.settings.consuming_marker)
        log.info("consuming: the decider's and the forwarder's partitions are assigned")

    async def _decide_loop(self, consumer: AIOKafkaConsumer) -> None:
        await consumer.start()  # returns once the group has given this consumer its partitions
        while True:
            fetched = await consumer.getmany(timeout_ms=FETCH_WAIT_MS, max_records=BATCH_INPUTS)
            if fetched:
                async with self._working:
                    await self._decide(consumer, fetched)

    async def _decide(self, consumer: AIOKafkaConsumer, fetched: dict[TopicPartition, list[Any]]) -> None:
        """Fold a fetch's inputs into the persons' records, commit them (one transaction), send
        their decisions and wait for the broker to take all of them, then commit the offsets."""
        settings, store, gaps = self.settings, self.store, self.gaps
        topic = settings.claims_topic
        store.load((record.key or b"").decode("utf-8", "replace")
                   for records in fetched.values() for record in records)  # one query, not one each
        outgoing: list[tuple[Any, Outgoing]] = []
        done: dict[TopicPartition, int] = {}
        for tp, records in fetched.items():
            for record in records:
                partition, offset = record.partition, record.offset
                expected = store.position(topic, partition)
                seek_to = gaps.check(partition, offset, expected)
                if seek_to is not None:
                    consumer.seek(tp, seek_to)  # what the fetch holds beyond the hole comes again
                    done.pop(tp, None)
                    break
                if gaps.skipping(partition, offset, expected):
                    continue
                key = record.key or b""
                person = key.decode("utf-8", "replace")
                read = store.get(person)  # what an earlier input of the batch staged, if any
                taken = take(None if read is None else read.record, key, record.value, record.headers,
                             claim_ttl=settings.claim_ttl, release_wait=settings.release_wait, trust=self.trust)
                if taken.note:
                    log.info("%s: %s", person[:6] + "…", taken.note)  # no full citizen id in logs
                store.stage(Effect(topic, partition, offset + 1 if expected is None or offset >= expected else None,
                                   citizen_id=person, record=taken.record, read=read, due=taken.due))
                for decision in taken.decisions:
                    message = decision_message(decision, self.trust)
                    # The claimant's topic first, then the national record: a crash in between
                    # repeats the input and both sends (the same decision id; inboxes drop the repeat).
                    for name in decision_topics(decision.region, decision.outcome, settings.decisions_topic):
                        outgoing.append((await self._output(name), message))
                    log.info("decided %s %s on claim %s of %s/%s", decision.outcome, decision.kind,
                             decision.claim_id, decision.region, decision.service)
                done[tp] = offset + 1
        # Committed before the decisions are sent: a crash in between repeats them, never decides
        # them again from a record that lacks them. One transaction for the batch.
        store.flush()
        await deliver_all(outgoing)
        assigned = consumer.assignment()
        offsets = {tp: offset for tp, offset in done.items() if tp in assigned}
        if offsets:
            try:
                await consumer.commit(offsets)
            except Exception as exc:  # e.g. the group rebalanced meanwhile: read again, repeats decide nothing
                log.warning("committing the offsets of a decided batch failed (%s); its inputs will be read again",
                            exc)

    async def _output(self, name: str) -> Topic:
        """The claimant region's topic (invariant 10), created as the first decision for it is sent:
        the worker need not know the country's regions in advance."""
        topic = self._outputs.get(name)
        if topic is None:
            assert self._producer is not None
            await asyncio.to_thread(ensure_topics, self.settings.bootstrap, [name], self.settings.partitions)
            topic = self._outputs[name] = Topic(self._producer, name)
        return topic

    async def _expiry_loop(self, claims: Topic, caught_up: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self.settings.expiry_check_interval)  # the timer's period
            if caught_up.is_set():
                await self._send_expiry_checks(claims)

    async def _send_expiry_checks(self, claims: Topic) -> None:
        """An ExpiryDue input on the claims topic for each granted hold past its time: expiry is
        decided by the decider, in line with every other input about the person."""
        now = self.clock.now()
        tick = time.monotonic()
        resend_after = max(5.0, 10 * self.settings.expiry_check_interval)
        sent = self._sent
        for key in [k for k, when in sent.items() if tick - when > 10 * resend_after]:
            del sent[key]  # long decided: keeps the map to the holds in flight
        outgoing: list[Outgoing] = []
        for person, due_at in self.store.due(now):
            # Not again while the first ones are likely still on their way; again after that, in
            # case they were lost with a crash. A record whose due instant moved is looked at anew.
            if tick - sent.get((person, due_at), float("-inf")) < resend_after:
                continue
            sent[(person, due_at)] = tick
            stored = self.store.get(person)
            if stored is not None:
                outgoing += [expiry_input(person, key, now=now, trust=self.trust)
                             for key in due_expiries(record_from_json(stored.record), now)]
        # Sent together, acknowledged together: one round trip per tick, not one per check.
        await deliver_all([(claims, message) for message in outgoing])
