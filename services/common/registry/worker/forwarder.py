"""The forwarder: the claims on the service topics, repartitioned by citizen id onto the claims
topic (step 1 of the flow in the package docstring), and the acknowledged send both steps use
(`deliver_all`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.protobuf.message import DecodeError

from services.common.clock import Clock
from services.common.consumer import CorruptEnvelope, Headers, decode
from services.common.kafka_clients import stop_client
from services.common.registry.adapters import CLAIM_EVENT_TYPES, NotAClaim, claim_message, timestamp
from services.common.registry.worker.settings import WorkerSettings
from services.common.registry.worker.trust import WorkerTrust
from services.common.relay import HEADER_EVENT_TYPE
from services.common.telemetry import kafka_headers, trace_from_kafka_headers
from services.common.trust.signing import INPUT_PURPOSE
from tongban.registry.v1 import worker_pb2

log = logging.getLogger("tongban.registry.worker")


@dataclass(frozen=True)
class Outgoing:
    """A message to send: key, value and headers."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def forward(raw: bytes, headers: Headers, *, now: datetime, trust: WorkerTrust | None = None,
            topic: str = "a service topic") -> Outgoing | None:
    """The claims-topic message for one service-topic message, signed by the registry; None for
    any other event, for a claim the registry cannot take, or for one its region did not sign
    (logged, counted)."""
    declared = _header(headers, HEADER_EVENT_TYPE)
    if declared is not None and declared not in CLAIM_EVENT_TYPES:
        return None  # the relay names the type: most events are skipped without decoding them
    try:
        event = decode(raw)
        message = claim_message(event, at=now, trace=event.trace)
    except NotAClaim as exc:
        if event.type in CLAIM_EVENT_TYPES:
            log.error("not forwarding claim event %s from %s/%s: %s", event.event_id, event.region, event.service,
                      exc)
        return None
    except CorruptEnvelope as exc:  # altered after it was recorded: a forgery as much as an unsigned claim
        if trust is not None:
            trust.refuse(topic, "an altered message", f"the hash does not match the content: {exc}", raw=raw)
        else:
            log.error("skipping an altered message on a service topic: %s", exc)
        return None
    except (DecodeError, ValueError, LookupError) as exc:
        log.error("skipping an undecodable message on a service topic: %s", exc)
        return None
    if trust is not None:
        problem = trust.claim_problem(raw)
        if problem is not None:
            trust.refuse(topic, f"{event.type} {event.event_id} from region {event.region}", problem, raw=raw,
                         event=event)
            return None
    value = worker_pb2.RegistryInput(claim_event=raw, received_at=timestamp(now)).SerializeToString()
    signature = trust.sign(INPUT_PURPOSE, value) if trust is not None else []
    return Outgoing(message.citizen_id.encode(), value, [*_trace_headers(headers), *signature])


def _header(headers: Headers, name: str) -> str | None:
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in pairs:
        if key == name and value is not None:
            return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return None


def _trace_headers(headers: Headers) -> list[tuple[str, bytes]]:
    return kafka_headers(trace_from_kafka_headers(headers)) if headers else []


async def forward_loop(settings: WorkerSettings, claims: Any, clock: Clock, trust: WorkerTrust | None = None,
                       caught_up: asyncio.Event | None = None, *, joined: asyncio.Event | None = None) -> None:
    """Forward the claims on the service topics to the claims topic, committing a batch's offsets
    only once every claim in it was acknowledged (at-least-once; a duplicate is an input seen
    before). `claims` is the claims topic (app.Topic), its producer started. `caught_up` is set
    once every claim published before the forwarder started has been forwarded (the timer waits
    for it before it judges any deadline); `joined` once the consumer's partitions are assigned."""
    from aiokafka import AIOKafkaConsumer

    from services.common.kafka_settings import aiokafka_consumer_config

    consumer = AIOKafkaConsumer(*settings.service_topics,
                                **aiokafka_consumer_config(settings.bootstrap, f"{settings.app_id}.forward"))
    ends: dict[Any, int] | None = None  # the service topics' ends when the forwarder first saw them
    try:
        await consumer.start()  # returns once the group is joined and the partitions assigned
        if joined is not None:
            joined.set()
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=500)
                outgoing = [forwarded for records in batches.values() for record in records
                            if (forwarded := forward(record.value, record.headers, now=clock.now(), trust=trust,
                                                     topic=record.topic)) is not None]
                # Sent together, acknowledged together: one round trip per fetch, not one per claim.
                await deliver_all([(claims, message) for message in outgoing])
                if batches:
                    await consumer.commit()  # the positions after the records just forwarded
                # After the forwards: what the position passed is on the claims topic now.
                if caught_up is not None and not caught_up.is_set():
                    assigned = list(consumer.assignment())
                    if assigned and ends is None:
                        ends = await consumer.end_offsets(assigned)
                    if ends is not None and await _reached(consumer, ends):
                        log.info("forwarder caught up with the service topics")
                        caught_up.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Forwards are acknowledged before any commit (deliver_all retries until they are), so a
                # failed fetch or commit loses nothing: the next commit covers what was forwarded.
                log.exception("forwarding claims failed; retrying")
                await asyncio.sleep(1.0)  # back-off before a retry, not synchronisation
    finally:
        await stop_client(consumer, "forwarder's consumer")


async def _reached(consumer: Any, ends: dict[Any, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True


async def deliver_all(messages: Sequence[tuple[Any, Outgoing]]) -> None:
    """Send every (topic, message) in order and wait for all the broker's acknowledgements,
    retrying until they come: the caller must not move past its inputs (and let their offsets be
    committed) before its outputs are durable. One round trip for all, not one per message.

    Enqueued one after another, so messages of one partition (one person) leave in order, as
    sending and awaiting them one at a time would. When some are not acknowledged, everything from the
    first of them on is sent again, in order, after a back-off: a message acknowledged after a
    failed one may then be on its topic twice, and, if the broker refused one batch of a partition
    and took the next, before the first copy of the one refused. Every reader of these topics
    takes an input or decision seen before as a repeat (the worker's records, the regions'
    inboxes), an input arriving before the claim it continues decides nothing until the claim's
    copy follows it, and a region's view never moves a claim backwards."""
    pending = list(messages)
    delay = 0.5
    while pending:
        acks: list[Any] = []
        try:
            for topic, outgoing in pending:
                acks.append(await topic.send(key=outgoing.key, value=outgoing.value, headers=outgoing.headers))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("enqueueing %d messages failed; retrying in %.1fs", len(pending) - len(acks), delay)
        results = await asyncio.gather(*acks, return_exceptions=True)
        for result in results:
            if isinstance(result, asyncio.CancelledError):
                raise result
        failed = next((i for i, result in enumerate(results) if isinstance(result, BaseException)), len(acks))
        if failed == len(pending):
            return
        if failed < len(results):
            log.error("sending to %s failed; retrying %d messages in %.1fs",
                      pending[failed][0].get_topic_name(), len(pending) - failed, delay, exc_info=results[failed])
        pending = pending[failed:]
        await asyncio.sleep(delay)  # back-off before a retry, not synchronisation
        delay = min(delay * 2, 10.0)
