"""`tongban trust init`: the development trust material of a deployment in one directory, made
once and kept (docker-compose.yml runs it as a one-shot job; production mounts its own secrets at
the same paths instead):

    DIR/ca.pem, ca.key                  a development CA
    DIR/<host>.pem, <host>.key          a server certificate per gRPC host (its name, localhost,
                                        127.0.0.1), and DIR/client.pem/.key for mutual TLS
    DIR/idp/<region>/                   each region's identity-provider keys (tokens.py)
    DIR/idp/national/                   the national IdP's keys: a national auditor's audit reads (national.py)

`tongban trust rotate` gives a region's IdP a new signing key (README, "Trust model").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_commands(sub: Any) -> None:
    trust = sub.add_parser("trust", help="trust material: TLS certificates and identity-provider keys",
                           description="Development trust material (see services/common/trust/cli.py).")
    actions = trust.add_subparsers(dest="trust_command", metavar="ACTION", required=True)
    init = actions.add_parser(
        "init", help="make (once) a development CA, server certificates and identity-provider keys",
        description="Make whatever is missing under DIR: a development CA, a certificate for each --host, "
                    "a client certificate, and the identity-provider keys of each region. Existing files are "
                    "kept, so running it again changes nothing.",
        epilog="example: tongban trust init --dir /etc/tongban/trust --regions 640000,510000 "
               "--host marriage-640000 --host marriage-510000")
    init.add_argument("--dir", type=Path, required=True, help="where the material lives")
    init.add_argument("--regions", required=True, help="comma-separated GB/T 2260 codes")
    init.add_argument("--host", action="append", default=[], help="a gRPC server's host name (repeat)")
    init.set_defaults(func=cmd_init)

    rotate = actions.add_parser(
        "rotate", help="sign a region's tokens with a new identity-provider key from now on",
        description="Make a new current key in an IdP key directory. The previous public key stays trusted "
                    "(services re-read the directory when a token names a key they do not know); delete its "
                    "<kid>.pub.pem once the tokens it signed have expired.",
        epilog="example: tongban trust rotate --keys data/640000/keys/idp --region 640000")
    rotate.add_argument("--keys", type=Path, required=True, help="the IdP's key directory")
    rotate.add_argument("--region", required=True, help="GB/T 2260 code of the IdP's region")
    rotate.set_defaults(func=cmd_rotate)


def cmd_init(args: argparse.Namespace) -> int:
    from services.common.trust.national import NATIONAL, national_idp
    from services.common.trust.tls import DevelopmentCA
    from services.common.trust.tokens import IdentityProvider

    directory: Path = args.dir
    ca = DevelopmentCA(directory)
    for host in args.host:
        if not (directory / f"{host}.pem").exists():
            ca.issue(host, hosts=(host, "localhost", "127.0.0.1"))
    if not (directory / "client.pem").exists():
        ca.issue("client", hosts=("client",), client=True)
    for region in filter(None, (r.strip() for r in args.regions.split(","))):
        idp = IdentityProvider.open(directory / "idp" / region, region)
        print(f"region {region}: identity provider key {idp.kid}")
    national = national_idp(directory / "idp" / NATIONAL)
    print(f"national: identity provider key {national.kid} (audit reads only)")
    print(f"trust material in {directory} (CA {ca.cert_path})", file=sys.stderr)
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    from services.common.trust.tokens import IdentityProvider

    idp = IdentityProvider.open(args.keys, args.region, create=False)
    old = idp.kid
    print(f"region {args.region}: now signing with key {idp.rotate()}; key {old} stays trusted until you delete "
          f"{args.keys / (old + '.pub.pem')}")
    return 0
