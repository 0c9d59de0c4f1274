"""`tongban audit ...`: the auditor's command line. `add_audit_parser(subparsers)` builds the whole
`audit` subcommand tree (services/cli.py calls it); `add_audit_bench_parser` adds `bench audit`.
What each action does is in commands.py.
Also runnable alone: `python -m services.common.audit.cli verify --data data/`.

Exit codes: 0 intact / reproduced / done; 1 something is wrong with the data (the finding is on
stderr); 2 the command could not run (bad arguments, nothing to audit, no broker)."""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from services.common.audit.commands import (
    EXIT_FINDING,
    EXIT_OK,
    EXIT_USAGE,
    cmd_bench_audit,
    cmd_case,
    cmd_checkpoint,
    cmd_keys,
    cmd_replay,
    cmd_snapshots,
    cmd_verify,
)
from services.common.registry.topics import DECISIONS_TOPIC

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
                    "chain and order, for every store. With --kafka, also read every service topic and every "
                    "region's hand-off topic from its beginning and check that every stored event was published "
                    "(a hand-off message also to its addressee's hand-off topic), that nothing on a topic is "
                    "missing from its store or misrouted, and that the bytes are identical. Every store is also "
                    "compared with the signed checkpoints the regions' audit stores hold, which catches a region that "
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
                        help="verify checkpoint and message signatures with these <speaker>*.pub files (the key "
                             "directory) instead of the keys each holding region trusts and the data directory's")
    verify.add_argument("--decisions-topic", default=DECISIONS_TOPIC, metavar="TOPIC",
                        help="the registry's decisions, every one checked for the registry's signature "
                             "(default %(default)s)")
    verify.add_argument("--no-checkpoints", action="store_true", help="skip the comparison with checkpoints")
    verify.set_defaults(func=cmd_verify)

    snapshots = actions.add_parser(
        "snapshots", help="check (and with --rebuild retake) every aggregate snapshot against the log",
        formatter_class=_Formatter,
        description=_wrap("Snapshots are a cache of long streams' folds, kept beside the log. Check each against a "
                    "replay of its stream (as `audit verify` does); with --rebuild, first delete them all and "
                    "take them again from the log. Exit 1 when a snapshot disagrees with the log."),
        epilog="examples:\n"
               "  tongban audit snapshots --data data/\n"
               "  tongban audit snapshots --data data/ --rebuild")
    _add_sources(snapshots)
    snapshots.add_argument("--rebuild", action="store_true", help="delete every snapshot and retake them from the log")
    snapshots.add_argument("--every", type=int, default=100, metavar="N",
                           help="with --rebuild: snapshot streams of at least N events (default %(default)s)")
    snapshots.set_defaults(func=cmd_snapshots)

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
                             "(default: every service of the catalogue)")
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
    keys.add_argument("--registry", action="store_true", help="also the registry's key (DIR/registry/keys)")
    keys.add_argument("--rotate", action="store_true",
                      help="replace the signing keys with new ones; the old public keys stay as <speaker>-<id>.pub")
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


__all__ = [
    "AUDIT_DESCRIPTION",
    "EXIT_FINDING",
    "EXIT_OK",
    "EXIT_USAGE",
    "add_audit_bench_parser",
    "add_audit_parser",
    "build_parser",
    "main",
]


if __name__ == "__main__":
    sys.exit(main())
