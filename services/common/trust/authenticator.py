"""The gRPC side of trust: a call's actor is what its signed token proves (architecture
invariant 8), never what plain headers say.

`TokenAuthenticator` is the `Authenticator` (services/common/grpc_context/identity.py) every
service host uses: it reads `authorization: Bearer <jwt>`, verifies it against the trusted keys of
the identity provider of the service's region (tokens.py), checks the office is in the region's
office directory (offices.py), and returns the actor, acting in the role chosen by
`x-tongban-role` among the token's roles. Anything else is UNAUTHENTICATED naming what is wrong;
the handler never runs, so nothing is appended. A call still carrying the old plain identity
headers is refused: a client that believes they count is a client to fix.

A region also trusts the national identity provider (national.py), for a national auditor's audit
reads only: a token whose issuer is the national IdP is verified against the national keys alone,
must act as `national_auditor`, and is refused PERMISSION_DENIED on every other RPC.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.common.events import Actor
from services.common.grpc_context.identity import (
    AUTHORIZATION_KEY,
    REFUSED_HEADERS,
    ROLE_KEY,
    Unauthenticated,
)
from services.common.trust.national import (
    NATIONAL,
    NATIONAL_AUDITOR_ROLE,
    admit_national,
    national_keys_dir,
    national_verifier,
)
from services.common.trust.offices import OfficeDirectory
from services.common.trust.tokens import TokenRefused, TokenVerifier, TrustedKeys, idp_keys_dir, issuer_for

BEARER = "bearer "


@dataclass
class TokenAuthenticator:
    """Verifies the caller's token for the services of one region."""

    verifier: TokenVerifier
    offices: OfficeDirectory
    national: TokenVerifier | None = None  # the national IdP's keys: audit reads only (national.py)

    def __post_init__(self) -> None:
        if self.offices.region != self.verifier.region:
            raise ValueError(f"office directory of {self.offices.region} for the services of {self.verifier.region}")

    @classmethod
    def for_region(cls, region: str, *, keys_dir: Path, offices: OfficeDirectory,
                   national_keys: Path | None = None) -> TokenAuthenticator:
        """Trusting the public keys in `keys_dir` (every `*.pub.pem`; re-read when a token names a
        key id not seen yet, so a rotation needs no restart), and for audit reads the national
        IdP's in `national_keys` (if it holds any)."""
        return cls(TokenVerifier(TrustedKeys.from_dir(keys_dir, region)), offices,
                   national=national_verifier(national_keys))

    @classmethod
    def from_data_dir(cls, data_dir: Path, region: str, *, keys_dir: Path | None = None,
                      national_keys: Path | None = None) -> TokenAuthenticator:
        """The development layout: keys under `DATA/<region>/keys/idp/` (the national IdP's under
        `DATA/national/keys/idp/`), the office directory of `DATA/<region>/offices.json` or the
        national defaults."""
        return cls.for_region(region, keys_dir=keys_dir or idp_keys_dir(data_dir, region),
                              offices=OfficeDirectory.for_region(data_dir, region),
                              national_keys=national_keys or national_keys_dir(data_dir))

    @property
    def region(self) -> str:
        return self.verifier.region

    def authenticate(self, metadata: Mapping[str, str], method: str = "") -> Actor:
        for key in REFUSED_HEADERS:
            if key in metadata:
                raise Unauthenticated(key, "plain identity headers are not accepted: present the token of "
                                           "your region's identity provider (authorization: Bearer ...)")
        credential = metadata.get(AUTHORIZATION_KEY, "").strip()
        if not credential:
            raise Unauthenticated(AUTHORIZATION_KEY, "missing: present 'Bearer <token>' from your region's "
                                                     "identity provider (tongban login)")
        if not credential.lower().startswith(BEARER):
            raise Unauthenticated(AUTHORIZATION_KEY, "malformed: expected 'Bearer <token>'")
        token = credential[len(BEARER):].strip()
        national = self.national is not None and _issuer(token) == issuer_for(NATIONAL)
        try:
            claims = (self.national if national and self.national else self.verifier).verify(token)
            actor = claims.actor(metadata.get(ROLE_KEY, "").strip() or None)
            if national and claims.roles != (NATIONAL_AUDITOR_ROLE,):
                raise TokenRefused(f"a national token carries the role {NATIONAL_AUDITOR_ROLE!r} only, "
                                   f"not {', '.join(claims.roles)}")
        except TokenRefused as refused:
            raise Unauthenticated(AUTHORIZATION_KEY, str(refused)) from None
        if national:
            admit_national(method)  # PERMISSION_DENIED on anything but an audit read
            return actor
        if actor.kind == "clerk" and actor.office_code not in self.offices:
            raise Unauthenticated(AUTHORIZATION_KEY, f"office {actor.office_code!r} is not in the office "
                                                     f"directory of region {self.region}")
        return actor


def _issuer(token: str) -> str:
    """Which IdP a token says it is from, before verifying it: only to pick the keys to verify
    it with. The chosen verifier checks the issuer again under the signature. Read by hand (a
    base64 segment and its JSON, a few µs): PyJWT's unverified decode costs ~70 µs a call."""
    try:
        segment = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError):  # binascii, JSON and Unicode errors are ValueErrors
        return ""  # the region's verifier names what is wrong with it
    issuer = claims.get("iss", "") if isinstance(claims, dict) else ""
    return issuer if isinstance(issuer, str) else ""
