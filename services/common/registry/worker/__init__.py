"""The registry worker: the single writer per person (architecture invariant 5), a faust app.

    tongban registry --kafka HOST:PORT [--claim-ttl 24h] [...]
    python -m services.common.registry.worker --kafka HOST:PORT [...]   (the same)
    (`worker --without-web` may be given too, for the same command line as other faust apps.)

Flow (docs/cross-region.md):
1. The forwarder reads the service topics (tongban.<service>.events.v1) in the consumer group
   "<app-id>.forward", keeps the claim events (ClaimRequested / ClaimConfirmed / ClaimReleased, hash
   checked, the declared claimant being the region and service whose store recorded them) and
   forwards each one, byte for byte, to the worker's own topic tongban.registry.claims.v1 keyed by
   citizen id, stamped with the time it was taken in. This is the repartition by citizen id.
2. The agent `decide` reads that topic — so one partition, hence one worker, decides every input
   about a person, in order — folds each input into the person's record in the faust table
   `registry-persons` (keyed by citizen id, kept in its changelog topic) with `domain.decide`, and
   sends the decisions to tongban.registry.decisions.v1 keyed by citizen id.
3. A timer looks for granted holds past the claim time-to-live and puts an ExpiryDue input for them
   on the claims topic. It never changes the table itself: expiry is decided by `decide`, in line
   with every other input about the person.

Crash safety (kill -9 at any instant; at-least-once delivery, no Kafka transactions, which the
development broker does not support reliably):
- Decisions depend on nothing but the record and the input: the time is the one stamped on the
  input when it was forwarded, never the clock at processing time, and the timer's expiries are
  inputs too. So processing the same inputs from the same record gives the same decisions, with
  the same ids (derived from the claim and the outcome).
- The record remembers what each input decided. An input seen before — a redelivery, a duplicate
  forward, or a re-run after a crash — repeats its decisions instead of deciding again.
- `decide` writes the record (and the partition's next offset) to the table, then sends each
  decision and waits for the broker's acknowledgement. faust commits an input's offset only after
  the agent moved past it, and flushes its producer (the changelog included) before committing.
- Killed after the table write but before the decisions were sent: the offset is not committed,
  the restarted worker recovers the record from the changelog, processes the input again, finds
  it remembered and sends the same decisions (receivers' inboxes drop those that did arrive).
  Killed after sending but before the changelog write landed: the input is processed again from
  the older record, which by determinism decides the same again. Either way a grant is only ever
  decided from a record holding every earlier decision about the person, or repeated with its
  original id: never a second grant.
- The forwarder commits a batch only after every claim in it was acknowledged on the claims topic:
  killed before, the batch is forwarded again, and the duplicates are inputs seen before. A lost
  expiry check is sent again by the restarted timer, since the hold is still due.
- faust-streaming 0.15.3 was seen to skip messages after a restart (its fetcher runs while the
  table recovers and races with the seek to the committed offsets; it then commits past the hole).
  Hence the forwarder is a plain aiokafka consumer, and the decider checks each claims-topic
  offset against the next offset its table expects (the topic has no holes of its own) and seeks
  back over a hole rather than deciding without it (`GapHealer`).

Limits: the timer scans the whole local table every interval (fine for the claims in flight, not
for a national population in one process); the record keeps what every input decided, so it
grows with the claims on a person (a handful in a lifetime). Table recovery trusts faust to read
the changelog up to its high-water mark.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry import trace

from services.common.clock import Clock, SystemClock
from services.common.consumer import CorruptEnvelope, Headers, decode
from services.common.events import TraceContext
from services.common.kafka_settings import ensure_topics, events_topic
from services.common.registry.adapters import (
    CLAIM_EVENT_TYPES,
    NotAClaim,
    claim_message,
    decision_to_proto,
    instant,
    timestamp,
)
from services.common.registry.domain import (
    ExpiryCheck,
    PersonRecord,
    RegistryDecision,
    RegistryInput,
    decide,
    due_expiries,
    record_from_json,
    record_to_json,
)
from services.common.registry.topics import CLAIMING_SERVICES, CLAIMS_TOPIC, DECISIONS_TOPIC
from services.common.relay import HEADER_EVENT_TYPE
from services.common.telemetry import (
    context_from_trace,
    current_trace_context,
    kafka_headers,
    setup_tracing,
    trace_from_kafka_headers,
)
from tongban.registry.v1 import worker_pb2

log = logging.getLogger("tongban.registry.worker")

TABLE_NAME = "registry-persons"
HEADER_DECISION_ID = "tongban-decision-id"
DEFAULT_APP_ID = "tongban-registry"
DEFAULT_CLAIM_TTL = timedelta(hours=24)


@dataclass(frozen=True)
class WorkerSettings:
    bootstrap: str
    datadir: Path
    app_id: str = DEFAULT_APP_ID
    service_topics: tuple[str, ...] = tuple(events_topic(s) for s in CLAIMING_SERVICES)
    claims_topic: str = CLAIMS_TOPIC
    decisions_topic: str = DECISIONS_TOPIC
    claim_ttl: timedelta = DEFAULT_CLAIM_TTL
    expiry_check_interval: float = 1.0  # seconds between scans for due holds
    # Of the claims topic and the table's changelog, which must agree (faust checks): choose it
    # once, since changing it moves people to other partitions.
    partitions: int = 8

    def __post_init__(self) -> None:
        if self.claim_ttl <= timedelta(0):
            raise ValueError("claim_ttl must be positive")
        if self.expiry_check_interval <= 0:
            raise ValueError("expiry_check_interval must be positive")
        if self.partitions < 1:
            raise ValueError("partitions must be at least 1")
        if not self.service_topics:
            raise ValueError("the worker needs at least one service topic")


# --- the work of one message, without faust ------------------------------------------------


@dataclass(frozen=True)
class Outgoing:
    """A message to send: key, value and headers."""

    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def forward(raw: bytes, headers: Headers, *, now: datetime) -> Outgoing | None:
    """The claims-topic message for one service-topic message; None for any other event, or for a
    claim the registry cannot take (logged)."""
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
    except (CorruptEnvelope, DecodeError, ValueError, LookupError) as exc:
        log.error("skipping an undecodable message on a service topic: %s", exc)
        return None
    value = worker_pb2.RegistryInput(claim_event=raw, received_at=timestamp(now))
    return Outgoing(message.citizen_id.encode(), value.SerializeToString(), _trace_headers(headers))


def expiry_input(citizen_id: str, claim_key: str, *, now: datetime) -> Outgoing:
    value = worker_pb2.RegistryInput(
        expiry_due=worker_pb2.ExpiryDue(citizen_id=citizen_id, claim_id=claim_key), received_at=timestamp(now)
    )
    return Outgoing(citizen_id.encode(), value.SerializeToString(), [])


@dataclass(frozen=True)
class Taken:
    record: dict[str, Any] | None  # the person's new table value; None when it did not change
    decisions: tuple[RegistryDecision, ...]
    note: str = ""


def take(current: Mapping[str, Any] | None, key: bytes, raw: bytes, headers: Headers, *,
         claim_ttl: timedelta) -> Taken:
    """Decide one claims-topic message against the person's table value."""
    citizen_id = key.decode("utf-8", "replace")
    try:
        registry_input, parent = _registry_input(raw, headers)
    except (NotAClaim, CorruptEnvelope, DecodeError, ValueError, LookupError) as exc:
        return Taken(None, (), note=f"not an input: {exc}")
    tracer = trace.get_tracer("tongban.registry")
    with tracer.start_as_current_span("registry decide", context=context_from_trace(parent),
                                      kind=trace.SpanKind.CONSUMER) as span:
        if isinstance(registry_input, ExpiryCheck):
            message: RegistryInput = registry_input
        else:
            # The decisions carry this span's context: the claimant continues the journey from here.
            message = registry_input(current_trace_context())
        if message.citizen_id != citizen_id:
            return Taken(None, (), note=f"keyed by another person than the input names ({message.citizen_id})")
        record: PersonRecord | None = record_from_json(current) if current is not None else None
        result = decide(record, message, claim_ttl=claim_ttl)
        span.set_attribute("tongban.registry.decisions", len(result.decisions))
        span.set_attribute("tongban.registry.repeated", result.repeated)
        changed = result.record is not record and not result.repeated
        return Taken(record_to_json(result.record) if changed else None, result.decisions, note=result.note)


def decision_message(decision: RegistryDecision) -> Outgoing:
    headers = [(HEADER_DECISION_ID, decision.decision_id.encode()), *kafka_headers(decision.trace)]
    return Outgoing(decision.citizen_id.encode(), decision_to_proto(decision).SerializeToString(deterministic=True),
                    headers)


def _registry_input(
    raw: bytes, headers: Headers
) -> tuple[ExpiryCheck | Callable[[TraceContext], RegistryInput], TraceContext]:
    """The input in a claims-topic message, and the trace it continues. A claim's trace is only
    known once the decide span exists, hence a function of it."""
    wrapper = worker_pb2.RegistryInput.FromString(raw)
    at = instant(wrapper.received_at)
    which = wrapper.WhichOneof("input")
    if which == "expiry_due":
        due = wrapper.expiry_due
        return ExpiryCheck(claim_key=due.claim_id, citizen_id=due.citizen_id, at=at), TraceContext()
    if which != "claim_event":
        raise ValueError("empty registry input")
    event = decode(wrapper.claim_event)
    claim_message(event, at=at, trace=event.trace)  # validates now, before the span opens
    received = trace_from_kafka_headers(headers)
    return (lambda tc: claim_message(event, at=at, trace=tc)), (received if received.traceparent else event.trace)


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


# --- the faust app -------------------------------------------------------------------------


def build_app(settings: WorkerSettings, *, clock: Clock | None = None) -> Any:
    """The registry's faust app (not started). `clock` stamps the inputs and drives expiry."""
    import faust
    from faust.types import TP
    from mode import CrashingSupervisor

    from services.common.faust_app import create_app

    clock = clock or SystemClock()
    app = create_app(settings.app_id, settings.bootstrap, datadir=settings.datadir,
                     topic_partitions=settings.partitions)
    raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
    claims = app.topic(settings.claims_topic, partitions=settings.partitions, **raw)
    decisions = app.topic(settings.decisions_topic, partitions=settings.partitions, **raw)
    # Keys and values use the app's serializers: raw (the citizen id's bytes) and JSON (the record).
    persons = app.Table(TABLE_NAME, default=None, partitions=settings.partitions, key_type=str)
    ttl = settings.claim_ttl

    @app.task
    async def forward_claims() -> None:
        await _forward_loop(settings, claims, clock)

    gaps = GapHealer(settings.claims_topic)

    # An agent that fails on something other than bad data crashes the worker rather than skip
    # the input: the restarted worker processes it again (at-least-once).
    @app.agent(claims, name="decide", supervisor_strategy=CrashingSupervisor)
    async def decide_claims(stream: faust.StreamT) -> None:
        async for event in stream.events():
            partition, offset = event.message.partition, event.message.offset
            position = persons.get(_position_key(partition))
            expected = None if position is None else int(position["next"])
            seek_to = gaps.check(partition, offset, expected)
            if seek_to is not None:
                await app.consumer.seek(TP(settings.claims_topic, partition), seek_to)
                continue
            if gaps.skipping(partition, offset, expected):
                continue
            person = event.key.decode("utf-8", "replace")
            taken = take(persons.get(person), event.key, event.value, event.headers, claim_ttl=ttl)
            if taken.note:
                log.info("%s: %s", person[:6] + "…", taken.note)  # no full citizen id in logs
            if taken.record is not None:
                persons[person] = taken.record  # the changelog write comes before the decisions
            if expected is None or offset >= expected:
                persons[_position_key(partition)] = {"next": offset + 1}
            for decision in taken.decisions:
                await _deliver(decisions, decision_message(decision))
                log.info("decided %s %s on claim %s of %s/%s", decision.outcome, decision.kind, decision.claim_id,
                         decision.region, decision.service)

    sent: dict[str, float] = {}  # claim key → when its expiry check was last sent (monotonic)
    resend_after = max(5.0, 10 * settings.expiry_check_interval)

    @app.timer(settings.expiry_check_interval, name="expiry-checks")
    async def send_expiry_checks() -> None:
        now = clock.now()
        tick = time.monotonic()
        for key in [k for k, when in sent.items() if tick - when > 10 * resend_after]:
            del sent[key]  # long decided: keeps the map to the holds in flight
        for person, value in list(persons.items()):
            if value is None or person.startswith(_POSITION_PREFIX):
                continue
            for key in due_expiries(record_from_json(value), now):
                # Not again while the first one is likely still on its way; again after that, in
                # case it was lost with a crash.
                if tick - sent.get(key, float("-inf")) < resend_after:
                    continue
                sent[key] = tick
                await _deliver(claims, expiry_input(person, key, now=now))

    return app


# Table keys that are not citizen ids: where each partition of the claims topic stands.
_POSITION_PREFIX = "~next-offset/"


def _position_key(partition: int) -> str:
    return f"{_POSITION_PREFIX}{partition}"


class GapHealer:
    """Makes the decider see every offset of the claims topic, in order.

    faust-streaming 0.15.3 can hand an agent a partition's messages with a hole in them after a
    restart (its fetcher runs while the table recovers, and a later seek to the committed offsets
    races with it; it may even commit past the hole, taking it for compaction). The claims topic
    has no holes of its own — only this worker writes it, without transactions — so the next offset
    the table says it expects is exact: a message beyond it means messages were skipped, and the
    agent seeks back to them instead of deciding out of order."""

    RETRY_AFTER = 2.0  # seconds before seeking again for the same hole
    MAX_SEEKS = 5  # then the hole is taken as real (records deleted by retention) and logged

    def __init__(self, topic: str, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.topic = topic
        self._monotonic = monotonic
        self._seeks: dict[int, tuple[int, float, int]] = {}  # partition → (expected, when, attempts)

    def check(self, partition: int, offset: int, expected: int | None) -> int | None:
        """The offset to seek to, or None to go on."""
        if expected is None or offset <= expected:
            self._seeks.pop(partition, None)
            return None
        last = self._seeks.get(partition)
        attempts = last[2] if last is not None and last[0] == expected else 0
        if last is not None and last[0] == expected and self._monotonic() - last[1] < self.RETRY_AFTER:
            return None  # a seek is under way: skipping() drops what was fetched before it
        if attempts >= self.MAX_SEEKS:
            log.error("%s[%d]: offsets %d..%d never came; going on from %d", self.topic, partition, expected,
                      offset - 1, offset)
            self._seeks.pop(partition, None)
            return None
        log.warning("%s[%d]: got offset %d, expected %d; seeking back", self.topic, partition, offset, expected)
        self._seeks[partition] = (expected, self._monotonic(), attempts + 1)
        return expected

    def skipping(self, partition: int, offset: int, expected: int | None) -> bool:
        """A message beyond the hole while a seek back is under way: it comes again after it."""
        return expected is not None and offset > expected and partition in self._seeks


async def _forward_loop(settings: WorkerSettings, claims: Any, clock: Clock) -> None:
    """Forward the claims on the service topics to the claims topic, committing a batch's offsets
    only once every claim in it was acknowledged (at-least-once; a duplicate is an input seen
    before). A plain aiokafka consumer rather than a faust agent: faust's consumer, shared with
    the table's recovery, can skip messages after a restart, and nothing downstream could notice
    a claim that never reached the claims topic."""
    from aiokafka import AIOKafkaConsumer

    from services.common.kafka_settings import aiokafka_consumer_config

    consumer = AIOKafkaConsumer(*settings.service_topics,
                                **aiokafka_consumer_config(settings.bootstrap, f"{settings.app_id}.forward"))
    await consumer.start()
    try:
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        outgoing = forward(record.value, record.headers, now=clock.now())
                        if outgoing is not None:
                            await _deliver(claims, outgoing)
                if batches:
                    await consumer.commit()  # the positions after the records just forwarded
            except asyncio.CancelledError:
                raise
            except Exception:
                # Forwards are acknowledged before any commit (_deliver retries until they are), so a
                # failed fetch or commit loses nothing: the next commit covers what was forwarded.
                log.exception("forwarding claims failed; retrying")
                await asyncio.sleep(1.0)  # back-off before a retry, not synchronisation
    finally:
        await consumer.stop()


async def _deliver(topic: Any, outgoing: Outgoing) -> None:
    """Send and wait for the broker's acknowledgement, retrying until it comes: the agent must not
    move past its input (and let its offset be committed) before its output is durable."""
    delay = 0.5
    while True:
        try:
            pending = await topic.send(key=outgoing.key, value=outgoing.value, headers=outgoing.headers, force=True)
            await pending
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sending to %s failed; retrying in %.1fs", topic.get_topic_name(), delay)
            await asyncio.sleep(delay)  # back-off before a retry, not synchronisation
            delay = min(delay * 2, 10.0)


# --- the command line ------------------------------------------------------------------------

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """"90s", "15m", "24h", "7d", "250ms", or plain seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 30s, 15m, 24h, 7d)")
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if seconds <= 0:
        raise argparse.ArgumentTypeError("a duration must be positive")
    return timedelta(seconds=seconds)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        # The CLI's entry point; `python -m services.common.registry.worker` takes the same arguments.
        prog="tongban registry",
        description="Run the per-person registry worker: it reads the claims on the service topics, decides "
                    "one person at a time in a faust table (one holder per person and kind), releases "
                    "unconfirmed claims after --claim-ttl, and publishes the decisions. Stops on SIGTERM or "
                    "Ctrl-C; safe to kill at any moment.",
        epilog="example: tongban registry --kafka 127.0.0.1:9092 --claim-ttl 24h",
    )
    parser.add_argument("legacy", nargs="*", metavar="worker", help=argparse.SUPPRESS)
    parser.add_argument("--without-web", action="store_true", help=argparse.SUPPRESS)  # web is always off
    parser.add_argument("--kafka", default=os.environ.get("TONGBAN_KAFKA"),
                        help="bootstrap servers, host:port (default: $TONGBAN_KAFKA)")
    parser.add_argument("--app-id", default=DEFAULT_APP_ID,
                        help="faust app id: consumer group and table changelog prefix (default %(default)s)")
    parser.add_argument("--service-topic", action="append", dest="service_topics", metavar="TOPIC",
                        help="a topic carrying claims, repeatable (default: the marriage, disability and relief "
                             "topics)")
    parser.add_argument("--claims-topic", default=CLAIMS_TOPIC, help="the worker's input topic (%(default)s)")
    parser.add_argument("--decisions-topic", default=DECISIONS_TOPIC, help="where decisions go (%(default)s)")
    parser.add_argument("--claim-ttl", type=parse_duration, default=DEFAULT_CLAIM_TTL,
                        help="release a granted claim not confirmed within this time (default 24h)")
    parser.add_argument("--expiry-check-interval", type=float, default=1.0, metavar="SECONDS",
                        help="how often to look for expired claims (default %(default)s)")
    parser.add_argument("--partitions", type=int, default=8,
                        help="partitions of the claims and decisions topics and of the table (default %(default)s)")
    parser.add_argument("--datadir", type=Path, default=Path("data/registry"),
                        help="faust's local directory (default %(default)s)")
    parser.add_argument("--loglevel", default="warning", help="faust/log level (default %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if any(word != "worker" for word in args.legacy):
        build_parser().error(f"unexpected arguments: {' '.join(args.legacy)}")
    if not args.kafka:
        build_parser().error("--kafka (or TONGBAN_KAFKA) is required")
    settings = WorkerSettings(
        bootstrap=args.kafka, datadir=args.datadir, app_id=args.app_id,
        service_topics=tuple(args.service_topics or WorkerSettings.service_topics),
        claims_topic=args.claims_topic, decisions_topic=args.decisions_topic, claim_ttl=args.claim_ttl,
        expiry_check_interval=args.expiry_check_interval, partitions=args.partitions,
    )
    return run(settings, loglevel=args.loglevel)


def run(settings: WorkerSettings, *, clock: Clock | None = None, loglevel: str = "warning") -> int:
    """Create the topics, then run the worker until SIGTERM / Ctrl-C."""
    import faust

    setup_tracing("tongban-registry")
    # The service topics are normally created by the relays; creating a missing one here lets the
    # worker start first. Existing topics keep their partition counts.
    ensure_topics(settings.bootstrap, list(settings.service_topics))
    ensure_topics(settings.bootstrap, [settings.claims_topic, settings.decisions_topic],
                  partitions=settings.partitions)
    settings.datadir.mkdir(parents=True, exist_ok=True)
    app = build_app(settings, clock=clock)
    worker = faust.Worker(app, loglevel=loglevel)
    try:
        worker.execute_from_commandline()
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
