"""`tongban web`: the web console alone, against a running stack (`tongban up` also starts it)."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from typing import Any

DEFAULT_PORT = 8080
SESSION_KEY_FILE = "session.key"

DESCRIPTION = """\
Serve the web console (Web 控制台) for window clerks and auditors on http://HOST:PORT/.
It calls the services of the stack running on DIR (DIR/stack.json) through their gRPC front doors,
as the clerk signed in; it never opens a store. Sign in as a clerk of an office of one of the
stack's regions; the session lasts a working day (8 hours), then the console asks again.
The session cookie is signed with DIR/web/session.key (made on first run, mode 0600), so clerks
stay signed in across a restart of the console.
Without a stack on DIR (docker compose, a deployment), name each front door with --endpoint
REGION/SERVICE=HOST:PORT, the CA of their TLS certificates with --tls-ca, and where each region's
identity-provider keys are with --idp-keys (DIR/<region>/, as `tongban trust init` makes them)."""


def add_web_command(subparsers: Any, default_data: Path) -> None:
    web = subparsers.add_parser("web", help="the web console for window clerks and auditors",
                                description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="examples:\n  tongban web --data data\n  tongban web --data data --port 9000\n"
                                       "  tongban web --endpoint 640000/marriage=marriage-640000:50051 "
                                       "--tls-ca /etc/tongban/trust/ca.pem --idp-keys /etc/tongban/trust/idp")
    web.add_argument("--data", type=Path, default=default_data, help="the running stack's data directory")
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    web.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    fixed = web.add_argument_group("fixed endpoints", "run without a stack.json: the front doors are given here")
    fixed.add_argument("--endpoint", action="append", default=[], metavar="REGION/SERVICE=HOST:PORT",
                       help="a service's gRPC front door, repeatable; the console's regions are those named")
    fixed.add_argument("--tls-ca", type=Path, metavar="PEM", help="the CA the front doors' certificates chain to")
    fixed.add_argument("--idp-keys", type=Path, metavar="DIR",
                       help="the regions' identity-provider keys for sign-in, DIR/<region>/ (default "
                            "DATA/<region>/keys/idp)")
    web.set_defaults(func=cmd_web)


Endpoints = dict[tuple[str, str], str]  # (region, service) → "host:port"


def parse_endpoints(values: list[str]) -> Endpoints:
    """`REGION/SERVICE=HOST:PORT` options, checked: a typo should stop the console at start, not
    show clerks a dead service later."""
    from services import catalogue

    found: Endpoints = {}
    for value in values:
        where, _, address = value.partition("=")
        region, _, service = where.partition("/")
        host, _, port = address.rpartition(":")
        if not (len(region) == 6 and region.isdigit()):
            raise ValueError(f"--endpoint {value!r}: region {region!r} is not a 6-digit GB/T 2260 code")
        if service not in catalogue.names():
            raise ValueError(f"--endpoint {value!r}: no service {service!r} (one of {', '.join(catalogue.names())})")
        if not host or not port.isdigit():
            raise ValueError(f"--endpoint {value!r}: the address is not HOST:PORT")
        if (region, service) in found:
            raise ValueError(f"--endpoint {value!r}: {region}/{service} is named twice")
        found[(region, service)] = address
    return found


def session_secret(data_dir: Path) -> str:
    path = data_dir / "web" / SESSION_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another console made it first: use theirs
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def fixed_addresses(endpoints: Endpoints) -> Any:
    from services.web.gateway import NotRunHere

    def address(region: str, service: str) -> str:
        try:
            return endpoints[(region, service)]
        except KeyError:
            # As far as this console knows the region runs no such service (NotRunHere is a
            # ServiceDown: a page that needs it still says it cannot be reached).
            raise NotRunHere(region, service, "the console was started without an --endpoint for it") from None

    return address


def fixed_identity_provider(data_dir: Path, idp_keys: Path | None) -> Any:
    """Sign-in with each region's IdP keys under `idp_keys`/<region>/ (compose's `trust` volume)."""
    from services.common.trust.signin import mint
    from services.web.credentials import identity_provider, issuer_region
    from services.web.session import Clerk

    if idp_keys is None:
        return identity_provider(data_dir)

    def issue(clerk: Clerk) -> str:
        try:
            issuer = issuer_region(clerk)  # the region's IdP, or the national one (idp_keys/national)
            token, _kid = mint(data_dir, issuer, office=clerk.office, clerk_id=clerk.clerk_id,
                               roles=[clerk.role], keys_dir=idp_keys / issuer)
        except ValueError as refused:  # e.g. an office the region's directory does not hold
            raise PermissionError(f"无法登录：{refused}") from None
        return token

    return issue


def build_console(data_dir: Path, endpoints: Endpoints | None = None, *, tls_ca: Path | None = None,
                  idp_keys: Path | None = None) -> Any:
    """The console over the stack running on `data_dir`, or over fixed `endpoints` when given."""
    from services.common.clock_control import ControlledClock
    from services.common.trust.tls import ClientTls
    from services.stack.stackfile import require_stack
    from services.web.app import create_app
    from services.web.credentials import credentials_for
    from services.web.gateway import Gateway, stack_addresses
    from services.web.rendering import ConsoleConfig

    if endpoints:
        regions = list(dict.fromkeys(region for region, _ in endpoints))
        gateway = Gateway(fixed_addresses(endpoints), credentials_for, ClientTls(tls_ca) if tls_ca else None)
    else:
        info = require_stack(data_dir)
        regions = info.regions
        tls = ClientTls(Path(info.tls_ca)) if info.tls_ca else None
        gateway = Gateway(stack_addresses(data_dir), credentials_for, tls)
    config = ConsoleConfig(gateway=gateway, regions=regions,
                           issue_credential=fixed_identity_provider(data_dir, idp_keys),
                           clock=ControlledClock(data_dir), session_secret=session_secret(data_dir))
    return create_app(config)


def cmd_web(args: argparse.Namespace) -> int:
    import uvicorn

    from services.stack.stackfile import StackNotRunning

    try:
        endpoints = parse_endpoints(args.endpoint)
    except ValueError as problem:
        print(f"tongban web: {problem}", file=sys.stderr)
        return 2
    try:
        app = build_console(args.data, endpoints, tls_ca=args.tls_ca, idp_keys=args.idp_keys)
    except StackNotRunning as problem:
        print(f"tongban web: {problem}", file=sys.stderr)
        return 2
    print(f"web console: http://{args.host}:{args.port}/", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
