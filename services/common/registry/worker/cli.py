"""The registry worker's command line:

    tongban registry --kafka HOST:PORT [--claim-ttl 24h] [...]
    python -m services.common.registry.worker --kafka HOST:PORT [...]   (the same)
    (`worker --without-web` may be given too: the command line of the faust app it used to be.)
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from services.common import heap
from services.common.clock import Clock
from services.common.kafka_settings import ensure_topics
from services.common.log_format import LOG_FORMAT, LOG_LEVELS
from services.common.registry.domain import DEFAULT_RELEASE_WAIT
from services.common.registry.topics import CLAIMS_TOPIC, DECISIONS_TOPIC
from services.common.registry.worker.app import RegistryWorker
from services.common.registry.worker.settings import DEFAULT_APP_ID, DEFAULT_CLAIM_TTL, WorkerSettings
from services.common.telemetry import setup_tracing

log = logging.getLogger("tongban.registry.worker")

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


def _wait(text: str) -> timedelta:
    return timedelta(0) if text.strip() in {"0", "0s"} else parse_duration(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        # The CLI's entry point; `python -m services.common.registry.worker` takes the same arguments.
        prog="tongban registry",
        description="Run the per-person registry worker: it reads the claims on the service topics, decides "
                    "one person at a time in its own store (one holder per person and kind), releases "
                    "unconfirmed claims after --claim-ttl, and publishes the decisions. Stops on SIGTERM or "
                    "Ctrl-C; safe to kill at any moment.",
        epilog="example: tongban registry --kafka 127.0.0.1:9092 --claim-ttl 24h",
    )
    parser.add_argument("legacy", nargs="*", metavar="worker", help=argparse.SUPPRESS)
    parser.add_argument("--without-web", action="store_true", help=argparse.SUPPRESS)  # web is always off
    parser.add_argument("--kafka", default=os.environ.get("TONGBAN_KAFKA"),
                        help="bootstrap servers, host:port (default: $TONGBAN_KAFKA)")
    parser.add_argument("--app-id", default=DEFAULT_APP_ID,
                        help="the worker's name: its consumer groups (<id> deciding, <id>.forward forwarding) "
                             "(default %(default)s)")
    parser.add_argument("--service-topic", action="append", dest="service_topics", metavar="TOPIC",
                        help="a topic carrying claims, repeatable (default: the marriage, disability and relief "
                             "topics)")
    parser.add_argument("--claims-topic", default=CLAIMS_TOPIC, help="the worker's input topic (%(default)s)")
    parser.add_argument("--decisions-topic", default=DECISIONS_TOPIC,
                        help="the national record (%(default)s); a region's decisions go to "
                             "<the name without .v1>.<region>.v1")
    parser.add_argument("--claim-ttl", type=parse_duration, default=DEFAULT_CLAIM_TTL,
                        help="release a granted claim not confirmed within this time (default 24h)")
    parser.add_argument("--release-wait", type=_wait, default=DEFAULT_RELEASE_WAIT,
                        help="how long a claim meeting another case's hold waits for a release already on its "
                             "way before it is denied (behind a confirmed hold) or answered pending (behind an "
                             "unconfirmed one) (default 10s; 0 denies at once)")
    parser.add_argument("--expiry-check-interval", type=float, default=1.0, metavar="SECONDS",
                        help="how often to look for expired claims (default %(default)s)")
    parser.add_argument("--partitions", type=int, default=8,
                        help="partitions of the claims and decisions topics (default %(default)s)")
    parser.add_argument("--datadir", type=Path, default=Path("data/registry"),
                        help="the worker's directory: its person store, keys and readiness marker "
                             "(default %(default)s)")
    parser.add_argument("--store", default=None, metavar="URL",
                        help="the person records' store, a SQLAlchemy URL (default: sqlite <datadir>/persons.db)")
    parser.add_argument("--keys", type=Path, default=None, dest="keys_dir",
                        help="the registry's key directory: signing.key, registry.pub (default <datadir>/keys)")
    parser.add_argument("--key-directory", type=Path, default=None,
                        help="the public keys the registry believes: <speaker>*.pub files, or a data directory's "
                             "*/keys/ (default: the directory above --datadir)")
    parser.add_argument("--loglevel", default="warning", choices=LOG_LEVELS, help="(default %(default)s)")
    return parser


def _catalogued_topics() -> tuple[str, ...]:
    """The events topics of the services that claim persons (services/catalogue.py)."""
    from services import catalogue
    from services.common.kafka_settings import events_topic

    return tuple(events_topic(name) for name in catalogue.claiming())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if any(word != "worker" for word in args.legacy):
        build_parser().error(f"unexpected arguments: {' '.join(args.legacy)}")
    if not args.kafka:
        build_parser().error("--kafka (or TONGBAN_KAFKA) is required")
    settings = WorkerSettings(
        bootstrap=args.kafka, datadir=args.datadir, app_id=args.app_id,
        service_topics=tuple(args.service_topics or _catalogued_topics()),
        claims_topic=args.claims_topic, decisions_topic=args.decisions_topic, claim_ttl=args.claim_ttl,
        release_wait=args.release_wait,
        expiry_check_interval=args.expiry_check_interval, partitions=args.partitions,
        keys_dir=args.keys_dir, key_directory=args.key_directory, store=args.store,
    )
    return run(settings, loglevel=args.loglevel)


def run(settings: WorkerSettings, *, clock: Clock | None = None, loglevel: str = "warning") -> int:
    """Create the topics, then run the worker until SIGTERM or Ctrl-C (exit 0), or until a part of
    it fails (exit 1, logged: restarted, it takes the input in hand again)."""
    setup_tracing("tongban-registry")
    logging.basicConfig(level=loglevel.upper(), format=LOG_FORMAT)
    # The service topics are normally created by the relays; creating a missing one here lets the
    # worker start first. Existing topics keep their partition counts.
    ensure_topics(settings.bootstrap, list(settings.service_topics))
    ensure_topics(settings.bootstrap, [settings.claims_topic, settings.decisions_topic],
                  partitions=settings.partitions)
    settings.datadir.mkdir(parents=True, exist_ok=True)
    worker = RegistryWorker(settings, clock=clock)
    heap.settle()
    return asyncio.run(_serve(worker))


async def _serve(worker: RegistryWorker) -> int:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await worker.run(stopping)
    except Exception:
        log.exception("the registry worker stopped")
        return 1
    return 0
