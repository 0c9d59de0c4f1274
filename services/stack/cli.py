"""`tongban up`, `tongban demo`, `tongban window` and `tongban clock`.

`add_stack_commands(subparsers)` adds them to the project's `tongban` parser (services/cli.py);
nothing heavy is imported until a command runs. Also runnable alone, with the same arguments:
`python -m services.stack.cli demo --data /tmp/demo`."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from services.common.log_format import LOG_LEVELS
from services.stack.config import DATA_ENV, KAFKA_ENV, TOPIC_PREFIX_ENV
from services.stack.config import DEFAULT_REGIONS as _DEFAULT_REGION_CODES

DEFAULT_REGIONS = ",".join(_DEFAULT_REGION_CODES)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks."""


def _regions(text: str) -> tuple[str, ...]:
    from services.common.errors import InvalidArgument
    from services.common.identity import RegionCode

    codes = tuple(dict.fromkeys(code.strip() for code in text.split(",") if code.strip()))
    if not codes:
        raise argparse.ArgumentTypeError("give at least one region code, e.g. 640000")
    for code in codes:
        try:
            RegionCode.parse(code)
        except InvalidArgument as bad:
            raise argparse.ArgumentTypeError(f"{code!r}: {bad}") from None
    return codes


def _services(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))


_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


def parse_duration(text: str) -> timedelta:
    """"31d", "12h", "1d12h", "90m"."""
    match = _DURATION.match(text.strip())
    if not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 31d, 12h, 1d12h, 90m)")
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


def add_stack_commands(subparsers: Any) -> None:
    """Add `up`, `demo`, `window` and `clock` to a `tongban` subparsers object."""
    from services.stack.restart import RestartPolicy
    from services.stack.window import add_window_parser

    env = os.environ
    default_data = Path(env.get(DATA_ENV, "data"))
    policy = RestartPolicy()

    up = subparsers.add_parser(
        "up", help="run the whole local stack: broker, registry, every service of every region",
        formatter_class=_Formatter,
        description="Start everything on this machine and keep it running until Ctrl-C:\n"
                    "  - a Kafka broker: the local tansu broker (memory-only), unless --kafka or TONGBAN_KAFKA;\n"
                    "  - the per-person registry worker;\n"
                    "  - each service of each region (`tongban serve`), with its SQLite store under DIR/<region>/,\n"
                    "    its gRPC front door on a free port, relay, deadline scheduler and consumers;\n"
                    "  - the web console for clerks and auditors on http://127.0.0.1:8080/ (--web-port, --no-web).\n"
                    "When every front door answers, the endpoints are printed and written to DIR/stack.json, where\n"
                    "`tongban window` and `tongban demo` find them. Logs are in DIR/logs/.\n"
                    "A part that dies is reported (its exit code or signal and its log) and restarted, the rest\n"
                    f"keeps running: after {policy.first_delay:g}s, then doubling up to {policy.max_delay:g}s "
                    f"(back to {policy.first_delay:g}s once it stayed up\n{policy.stable_after:g}s). "
                    "A restarted service has a new gRPC port, written to DIR/stack.json. A\n"
                    "restarted local broker keeps its port and comes back empty: the registry and the services\n"
                    "are restarted on it, the stores refill it and the registry keeps its own store. A part that\n"
                    f"dies {policy.give_up_after} times in a row within {policy.quick:g}s of starting cannot start: "
                    "everything stops (exit 1),\n"
                    "naming it. A part that dies before the stack first served stops the start (exit 1).\n"
                    "Ctrl-C or SIGTERM stops services, registry and broker in that order (exit 0). Starting again\n"
                    "on the same DIR resumes every case: the stores refill a fresh broker, and the registry's\n"
                    "records are in DIR/registry/persons.db.\n"
                    "Time: the services run on the controlled clock (DIR/clock-offset); `tongban clock advance`\n"
                    "moves every region forward, e.g. through a divorce's cooling-off.",
        epilog="examples:\n"
               "  tongban up\n"
               "  tongban up --data /srv/tongban --regions 640000,510000\n"
               "  TONGBAN_KAFKA=127.0.0.1:9092 tongban up --topic-prefix mine")
    up.add_argument("--data", type=Path, default=default_data,
                    help=f"data directory: stores, logs, stack.json (env {DATA_ENV}, default ./data)")
    up.add_argument("--regions", type=_regions, default=DEFAULT_REGIONS,
                    help=f"comma-separated GB/T 2260 codes (default {DEFAULT_REGIONS})")
    up.add_argument("--services", type=_services, default=(),
                    help="comma-separated services (default: every service this checkout has)")
    up.add_argument("--kafka", default=env.get(KAFKA_ENV),
                    help=f"use this Kafka (host:port) instead of starting the local broker (env {KAFKA_ENV})")
    up.add_argument("--topic-prefix", default=env.get(TOPIC_PREFIX_ENV, ""),
                    help="prefix every topic, group and the registry's app id (a Kafka shared with others)")
    up.add_argument("--clock", choices=["controlled", "system"], default="controlled",
                    help="controlled (default): real time plus DIR/clock-offset, which `tongban clock advance` "
                         "moves; system: real time only")
    up.add_argument("--web-port", type=int, default=8080,
                    help="port of the web console for clerks and auditors (default 8080; 0 picks a free one)")
    up.add_argument("--no-web", action="store_true", help="do not start the web console")
    up.add_argument("--tls", action="store_true",
                    help="serve gRPC over TLS with a development CA made once under DIR/tls (the window and the "
                         "demo find it in DIR/stack.json)")
    up.add_argument("--start-timeout", type=float, default=120.0, help="seconds to wait for every front door")
    up.add_argument("--loglevel", default="warning", choices=LOG_LEVELS,
                    help="log level of the children (their logs are in DIR/logs)")
    up.set_defaults(func=cmd_up)

    demo = subparsers.add_parser(
        "demo", help="run realistic cross-region marriage cases end to end, then audit them",
        formatter_class=_Formatter,
        description="Drive realistic cases through the gRPC front doors of three regions, printing each\n"
                    "step and checking each outcome (✓/✗):\n"
                    "  1. one man registers in Yinchuan (640000) and Guangyuan (510000) at the same moment:\n"
                    "     exactly one marriage is registered;\n"
                    "  2. a divorce received in Yinchuan is carried through the cooling-off (the clock is moved)\n"
                    "     and the certificate window, and registered;\n"
                    "  3. the former wife marries again in Xi'an (610000);\n"
                    "  4. certificates are reissued in Xi'an and in Yinchuan, and a court asks in Guangyuan;\n"
                    "  5. a man not yet 22 is refused in Guangyuan, and the refusal is recorded with its reasons.\n"
                    "Then a summary (cases per region, events per store), `tongban audit verify` over DIR, and the\n"
                    "elapsed time. Exit 0 when every outcome is right and the audit passes, 1 otherwise.\n"
                    "If `tongban up` runs on DIR, the demo uses that stack. Otherwise it starts its own (the same\n"
                    "supervisor as `up`) on a fresh DIR and stops it at the end, leaving DIR as a multi-region\n"
                    "dataset for auditors; a DIR holding anything but a previous demo is refused.",
        epilog="examples:\n"
               "  tongban demo --data /tmp/tongban-demo\n"
               "  tongban audit verify --data /tmp/tongban-demo")
    demo.add_argument("--data", type=Path, default=Path(env.get(DATA_ENV, "demo-data")),
                      help=f"data directory (env {DATA_ENV}, default ./demo-data)")
    demo.add_argument("--kafka", default=env.get(KAFKA_ENV),
                      help=f"for the demo's own stack: this Kafka instead of the local broker (env {KAFKA_ENV})")
    demo.add_argument("--topic-prefix", default=env.get(TOPIC_PREFIX_ENV, ""),
                      help="for the demo's own stack: prefix of every topic and group (a shared Kafka)")
    demo.add_argument("--keep", action="store_true",
                      help="after the demo, keep its stack and web console running (supervised) until Ctrl-C: "
                           "the demo's cases are there to open in the console (`./dev run` does this)")
    demo.set_defaults(func=cmd_demo)

    window = add_window_parser(subparsers)
    window.set_defaults(func=cmd_window)

    from services.web.cli import add_web_command

    add_web_command(subparsers, default_data)

    clock = subparsers.add_parser(
        "clock", help="show or move the controlled clock of a local stack", formatter_class=_Formatter,
        description="Every service started by `tongban up` reads real time plus the offset in DIR/clock-offset.\n"
                    "Moving it forward moves every region at once; their deadline schedulers then fire what\n"
                    "fell due (a divorce's cooling-off, a hand-off's time limit). The clock never goes back.")
    clock_actions = clock.add_subparsers(dest="clock_command", metavar="ACTION", required=True)
    show = clock_actions.add_parser("show", help="the stack's time and offset", formatter_class=_Formatter,
                                    description="Print the controlled time and its offset from real time.",
                                    epilog="example:\n  tongban clock show --data data")
    advance = clock_actions.add_parser(
        "advance", help="move every region's clock forward", formatter_class=_Formatter,
        description="Add DURATION to the offset of every controlled clock on DIR, or move them to the start of a\n"
                    "day (China time) with --to. A deadline falls due at 00:00 China time on the day after the\n"
                    "last day a case reports, so `--to` that day carries every region past it, holidays and\n"
                    "make-up working days included.",
        epilog="examples:\n"
               "  tongban clock advance --to 2027-01-05 --data data   (a divorce's cooling-off ran until 2027-01-04)\n"
               "  tongban clock advance 12h --data data")
    advance.add_argument("duration", type=parse_duration, metavar="DURATION", nargs="?",
                         help="e.g. 31d, 12h, 1d12h, 90m")
    advance.add_argument("--to", type=parse_day, metavar="YYYY-MM-DD",
                         help="move to 00:00 China time on this day (nothing moves if the stack is already past it)")
    for parser in (show, advance):
        parser.add_argument("--data", type=Path, default=default_data,
                            help=f"the stack's data directory (env {DATA_ENV}, default ./data)")
    show.set_defaults(func=cmd_clock)
    advance.set_defaults(func=cmd_clock)


def cmd_up(args: argparse.Namespace) -> int:
    from services.stack.config import StackConfig
    from services.stack.supervisor import run_up

    config = StackConfig(data_dir=args.data, regions=args.regions, services=args.services, kafka=args.kafka or None,
                         topic_prefix=args.topic_prefix, clock=args.clock, start_timeout=args.start_timeout,
                         loglevel=args.loglevel, web_port=None if args.no_web else args.web_port, tls=args.tls)
    return run_up(config)


def cmd_demo(args: argparse.Namespace) -> int:
    from services.stack.demo import run_demo

    try:
        return run_demo(args.data, kafka=args.kafka or None, topic_prefix=args.topic_prefix, keep=args.keep)
    except KeyboardInterrupt:
        print("tongban demo: interrupted", file=sys.stderr)
        return 130


def cmd_window(args: argparse.Namespace) -> int:
    from services.stack.window import run_window

    return run_window(args)


def cmd_clock(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from services.common.clock_control import advance, read_offset
    from services.stack.window import CHINA

    if not args.data.is_dir():
        print(f"tongban clock: no data directory {args.data}", file=sys.stderr)
        return 2
    if args.clock_command == "advance":
        if (args.duration is None) == (args.to is None):
            print("tongban clock advance: give either DURATION (e.g. 31d) or --to YYYY-MM-DD", file=sys.stderr)
            return 2
        delta = args.duration
        if args.to is not None:
            target = datetime.combine(args.to, datetime.min.time(), tzinfo=CHINA).astimezone(UTC)
            delta = max(timedelta(0), target - (datetime.now(UTC) + read_offset(args.data)))
        offset = advance(args.data, delta)
    else:
        offset = read_offset(args.data)
    now = (datetime.now(UTC) + offset).astimezone(CHINA)
    print(f"stack time {now:%Y-%m-%d %H:%M} China time (offset {offset.days} days "
          f"{offset.seconds // 3600} hours from real time)")
    return 0


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day: {text!r} (write YYYY-MM-DD, e.g. 2027-01-05)") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tongban", description="The local stack, its demo and a clerk's window.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    add_stack_commands(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
