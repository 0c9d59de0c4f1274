"""What each `tongban audit` action does, given its parsed arguments (the parsers are in cli.py).
Each returns an exit code: 0 intact / reproduced / done; 1 something is wrong with the data (the
finding is on stderr); 2 the command could not run (bad arguments, nothing to audit, no broker)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import Any

EXIT_OK = 0
EXIT_FINDING = 1
EXIT_USAGE = 2


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
    from services.common.audit.verify import KafkaSource, KeyPolicy, audit_verify, format_report
    from services.common.trust.keys import KeyDirectory, keyring_from_directory

    try:
        refs = _refs(args)
        trusted = keyring_from_directory(args.trusted_keys) if args.trusted_keys else None
        # Whose signatures the topics must carry: the auditor's own keys, else the data directory's.
        directory = args.trusted_keys or args.data
        kafka = KafkaSource(args.kafka, _topic_for(args), args.idle,
                            keys=KeyDirectory(directory) if directory is not None else None,
                            decisions_topic=args.decisions_topic) if args.kafka else None
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
            from services import catalogue

            services = sorted({r.service for r in refs}) or args.service or list(catalogue.names())
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
    from services.common.trust.keys import (
        REGISTRY,
        ensure_key_in,
        ensure_region_key,
        exchange_public_keys,
        keys_dir,
        rotate_key,
    )

    regions = args.region or regions_under(args.data)
    if not regions and not args.registry:
        return _fail(f"no region directories under {args.data}")
    for region in regions:
        key = ensure_region_key(args.data, region)
        if args.rotate:
            old, key = key, rotate_key(keys_dir(args.data, region), region)
            print(f"{region}: rotated {old.key_id} -> {key.key_id} (the old public key stays trusted)")
        print(f"{region}: signing key {key.key_id}")
    if args.registry:
        registry = ensure_key_in(keys_dir(args.data, REGISTRY), REGISTRY)
        if args.rotate:
            registry = rotate_key(keys_dir(args.data, REGISTRY), REGISTRY)
        print(f"{REGISTRY}: signing key {registry.key_id}")
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
    from services.common.store import EventStore, sqlite_url
    from services.common.trust.keys import ensure_region_key, trusted_keyring

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
            from services.common.relay_producer import kafka_producer

            ensure_topics(args.kafka, [topic])
            producer = kafka_producer(args.kafka)
            try:
                for region, audit in audits.items():
                    sent = publish_checkpoints(audit, producer, topic, ensure_region_key(args.data, region))
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


def cmd_snapshots(args: argparse.Namespace) -> int:
    """Check every store's snapshots against a replay of the log; with --rebuild, retake them all
    from the log first (they are a cache: nothing but load time is lost by dropping them)."""
    from services.common.audit.datadir import NotAStore
    from services.common.audit.verify import check_snapshots, load_catalogue
    from services.common.kit import PayloadCodec
    from services.common.kit.snapshots import SnapshotPolicy, rebuild_snapshots
    from services.common.store import snapshots as snapshot_table

    try:
        refs = _refs(args, include_audit=False)
    except (NotAStore, ValueError, FileNotFoundError) as exc:
        return _fail(str(exc))
    if not refs:
        return _fail("no stores: give --data DIR or --db URL")
    load_catalogue()
    bad = 0
    with _opened(refs) as pairs:
        for ref, store in pairs:
            if args.rebuild:
                store.ensure_tables(snapshot_table.TABLES)  # a store opened as it is may predate them
                taken = rebuild_snapshots(store, PayloadCodec.loaded(), SnapshotPolicy(every=args.every))
                print(f"{ref.label}: {taken} snapshot(s) rebuilt from the log", flush=True)
            report = check_snapshots(store)
            bad += len(report.bad)
            for finding in report.findings:
                print(f"{'BAD' if finding.bad else 'note'} {ref.label}: {finding}",
                      file=sys.stderr if finding.bad else sys.stdout, flush=True)
            print(f"{ref.label}: {report.checked} snapshot(s), {len(report.bad)} bad", flush=True)
    return EXIT_FINDING if bad else EXIT_OK
