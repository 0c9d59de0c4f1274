"""Signing in, on the client side: where a clerk's token is kept and how a client finds it.

`tongban login` asks the region's development identity provider (its keys under the data
directory, created by `tongban up` or by the first login) for a token and saves it, readable by its
owner only, at `DATA/<region>/tokens/<clerk>.jwt`. Clients (`tongban window`, `tongban marriage
case`) take the token from, in this order: `--token-file`, the `TONGBAN_TOKEN` environment
variable (the token itself), or the file `tongban login` saved for `--clerk` at `--region`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Final

from services.common.trust.national import NATIONAL, NATIONAL_AUDITOR_ROLE
from services.common.trust.offices import OfficeDirectory
from services.common.trust.tokens import IdentityProvider, idp_keys_dir, write_private

TOKEN_ENV: Final = "TONGBAN_TOKEN"


class NoToken(Exception):
    """No token where the client looked; the message says how to get one."""


def token_path(data_dir: Path, region: str, clerk_id: str) -> Path:
    if not clerk_id or "/" in clerk_id or clerk_id.startswith("."):
        raise ValueError(f"not a clerk id for a file name: {clerk_id!r}")
    return data_dir / region / "tokens" / f"{clerk_id}.jwt"


@dataclass(frozen=True)
class SignedIn:
    token: str
    path: Path
    key_id: str


def login(data_dir: Path, region: str, *, office: str, clerk_id: str, roles: Sequence[str], kind: str = "clerk",
          lifetime: timedelta | None = None, keys_dir: Path | None = None) -> SignedIn:
    """Mint a token from the development IdP of `region` (keys in `keys_dir`, default under
    `data_dir`) and save it (0600) under `data_dir`. Refuses an office not in the region's office
    directory: the token would be refused anyway."""
    token, kid = mint(data_dir, region, office=office, clerk_id=clerk_id, roles=roles, kind=kind, lifetime=lifetime,
                      keys_dir=keys_dir)
    path = token_path(data_dir, region, clerk_id)
    write_private(path, (token + "\n").encode("ascii"))
    return SignedIn(token=token, path=path, key_id=kid)


def mint(data_dir: Path, region: str, *, office: str, clerk_id: str, roles: Sequence[str], kind: str = "clerk",
         lifetime: timedelta | None = None, keys_dir: Path | None = None) -> tuple[str, str]:
    """A token (and the key id that signed it) from the development IdP of `region`, saved nowhere:
    for a client that keeps it itself (the web console's session). Refuses an office not in the
    region's office directory. `region` NATIONAL is the national IdP (DATA/national/keys/idp):
    a national auditor's token, role `national_auditor` only."""
    if region == NATIONAL:  # the national auditor: one role, no region's office (national.py)
        if list(roles) != [NATIONAL_AUDITOR_ROLE]:
            raise ValueError(f"the national identity provider signs the role {NATIONAL_AUDITOR_ROLE!r} only")
        kind = "auditor"
    elif kind == "clerk" and office not in OfficeDirectory.for_region(data_dir, region):
        raise ValueError(f"office {office!r} is not in the office directory of region {region}")
    idp = IdentityProvider.open(keys_dir or idp_keys_dir(data_dir, region), region)
    return idp.issue(clerk_id=clerk_id, office_code=office, roles=roles, kind=kind, lifetime=lifetime), idp.kid


def find_token(*, token_file: Path | None, data_dir: Path | None, region: str | None, clerk_id: str | None) -> str:
    """The caller's token: `token_file`, else $TONGBAN_TOKEN, else the file `tongban login` saved."""
    if token_file is not None:
        try:
            return token_file.read_text(encoding="ascii").strip()
        except OSError as problem:
            raise NoToken(f"cannot read the token file {token_file}: {problem.strerror}") from None
    from_env = os.environ.get(TOKEN_ENV, "").strip()
    if from_env:
        return from_env
    if data_dir is not None and region and clerk_id:
        saved = token_path(data_dir, region, clerk_id)
        if saved.exists():
            return saved.read_text(encoding="ascii").strip()
        raise NoToken(f"clerk {clerk_id} has not signed in at region {region}: run `tongban login --data {data_dir} "
                      f"--region {region} --office OFFICE --clerk {clerk_id} --role ROLE` "
                      f"(or give --token-file / {TOKEN_ENV})")
    raise NoToken(f"no token: sign in with `tongban login`, or give --token-file or {TOKEN_ENV}")
