"""The registry's faust app: the forwarder task, the decide agent over the person store, and the
expiry timer (the flow and its crash safety are in the package docstring)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from services.common.clock import Clock, SystemClock
from services.common.faust_batches import batches
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

# The decide agent takes the inputs it has in hand, up to BATCH_INPUTS, waiting at most
# BATCH_WITHIN seconds for more: their records are committed in one store transaction and their
# decisions sent together. The wait is what an idle claim's round trip pays for it.
BATCH_INPUTS = 500
BATCH_WITHIN = 0.01


def build_app(settings: WorkerSettings, *, clock: Clock | None = None) -> Any:
    """The registry's faust app (not started). `clock` stamps the inputs and drives expiry."""
    import faust
    from faust.types import TP
    from mode import CrashingSupervisor

    from services.common.faust_app import create_app

    clock = clock or SystemClock()
    trust = WorkerTrust.load(settings.signing_keys, settings.trusted_keys, settings.datadir)
    app = create_app(settings.app_id, settings.bootstrap, datadir=settings.datadir,
                     topic_partitions=settings.partitions)
    raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    claims = app.topic(settings.claims_topic, partitions=settings.partitions, **raw)
    # The claimant regions' topics (invariant 10), declared as the first decision for each is sent:
    # the worker need not know the country's regions in advance.
    outputs: dict[str, Any] = {}

    async def output(name: str) -> Any:
        topic = outputs.get(name)
        if topic is None:
            topic = app.topic(name, partitions=settings.partitions, **raw)
            await topic.maybe_declare()
            outputs[name] = topic
        return topic
    # The person records live in the worker's own store (person_store.py says why not in a faust
    # table); every input's effect is committed there before its decisions are sent.
    store = PersonStore(settings.store_url)
    ttl = settings.claim_ttl

    # Set once the claims published before this worker started are forwarded: until then a release
    # may be waiting in a service topic, and no deadline is judged (AReleaseCountsFromItsRecording).
    caught_up = asyncio.Event()
    joined, sending = asyncio.Event(), asyncio.Event()
    forwarder = partial(forward_loop, settings, claims, clock, trust, caught_up, joined=joined, sending=sending)
    app.add_dependency(_forwarder_service(forwarder, settings.consuming_marker))

    @app.task
    async def consuming() -> None:
        # The app's tasks start once it is ready: its producer runs and the decide agent's
        # partitions are assigned. With the forwarder's, the worker consumes: it says so.
        sending.set()
        await joined.wait()
        mark_consuming(settings.consuming_marker)
        log.info("consuming: the decide agent's and the forwarder's partitions are assigned")

    gaps = GapHealer(settings.claims_topic)

    # An agent that fails on something other than bad data crashes the worker rather than skip
    # the input: the restarted worker processes it again (at-least-once).
    @app.agent(claims, name="decide", supervisor_strategy=CrashingSupervisor)
    async def decide_claims(stream: faust.StreamT) -> None:
        # A batch's events are acknowledged only once this body is done with it (after the sends).
        async for batch in batches(stream, BATCH_INPUTS, BATCH_WITHIN):
            outgoing: list[tuple[Any, Outgoing]] = []
            store.load(event.key.decode("utf-8", "replace") for event in batch)  # one query, not one each
            for event in batch:
                partition, offset = event.message.partition, event.message.offset
                expected = store.position(settings.claims_topic, partition)
                seek_to = gaps.check(partition, offset, expected)
                if seek_to is not None:
                    await app.consumer.seek(TP(settings.claims_topic, partition), seek_to)
                    continue
                if gaps.skipping(partition, offset, expected):
                    continue
                person = event.key.decode("utf-8", "replace")
                read = store.get(person)  # what an earlier input of the batch staged, if any
                taken = take(None if read is None else read.record, event.key, event.value, event.headers,
                             claim_ttl=ttl, release_wait=settings.release_wait, trust=trust)
                if taken.note:
                    log.info("%s: %s", person[:6] + "…", taken.note)  # no full citizen id in logs
                store.stage(Effect(settings.claims_topic, partition,
                                   offset + 1 if expected is None or offset >= expected else None,
                                   citizen_id=person, record=taken.record, read=read, due=taken.due))
                for decision in taken.decisions:
                    message = decision_message(decision, trust)
                    # The claimant's topic first, then the national record: a crash in between
                    # repeats the input and both sends (the same decision id; inboxes drop the repeat).
                    for name in decision_topics(decision.region, decision.outcome, settings.decisions_topic):
                        outgoing.append((await output(name), message))
                    log.info("decided %s %s on claim %s of %s/%s", decision.outcome, decision.kind,
                             decision.claim_id, decision.region, decision.service)
            # Committed before the decisions are sent: a crash in between repeats them, never
            # decides them again from a record that lacks them. One transaction for the batch.
            store.flush()
            await deliver_all(outgoing)
            for event in batch:
                await stream.ack(event)

    sent: dict[tuple[str, int], float] = {}  # (person, due µs) → when its checks were last sent (monotonic)
    resend_after = max(5.0, 10 * settings.expiry_check_interval)

    @app.timer(settings.expiry_check_interval, name="expiry-checks")
    async def send_expiry_checks() -> None:
        if not caught_up.is_set():
            return
        now = clock.now()
        tick = time.monotonic()
        for key in [k for k, when in sent.items() if tick - when > 10 * resend_after]:
            del sent[key]  # long decided: keeps the map to the holds in flight
        outgoing: list[Outgoing] = []
        for person, due_at in store.due(now):
            # Not again while the first ones are likely still on their way; again after that, in
            # case they were lost with a crash. A record whose due instant moved is looked at anew.
            if tick - sent.get((person, due_at), float("-inf")) < resend_after:
                continue
            sent[(person, due_at)] = tick
            stored = store.get(person)
            if stored is not None:
                outgoing += [expiry_input(person, key, now=now, trust=trust)
                             for key in due_expiries(record_from_json(stored.record), now)]
        # Sent together, acknowledged together: one round trip per tick, not one per check.
        await deliver_all([(claims, message) for message in outgoing])

    return app


def _forwarder_service(run: Callable[[], Awaitable[None]], marker: Path) -> Any:
    """The forwarder as a service the app starts before its own consumer (its first child), so
    that its group join, seconds on the development broker, runs beside the app's rather than
    after it, as an app task would (those start once the app is ready). Stopped with the app; the
    marker saying the worker consumes goes with it."""
    import mode

    class Forwarder(mode.Service):
        async def on_start(self) -> None:
            clear_consuming(marker)
            self.add_future(run())

        async def on_stop(self) -> None:
            clear_consuming(marker)

    return Forwarder()
