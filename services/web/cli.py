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
stay signed in across a restart of the console."""


def add_web_command(subparsers: Any, default_data: Path) -> None:
    web = subparsers.add_parser("web", help="the web console for window clerks and auditors",
                                description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="examples:\n  tongban web --data data\n  tongban web --data data --port 9000")
    web.add_argument("--data", type=Path, default=default_data, help="the running stack's data directory")
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    web.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    web.set_defaults(func=cmd_web)


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


def build_console(data_dir: Path) -> Any:
    from services.common.clock_control import ControlledClock
    from services.common.trust.tls import ClientTls
    from services.stack.stackfile import require_stack
    from services.web.app import create_app
    from services.web.credentials import credentials_for, identity_provider
    from services.web.gateway import Gateway, stack_addresses
    from services.web.rendering import ConsoleConfig

    info = require_stack(data_dir)
    tls = ClientTls(Path(info.tls_ca)) if info.tls_ca else None
    gateway = Gateway(stack_addresses(data_dir), credentials_for, tls)
    config = ConsoleConfig(gateway=gateway, regions=info.regions, issue_credential=identity_provider(data_dir),
                           clock=ControlledClock(data_dir), session_secret=session_secret(data_dir))
    return create_app(config)


def cmd_web(args: argparse.Namespace) -> int:
    import uvicorn

    from services.stack.stackfile import StackNotRunning

    try:
        app = build_console(args.data)
    except StackNotRunning as problem:
        print(f"tongban web: {problem}", file=sys.stderr)
        return 2
    print(f"web console: http://{args.host}:{args.port}/", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
