"""`tongban window SERVICE ...`: a clerk's window on the command line, against a running stack.

Every action is one call to the region's gRPC front door of a service, made with the clerk's signed
token (architecture invariant 8): --token-file, TONGBAN_TOKEN, or the token `tongban login` saved
for --clerk (TONGBAN_CLERK) at --region (TONGBAN_REGION); --role (TONGBAN_ROLE) picks one of the
token's roles. The endpoint comes from the stack file that `tongban up` writes
(DIR/stack.json, --data or TONGBAN_DATA), or from --address.

This module is the window's frame: who and where, the call, refusals decoded from the call's rich
status (the rule and article broken, each bad field, the region owning a case), exit codes. Each
service brings its own actions (`services/<name>/entrypoints/window.py`, found through the
catalogue): a parser per action whose defaults name the handler, the stub and how to print the
answer. Output is the case as a window sees it; --json prints the protobuf message as JSON.
Exit codes: 0 done, 1 refused by the service, 2 the call could not be made (bad arguments, no
stack, service unreachable)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

from services.common.clock import CHINA
from services.stack.config import DATA_ENV

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2

CLERK_ENV = "TONGBAN_CLERK"
ROLE_ENV = "TONGBAN_ROLE"
REGION_ENV = "TONGBAN_REGION"
TOKEN_ENV = "TONGBAN_TOKEN"  # services.common.trust.signin.TOKEN_ENV (not imported: the parser stays light)

WINDOW_DESCRIPTION = """\
A clerk's window on a running stack (`tongban up`). Each action calls the region's service once,
with your signed token, and prints the case as the window sees it. Sign in, then name yourself
once per shell:

  tongban login --data data --region 640000 --office 640104-MRO-01 --clerk c-07 --role registrar
  export TONGBAN_DATA=data TONGBAN_REGION=640000 TONGBAN_CLERK=c-07

or give --data/--region/--clerk (or --token-file) on each command. Exit codes: 0 done, 1 refused (the rule
or field is printed), 2 the call could not be made."""

# (stub, metadata, args) → the answer message
Handler = Callable[[Any, list[tuple[str, str]], argparse.Namespace], Any]


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks."""


class UsageError(Exception):
    """Something the clerk must fix before a call can be made."""


# -- the parser ---------------------------------------------------------------------------------


def common_options() -> argparse.ArgumentParser:
    """Where and who: the parent parser of every action of every service."""
    env = os.environ
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_argument_group("where and who")
    where.add_argument("--region", default=env.get(REGION_ENV),
                       help=f"your region, GB/T 2260 code, e.g. 640000 (env {REGION_ENV})")
    where.add_argument("--data", type=Path, default=Path(env.get(DATA_ENV, "data")),
                       help=f"data directory of the running stack, to find the endpoint (env {DATA_ENV}, "
                            "default ./data)")
    where.add_argument("--address", metavar="HOST:PORT", help="call this gRPC endpoint instead of the stack's")
    where.add_argument("--clerk", default=env.get(CLERK_ENV),
                       help=f"your clerk id: finds the token `tongban login` saved (env {CLERK_ENV})")
    where.add_argument("--token-file", type=Path, metavar="FILE",
                       help=f"your signed token (else env {TOKEN_ENV}, else the token saved for --clerk)")
    where.add_argument("--role", default=env.get(ROLE_ENV) or None,
                       help=f"act in this one of your token's roles: registrar, court, public_security, auditor, "
                            f"... (env {ROLE_ENV}; default the token's first role)")
    where.add_argument("--tls-ca", default=env.get("TONGBAN_TLS_CA"), metavar="PEM",
                       help="call over TLS, trusting servers signed by this CA (env TONGBAN_TLS_CA)")
    where.add_argument("--tls-cert", default=env.get("TONGBAN_TLS_CLIENT_CERT"), metavar="PEM",
                       help="this window's client certificate, for mutual TLS (env TONGBAN_TLS_CLIENT_CERT)")
    where.add_argument("--tls-key", default=env.get("TONGBAN_TLS_CLIENT_KEY"), metavar="PEM",
                       help="its private key (env TONGBAN_TLS_CLIENT_KEY)")
    where.add_argument("--json", action="store_true", help="print the answer as JSON")
    where.add_argument("--timeout", type=float, default=70.0, help="seconds to wait for the answer (default 70)")
    return common



def add_window_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add `window` and every catalogued service's actions to a `tongban` subparsers object."""
    from services import catalogue

    window = subparsers.add_parser("window", help="a clerk's window: do cases by hand on a running stack",
                                   description=WINDOW_DESCRIPTION, formatter_class=Formatter)
    services = window.add_subparsers(dest="window_service", metavar="SERVICE", required=True)
    for service in catalogue.SERVICES:
        service.add_window_commands(services)
    return window


# -- running an action --------------------------------------------------------------------------


def run_window(args: argparse.Namespace) -> int:
    """The `window` command: make the call, print the answer or the refusal. The service's action
    parser set `handler`, `stub` (the gRPC stub class), `show` (answer → text) and, where an answer
    can be a recorded refusal, `refused` (answer → bool: exit 1)."""
    import grpc

    from services.common.grpc_context import error_details

    try:
        with _stub(args) as (stub, metadata):
            handler: Handler = args.handler
            answer = handler(stub, metadata, args)
    except UsageError as problem:
        print(f"tongban window: {problem}", file=sys.stderr)
        return EXIT_USAGE
    except grpc.RpcError as error:
        details = error_details(error)
        print(format_refusal(details, args), file=sys.stderr)
        unreachable = details.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
        if unreachable and getattr(args, "request_id", None):
            # The call may have been recorded all the same: a retry with the same id is safe.
            print(f"tongban window: the answer was lost; to retry this action, run it again with "
                  f"--request-id {args.request_id}", file=sys.stderr)
        return EXIT_USAGE if unreachable else EXIT_REFUSED
    if args.json:
        from google.protobuf import json_format

        print(json_format.MessageToJson(answer, preserving_proto_field_name=True, ensure_ascii=False))
    else:
        print(args.show(answer, history=getattr(args, "history", False)))
    # An answer can itself be a refusal the service recorded (a registration refused by the
    # registry is a case in state "refused"): the clerk's script sees exit 1, as for any refusal.
    refused: Callable[[Any], bool] | None = getattr(args, "refused", None)
    return EXIT_REFUSED if refused is not None and refused(answer) else EXIT_OK


@contextmanager
def _stub(args: argparse.Namespace) -> Iterator[tuple[Any, list[tuple[str, str]]]]:
    import grpc

    from services.common.grpc_context import token_metadata
    from services.common.telemetry import TracingClientInterceptor, setup_tracing
    from services.common.trust.signin import NoToken, find_token
    from services.common.trust.tls import ClientTls
    from services.common.trust.tls import channel as open_channel
    from services.stack.stackfile import StackNotRunning, require_stack

    if not args.region:
        raise UsageError(f"which region's window? give --region (e.g. 640000) or set {REGION_ENV}")
    if not (args.clerk or args.token_file or os.environ.get(TOKEN_ENV)):
        raise UsageError(f"who is at the window? give --clerk (or {CLERK_ENV}) after `tongban login`, "
                         f"or --token-file")
    address, tls_ca = args.address, args.tls_ca
    if not address:
        try:
            info = require_stack(args.data)
            address = info.address(args.region, args.window_service)
        except StackNotRunning as problem:
            raise UsageError(str(problem)) from None
        tls_ca = tls_ca or info.tls_ca or None  # a stack started with --tls names its CA
    try:
        token = find_token(token_file=args.token_file, data_dir=args.data, region=args.region, clerk_id=args.clerk)
        metadata = token_metadata(token, role=args.role)
    except (NoToken, ValueError) as problem:
        raise UsageError(str(problem)) from None
    try:
        tls = ClientTls.from_options(tls_ca, args.tls_cert, args.tls_key)
    except ValueError as problem:
        raise UsageError(str(problem)) from None
    setup_tracing("tongban-window")  # the call's trace continues into every event it causes
    channel = grpc.intercept_channel(open_channel(address, tls), TracingClientInterceptor())
    try:
        yield args.stub(channel), metadata
    finally:
        channel.close()


def call(stub: Any, method: str, request: Any, metadata: list[tuple[str, str]], args: argparse.Namespace) -> Any:
    return getattr(stub, method)(request, metadata=metadata, timeout=args.timeout)


# -- what the clerk reads -----------------------------------------------------------------------


def day(value: Any) -> str:
    """A tongban.common.v1.Date as YYYY-MM-DD ("-" when unset)."""
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}" if value.year else "-"


def china_time(value: Any) -> str:
    """A protobuf Timestamp in China time ("-" when unset)."""
    if not value.seconds and not value.nanos:
        return "-"
    return value.ToDatetime(tzinfo=UTC).astimezone(CHINA).strftime("%Y-%m-%d %H:%M")


def region_name(code: str) -> str:
    from services.common.identity.regions import REGION_NAMES

    return REGION_NAMES.get(code, "")


def format_history(case: Any) -> list[str]:
    """A case's recorded events, one line each: version, time, event, who."""
    lines = ["  history:"]
    for h in case.history:
        actor = h.actor
        system = actor.kind == actor.KIND_SYSTEM
        who = f"system ({actor.clerk_id or actor.role})" if system else f"{actor.clerk_id}@{actor.office_code}"
        lines.append(f"    v{h.version:<3} {china_time(h.recorded_at)}  {h.type.rsplit('.', 1)[-1]:<32} {who}")
    return lines


def format_refusal(details: Any, args: argparse.Namespace | None = None) -> str:
    """A refusal as a clerk reads it: what was refused and why, each bad field, the rule, the owner."""
    import grpc

    code = details.code
    if code == grpc.StatusCode.UNAVAILABLE:
        where = f" at {args.address}" if args is not None and args.address else ""
        service = getattr(args, "window_service", "") if args is not None else ""
        return (f"cannot reach the {service or 'region'}'s service{where}: {details.message}\n"
                "  is the stack running? (tongban up)")
    heading = {
        grpc.StatusCode.INVALID_ARGUMENT: "not accepted: the request has mistakes",
        grpc.StatusCode.FAILED_PRECONDITION: "refused",
        grpc.StatusCode.PERMISSION_DENIED: "not allowed",
        grpc.StatusCode.UNAUTHENTICATED: "your token was not accepted",
        grpc.StatusCode.NOT_FOUND: "not found",
        grpc.StatusCode.ABORTED: "the case changed meanwhile: look at it again and retry",
        grpc.StatusCode.DEADLINE_EXCEEDED: "no answer in time",
    }.get(code, "failed")
    # Field violations say it all, one per line; the status message repeats them.
    lines = [f"{heading} ({code.name})" + ("" if details.field_violations else f": {details.message}")]
    for violation in details.field_violations:
        lines.append(f"  {violation.field}: {violation.description}")
    if details.rule:
        lines.append(f"  rule: {details.rule}")
    if code == grpc.StatusCode.UNAUTHENTICATED:
        lines.append("  sign in again (tongban login), or give another --token-file")
    elsewhere = _region_named_by(getattr(args, "case_id", "") or "", args)
    if code == grpc.StatusCode.NOT_FOUND and elsewhere:
        lines.append(f"  the case id names region {elsewhere} {region_name(elsewhere)}: its records are there "
                     f"(ask with --region {elsewhere})")
    if details.owner_region:
        lines.append(f"  the case is owned by region {details.owner_region} {region_name(details.owner_region)}")
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
                grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.ABORTED, grpc.StatusCode.UNAUTHENTICATED):
        lines.append("  nothing was recorded")  # architecture invariant 7
    return "\n".join(lines)


def _region_named_by(case_id: str, args: argparse.Namespace | None) -> str:
    """The region a case id names ("<kind>-<region>-<id>"), if it is not the window's own."""
    from services.common.identity.case_ids import region_of_case

    region = region_of_case(case_id)
    return region if region and args is not None and region != getattr(args, "region", None) else ""
