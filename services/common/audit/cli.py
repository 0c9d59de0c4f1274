"""`tongban audit ...`: the auditor's command line. `add_audit_parser(subparsers)` builds the whole
`audit` subcommand tree (services/cli.py calls it); `add_audit_bench_parser` adds `bench audit`.
Also runnable alone: `python -m services.common.audit.cli verify --data data/`.

Exit codes: 0 intact / reproduced / done; 1 something is wrong with the data (the finding is on
stderr); 2 the command could not run (bad arguments, nothing to audit, no broker)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import textwrap
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FINDING = 1
EXIT_USAGE = 2

AUDIT_DESCRIPTION = """\
Read-only tools for auditors: verify that nothing was altered, replay every read model from the
log, and reconstruct any case across regions and services as it stood at any moment. Stores are
found under a data directory laid out as DIR/<region>/<service>.db (the embedded default), or
named one by one with --db (PostgreSQL in production)."""

_DATA_HELP = "data directory: every DIR/<region>/<service>.db is audited"
_DB_HELP = ("a store as [REGION/SERVICE=]URL (SQLAlchemy URL or SQLite path; repeatable). Without the "
            "prefix the region and service are read from the store's events")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks (descriptions are wrapped by `_wrap`)."""


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=88)


def _add_sources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, metavar="DIR", help=_DATA_HELP)
    parser.add_argument("--db", action="append", default=[], metavar="[REGION/SERVICE=]URL", help=_DB_HELP)


def _add_topics(parser: argparse.ArgumentParser, *, checkpoints: bool = True) -> None:
    parser.add_argument("--topic-template", default="tongban.{service}.events.v1", metavar="TEMPLATE",
                        help="topic of each service's events (default %(default)s)")
    if checkpoints:
        parser.add_argument("--checkpoint-topic", default=None, metavar="TOPIC",
                            help="topic of the audit stores (default tongban.audit.checkpoints.v1)")
    else:
        parser.set_defaults(checkpoint_topic=None)
    parser.add_argument("--idle", type=float, default=2.0, metavar="SECONDS",
                        help="a topic counts as read to its end once past its reported end and quiet this long "
                             "(default %(default)s s)")


def add_audit_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `audit` and its actions to a `tongban` subparsers object; returns the `audit` parser."""
    audit = subparsers.add_parser("audit", help="verify, replay and trace cases across regions (auditors)",
                                  description=AUDIT_DESCRIPTION, formatter_class=_Formatter)
    _add_actions(audit)
    return audit


def add_audit_bench_parser(bench_subparsers: Any) -> argparse.ArgumentParser:
    """Add `bench audit` to the `tongban bench` subparsers."""
    bench = bench_subparsers.add_parser(
        "audit", help="audit verify and replay rates (events/s)", formatter_class=_Formatter,
        description=_wrap("Build a synthetic multi-region dataset (SQLite, DIR/<region>/<service>.db) and measure "
                    "`audit verify` over every store (events/s, every hash recomputed) and `audit replay` of "
                    "every registered projection with the comparison (events/s)."),
        epilog="example: tongban bench audit --json bench-audit.json")
    bench.add_argument("--json", metavar="FILE", help='write [{"name", "value", "unit", "backend"}, ...] to FILE')
    bench.add_argument("--events", type=int, default=20_000,
                       help="approximate size of the dataset in events (default %(default)s)")
    bench.add_argument("--quick", action="store_true", help="a small dataset (2,000 events), for a first look")
    bench.set_defaults(func=cmd_bench_audit)
    return bench


def _add_actions(audit: argparse.ArgumentParser) -> None:
    actions = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    verify = actions.add_parser(
        "verify", help="check every hash chain, version and order; cross-check Kafka and checkpoints",
        formatter_class=_Formatter,
        description=_wrap("Recompute every event's hash, each stream's chain and versions, and each store's global "
                    "chain and order, for every store. With --kafka, also read every service topic from its "
                    "beginning and check that every stored event was published, that nothing on a topic is "
                    "missing from its store, and that the bytes are identical. Every store is also compared "
                    "with the signed checkpoints the regions' audit stores hold, which catches a region that "
                    "rewrote its whole history consistently. Exit 0 when intact; otherwise the first bad event "
                    "of each store (store, position, stream, version, what is wrong) goes to stderr and the exit "
                    "code is 1."),
        epilog="examples:\n"
               "  tongban audit verify --data data/\n"
               "  tongban audit verify --data data/ --kafka 127.0.0.1:9092\n"
               "  tongban audit verify --db 640000/marriage=postgresql+psycopg://audit@db-640000/marriage")
    _add_sources(verify)
    verify.add_argument("--kafka", metavar="HOST:PORT", help="also cross-check the topics on this broker")
    _add_topics(verify)
    verify.add_argument("--trusted-keys", type=Path, metavar="DIR",
                        help="verify checkpoint signatures with these <region>.pub files instead of the keys each "
                             "holding region trusts")
    verify.add_argument("--no-checkpoints", action="store_true", help="skip the comparison with checkpoints")
    verify.set_defaults(func=cmd_verify)

    replay = actions.add_parser(
        "replay", help="rebuild every projection from the log and compare with the live read models",
        formatter_class=_Formatter,
        description=_wrap("For each store, rebuild every registered projection (the shared deadlines table, and each "
                    "service's read models registered by services.<service>.projections:register_projections) "
                    "from the store's log into a scratch database, and compare it row by row with the live read "
                    "model, reporting each difference. With --from-kafka the log is taken from the topics alone "
                    "(chain-checked first); live read models are compared when stores are given, otherwise the "
                    "rebuilt tables are summarised with row counts and digests. Exit 1 on any difference."),
        epilog="examples:\n"
               "  tongban audit replay --data data/\n"
               "  tongban audit replay --data data/ --from-kafka 127.0.0.1:9092\n"
               "  tongban audit replay --from-kafka 127.0.0.1:9092 --service marriage   (the log alone)\n"
               "  tongban audit replay --data data/ --show-values --auditor A-17 --reason 'inquiry 2026-031'")
    _add_sources(replay)
    replay.add_argument("--from-kafka", metavar="HOST:PORT", help="rebuild from the topics on this broker")
    replay.add_argument("--service", action="append", default=[],
                        help="with --from-kafka and no stores: the services whose topics to read "
                             "(default marriage, disability, relief)")
    _add_topics(replay, checkpoints=False)
    replay.add_argument("--projections", action="append", default=[], metavar="MODULE:FUNCTION",
                        help="also register the projections of this provider (function(registry))")
    replay.add_argument("--scratch", metavar="URL", help="scratch database URL (default: in-memory SQLite)")
    replay.add_argument("--show-values", action="store_true",
                        help="print the differing values (personal data: needs --auditor and --reason, and is "
                             "recorded)")
    replay.add_argument("--auditor", help="your auditor id (with --show-values)")
    replay.add_argument("--reason", help="why you need the values (with --show-values)")
    replay.set_defaults(func=cmd_replay)

    case = actions.add_parser(
        "case", help="a case as it stood at a moment, and its history across regions and services",
        formatter_class=_Formatter,
        description=_wrap("Find every event of the case's thread (its correlation id) in every store: hand-offs, "
                    "registry claims, deadlines and earlier auditor reads included. Print the state of each of "
                    "its streams as of --as-of, and the history up to then: who did what, where, when, under "
                    "which trace id. The read is first recorded as an AuditorRead event in every store the "
                    "answer comes from; nothing is shown if that fails."),
        epilog="examples:\n"
               "  tongban audit case disability-640000-0001 --data data/ --auditor A-17 --reason 'complaint 88'\n"
               "  tongban audit case C1 --data data/ --as-of 2026-03-02T18:00 --auditor A-17 --reason r \\\n"
               "      --jsonl c1.jsonl --html c1.html\n"
               "--as-of takes ISO 8601; without a zone it is China Standard Time (UTC+8).")
    case.add_argument("case_id", metavar="CASE_ID", help="the case's id (its stream id or correlation id)")
    _add_sources(case)
    case.add_argument("--as-of", metavar="TIME", help="reconstruct the case as it stood at this moment (default now)")
    case.add_argument("--auditor", required=True, help="your auditor id (recorded with the read)")
    case.add_argument("--reason", required=True, help="why you read this case (recorded with the read)")
    case.add_argument("--auditor-region", metavar="CODE",
                      help="your region's GB/T 2260 code (default: each store's region)")
    case.add_argument("--jsonl", type=Path, metavar="FILE", help="also export the trail as JSON Lines")
    case.add_argument("--html", type=Path, metavar="FILE", help="also export the trail as an HTML report")
    case.set_defaults(func=cmd_case)

    keys = actions.add_parser(
        "keys", help="create each region's signing key; exchange public keys (development)",
        formatter_class=_Formatter,
        description=_wrap("Create an Ed25519 signing key for each region under DIR that has none "
                    "(DIR/<region>/keys/signing.key, mode 0600, and <region>.pub), then copy every region's public "
                    "key into every other region's keys/trusted/. In production the public keys are exchanged "
                    "out of band and placed in keys/trusted/ by hand; only that directory is trusted."),
        epilog="example: tongban audit keys --data data/")
    keys.add_argument("--data", type=Path, required=True, metavar="DIR", help="data directory")
    keys.add_argument("--region", action="append", default=[], help="only these regions (repeatable)")
    keys.add_argument("--no-exchange", action="store_true", help="only create keys, copy nothing")
    keys.set_defaults(func=cmd_keys)

    checkpoint = actions.add_parser(
        "checkpoint", help="sign, publish and collect checkpoints of the regions' chain heads",
        formatter_class=_Formatter,
        description=_wrap("For each region under DIR: sign a checkpoint of the heads of its stores with the region's "
                    "key and record it in DIR/<region>/audit.db; with --kafka, publish every audit store to the "
                    "checkpoint topic through its outbox relay and let every region keep the others' checkpoints "
                    "(only those whose signature verifies with a key in its keys/trusted/; the rest are recorded "
                    "as rejected). With --every, repeat until interrupted."),
        epilog="examples:\n"
               "  tongban audit checkpoint --data data/ --kafka 127.0.0.1:9092\n"
               "  tongban audit checkpoint --data data/ --region 640000 --kafka 127.0.0.1:9092 --every 300")
    checkpoint.add_argument("--data", type=Path, required=True, metavar="DIR", help="data directory")
    checkpoint.add_argument("--region", action="append", default=[],
                            help="issue for these regions only (repeatable); every region still collects")
    checkpoint.add_argument("--kafka", metavar="HOST:PORT", help="publish and collect on this broker")
    checkpoint.add_argument("--checkpoint-topic", default=None, metavar="TOPIC",
                            help="default tongban.audit.checkpoints.v1")
    checkpoint.add_argument("--no-issue", action="store_true", help="only publish and collect")
    checkpoint.add_argument("--every", type=float, metavar="SECONDS", help="repeat at this interval")
    checkpoint.add_argument("--idle", type=float, default=2.0, metavar="SECONDS",
                            help="the checkpoint topic counts as read once quiet this long (default %(default)s s)")
    checkpoint.set_defaults(func=cmd_checkpoint)


# -- helpers -----------------------------------------------------------------------------------


def _fail(message: str) -> int:
    print(f"tongban audit: {message}", file=sys.stderr)
    return EXIT_USAGE


def _refs(args: argparse.Namespace, *, include_audit: bool = True) -> list[Any]:
    from services.common.audit.datadir import discover_stores, parse_db_spec

    refs = []
    if args.data is not None:
        refs.extend(discover_stores(args.data))
    refs.extend(parse_db_spec(spec) for spec in args.db)
    if not include_audit:
        refs = [r for r in refs if not r.is_audit]
    return sorted(set(refs))


def _topic_for(args: argparse.Namespace) -> Any:
    from services.common.audit.datadir import AUDIT_SERVICE
    from services.common.audit.kafka_log import CHECKPOINT_TOPIC, topic_template

    template = topic_template(args.topic_template)
    checkpoints = args.checkpoint_topic or CHECKPOINT_TOPIC
    return lambda service: checkpoints if service == AUDIT_SERVICE else template(service)


@contextlib.contextmanager
def _opened(refs: Sequence[Any]) -> Iterator[list[tuple[Any, Any]]]:
    from services.common.audit.datadir import open_store

    with contextlib.ExitStack() as stack:
        pairs = []
        for ref in refs:
            store = open_store(ref)
            stack.callback(store.close)
            pairs.append((ref, store))
        yield pairs


def _print(out: str, err: str) -> None:
    if out:
        print(out, flush=True)
    if err:
        print(err, file=sys.stderr, flush=True)


# -- commands ----------------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    from services.common.audit.datadir import NotAStore, regions_under
    from services.common.audit.keys import keyring_from_directory
    from services.common.audit.verify import KafkaSource, KeyPolicy, audit_verify, format_report

    try:
        refs = _refs(args)
        kafka = KafkaSource(args.kafka, _topic_for(args), args.idle) if args.kafka else None
        trusted = keyring_from_directory(args.trusted_keys) if args.trusted_keys else None
    except (NotAStore, ValueError, FileNotFoundError) as exc:
        return _fail(str(exc))
    if not refs:
        return _fail("no stores to verify: give --data DIR or --db URL")
    complete = regions_under(args.data) if args.data is not None and not args.db else []
    report = audit_verify(refs, kafka=kafka, keys=KeyPolicy(args.data, trusted),
                          check_checkpoints_held=not args.no_checkpoints, complete_regions=complete)
    _print(*format_report(report))
    return EXIT_OK if report.ok else EXIT_FINDING


def cmd_replay(args: argparse.Namespace) -> int:
    from services.common.audit.datadir import NotAStore
    from services.common.audit.projections import default_registry
    from services.common.audit.replay import (
        format_replay,
        read_topic_logs,
        replay_stores,
        replay_topic_logs,
    )
    from services.common.audit.trail import record_store_read

    if args.show_values and not (args.auditor and args.reason):
        return _fail("--show-values prints personal data: give --auditor and --reason (the read is recorded)")
    try:
        refs = _refs(args, include_audit=False)
        registry = default_registry(args.projections)
        topic_for = _topic_for(args)
    except (NotAStore, ValueError, ImportError) as exc:
        return _fail(str(exc))
    if not refs and not args.from_kafka:
        return _fail("nothing to replay: give --data DIR, --db URL or --from-kafka HOST:PORT")
    try:
        stack = contextlib.ExitStack()
        stores = stack.enter_context(_opened(refs))
    except NotAStore as exc:
        return _fail(str(exc))
    with stack:
        if args.from_kafka:
            services = sorted({r.service for r in refs}) or args.service or ["marriage", "disability", "relief"]
            logs = read_topic_logs(args.from_kafka, [topic_for(s) for s in services], idle=args.idle)
            live = {(r.region, r.service): s for r, s in stores}
            report = replay_topic_logs(logs, registry, lambda region, service: live.get((region, service)),
                                       scratch_url=args.scratch)
        else:
            report = replay_stores(stores, registry, scratch_url=args.scratch)
        if args.show_values:
            by_label = {r.label: (r, s) for r, s in stores}
            for replayed in report.stores:
                if replayed.differences and replayed.store in by_label:
                    ref, store = by_label[replayed.store]
                    record_store_read(store, ref, auditor=args.auditor, reason=args.reason,
                                      request="audit replay --show-values", rows=len(replayed.differences))
    _print(*format_replay(report, show_values=args.show_values))
    return EXIT_OK if report.ok else EXIT_FINDING


def cmd_case(args: argparse.Namespace) -> int:
    from services.common.audit.datadir import NotAStore
    from services.common.audit.trail import find_case, format_text, parse_as_of, record_reads, write_exports

    if not args.auditor.strip() or not args.reason.strip():
        return _fail("--auditor and --reason must not be empty: every read of personal data is recorded")
    try:
        as_of = parse_as_of(args.as_of) if args.as_of else None
        refs = _refs(args, include_audit=False)
    except (NotAStore, ValueError) as exc:
        return _fail(str(exc))
    if not refs:
        return _fail("no stores to search: give --data DIR or --db URL")
    try:
        with _opened(refs) as stores:
            trail = find_case(stores, args.case_id, as_of)
            if not trail.events:
                print(f"no events of case {args.case_id} in {len(stores)} store(s)"
                      + (f" up to {trail.as_of.isoformat()}" if trail.later else ""), file=sys.stderr)
                return EXIT_FINDING
            # Recorded before anything is shown: a read that cannot be recorded is not shown.
            record_reads(trail, stores, auditor=args.auditor, reason=args.reason, auditor_region=args.auditor_region)
    except NotAStore as exc:
        return _fail(str(exc))
    except Exception as exc:  # e.g. a read-only store: the read could not be recorded, so show nothing
        return _fail(f"the read could not be recorded, so nothing is shown: {exc}")
    print(format_text(trail), flush=True)
    write_exports(trail, jsonl=args.jsonl, html_path=args.html)
    return EXIT_OK


def cmd_keys(args: argparse.Namespace) -> int:
    from services.common.audit.datadir import regions_under
    from services.common.audit.keys import ensure_region_key, exchange_public_keys

    regions = args.region or regions_under(args.data)
    if not regions:
        return _fail(f"no region directories under {args.data}")
    for region in regions:
        key = ensure_region_key(args.data, region)
        print(f"{region}: signing key {key.key_id}")
    if not args.no_exchange:
        exchange_public_keys(args.data, regions)
        print(f"public keys exchanged between {', '.join(regions)}")
    return EXIT_OK


def cmd_checkpoint(args: argparse.Namespace) -> int:
    stop = threading.Event()
    if args.every:
        with contextlib.suppress(ValueError):  # only the main thread may install handlers
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while True:
        try:
            code = _checkpoint_round(args)
        except KeyboardInterrupt:
            return EXIT_OK
        if code != EXIT_OK or not args.every:
            return code
        if stop.wait(args.every):
            return EXIT_OK


def _checkpoint_round(args: argparse.Namespace) -> int:
    from services.common.audit.checkpoints import collect_checkpoints, issue_checkpoint, publish_checkpoints
    from services.common.audit.datadir import AUDIT_SERVICE, discover_stores, open_store, regions_under, store_path
    from services.common.audit.kafka_log import CHECKPOINT_TOPIC
    from services.common.audit.keys import ensure_region_key, trusted_keyring
    from services.common.store import EventStore, sqlite_url

    regions = regions_under(args.data)
    if not regions:
        return _fail(f"no region directories under {args.data}")
    topic = args.checkpoint_topic or CHECKPOINT_TOPIC
    refs = [r for r in discover_stores(args.data) if not r.is_audit]
    with contextlib.ExitStack() as stack:
        audits: dict[str, EventStore] = {}
        for region in regions:
            audit = EventStore.open(sqlite_url(store_path(args.data, region, AUDIT_SERVICE)), region=region,
                                    service=AUDIT_SERVICE)
            stack.callback(audit.close)
            audits[region] = audit
        if not args.no_issue:
            for region in args.region or regions:
                stores = {}
                for ref in (r for r in refs if r.region == region):
                    store = open_store(ref)
                    stack.callback(store.close)
                    stores[ref.service] = store
                recorded = issue_checkpoint(audits[region], stores, ensure_region_key(args.data, region))
                print(f"{region}: checkpoint recorded as event {recorded.event_id} over "
                      f"{', '.join(sorted(stores)) or 'no stores'}", flush=True)
        if args.kafka:
            from services.common.kafka_settings import ensure_topics
            from services.common.relay import kafka_producer

            ensure_topics(args.kafka, [topic])
            producer = kafka_producer(args.kafka)
            try:
                for region, audit in audits.items():
                    sent = publish_checkpoints(audit, producer, topic)
                    print(f"{region}: published {sent} audit event(s) to {topic}", flush=True)
            finally:
                producer.close(timeout=10)
            holders = {region: (audit, trusted_keyring(args.data, region)) for region, audit in audits.items()}
            collected = collect_checkpoints(args.kafka, holders, topic=topic, idle=args.idle)
            for holder, counts in sorted(collected.outcomes.items()):
                kept, rejected = counts.get("kept", 0), counts.get("rejected", 0)
                print(f"{holder}: kept {kept} new checkpoint(s) of other regions"
                      + (f", REJECTED {rejected} (see its audit store)" if rejected else ""), flush=True)
    return EXIT_OK


def cmd_bench_audit(args: argparse.Namespace) -> int:
    from services.common.audit.bench import run_audit_bench

    return run_audit_bench(args)


# -- standalone entry point --------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tongban audit", description=AUDIT_DESCRIPTION, formatter_class=_Formatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    _add_actions(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
