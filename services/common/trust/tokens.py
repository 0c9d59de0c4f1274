"""Signed caller tokens: a region's identity provider issues them, every service verifies them
(architecture invariant 8, "nobody is believed on their word").

A token is a JWT signed with EdDSA (Ed25519) by the identity provider (IdP) of one region. It names
the clerk (`sub`), the office, the region, the roles, the actor kind, when it was issued and until
when it holds (`iat`, `nbf`, `exp`), a unique id (`jti`), the issuer (`tongban-idp/<region>`) and
the audience (`tongban-grpc`). The header carries the key id (`kid`), so a region can rotate its key
and keep trusting the previous one until the tokens it signed have expired.

Keys live in one directory per region (`DATA/<region>/keys/idp/` in development, a mounted secret
in production): `<kid>.pem` is a private key (0600, the IdP's only), `<kid>.pub.pem` a public key
(what services trust), `current` names the key that signs. A service needs only the public keys.

This module is pure verification and issuing; the gRPC side is `authenticator.py`.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.common.events import ACTOR_KINDS, Actor

ALGORITHM: Final = "EdDSA"
AUDIENCE: Final = "tongban-grpc"
# A working day at the window: a clerk signs in once in the morning.
DEFAULT_LIFETIME: Final = timedelta(hours=10)
# Clocks of two machines differ a little; more than this is a token from the future or the past.
DEFAULT_LEEWAY: Final = timedelta(seconds=30)
CURRENT_FILE: Final = "current"
PRIVATE_SUFFIX: Final = ".pem"
PUBLIC_SUFFIX: Final = ".pub.pem"

Now = Callable[[], float]  # seconds since the epoch: token times are wall-clock, never the demo's clock


def issuer_for(region: str) -> str:
    return f"tongban-idp/{region}"


def idp_keys_dir(data_dir: Path, region: str) -> Path:
    """Where a region's identity-provider keys live under a data directory (development)."""
    return data_dir / region / "keys" / "idp"


class TokenRefused(Exception):
    """A token that does not prove who is calling; the message says what is wrong with it."""


def key_id(public: Ed25519PublicKey) -> str:
    """A key's id: a digest of the public key, so the id cannot name another key."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Claims:
    """What a verified token says about its bearer."""

    clerk_id: str
    office_code: str
    region: str
    roles: tuple[str, ...]
    kind: str
    token_id: str
    expires_at: float

    def actor(self, role: str | None = None) -> Actor:
        """The actor the token proves, acting in `role` (one of its roles; default the first)."""
        acting = role or self.roles[0]
        if acting not in self.roles:
            raise TokenRefused(f"role {acting!r} is not one of the token's roles ({', '.join(self.roles)})")
        return Actor(kind=self.kind, clerk_id=self.clerk_id, office_code=self.office_code, region=self.region,
                     role=acting)


@dataclass
class TrustedKeys:
    """The public keys a region's services trust for its tokens, by key id. `reload()` reads the
    directory again, so a key added by a rotation is trusted without a restart."""

    region: str
    keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    directory: Path | None = None

    @classmethod
    def from_dir(cls, directory: Path, region: str) -> TrustedKeys:
        trusted = cls(region=region, directory=directory)
        trusted.reload()
        if not trusted.keys:
            raise FileNotFoundError(f"no identity-provider public keys (*{PUBLIC_SUFFIX}) in {directory} for "
                                    f"region {region}: run `tongban up` (development) or mount the IdP's keys")
        return trusted

    def reload(self) -> None:
        if self.directory is None:
            return
        found: dict[str, Ed25519PublicKey] = {}
        for path in sorted(self.directory.glob(f"*{PUBLIC_SUFFIX}")):
            public = serialization.load_pem_public_key(path.read_bytes())
            if isinstance(public, Ed25519PublicKey):
                found[key_id(public)] = public
        self.keys = found

    def get(self, kid: str) -> Ed25519PublicKey | None:
        return self.keys.get(kid)


@dataclass(frozen=True)
class _Verified:
    """A token whose signature, audience and issuer were checked: its claims, and the key that
    signed it (the entry holds only while the trusted keys still hold that very key)."""

    kid: str
    key: Ed25519PublicKey
    payload: Mapping[str, Any]


# A clerk calls with the same token all day: the signature check (Ed25519) and the JSON decoding
# were a tenth of a registration's server CPU (docs/store-performance.md, "The front door").
DEFAULT_CACHE_SIZE: Final = 4096


@dataclass
class TokenVerifier:
    """Verifies tokens for the services of one region: signed by a trusted key of the region's
    IdP, for this audience, within their lifetime. Raises TokenRefused naming what is wrong.

    A token verified once is remembered by its exact text (a bounded LRU of `cache_size`), so
    its signature is not checked again; its times, region, kind, roles and office are checked on
    every call all the same (an expired token is refused at its `exp`, cached or not), and an entry
    holds only while the key that signed it is still trusted (a reload after a rotation, or a
    retired key, forgets it). Only tokens that passed every check are remembered; a cache belongs
    to one verifier, i.e. one region and audience."""

    keys: TrustedKeys
    audience: str = AUDIENCE
    leeway: timedelta = DEFAULT_LEEWAY
    now: Now = time.time
    reload_interval: float = 5.0  # at most one directory read per interval for unknown key ids
    cache_size: int = DEFAULT_CACHE_SIZE  # 0: verify every call from scratch
    _last_reload: float = field(default=0.0, init=False, repr=False)
    _verified: OrderedDict[str, _Verified] = field(default_factory=OrderedDict, init=False, repr=False)
    _verified_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def region(self) -> str:
        return self.keys.region

    def verify(self, token: str) -> Claims:
        remembered = self._remembered(token)
        if remembered is not None:
            try:
                return self._claims(remembered.payload)
            except TokenRefused:
                self._forget(token)  # expired: it will never pass again
                raise
        verified = self._verify_signed(token)
        claims = self._claims(verified.payload)
        self._remember(token, verified)
        return claims

    def _remembered(self, token: str) -> _Verified | None:
        if self.cache_size <= 0:
            return None
        with self._verified_lock:
            entry = self._verified.get(token)
            if entry is None:
                return None
            if self.keys.get(entry.kid) is not entry.key:
                del self._verified[token]  # its key was reloaded or retired: check it afresh
                return None
            self._verified.move_to_end(token)
            return entry

    def _remember(self, token: str, verified: _Verified) -> None:
        if self.cache_size <= 0:
            return
        with self._verified_lock:
            self._verified[token] = verified
            self._verified.move_to_end(token)
            while len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)

    def _forget(self, token: str) -> None:
        with self._verified_lock:
            self._verified.pop(token, None)

    def _verify_signed(self, token: str) -> _Verified:
        """The token's claims once its algorithm, key, signature, audience and issuer are checked
        (not yet its times or its other claims: `_claims`)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as bad:
            raise TokenRefused(f"malformed token ({bad})") from None
        if header.get("alg") != ALGORITHM:
            raise TokenRefused(f"token algorithm {header.get('alg')!r} is not accepted (only {ALGORITHM})")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRefused("token names no key id (kid)")
        public = self._key(kid)
        try:
            payload = jwt.decode(
                token, public, algorithms=[ALGORITHM], audience=self.audience, issuer=issuer_for(self.region),
                # Times are checked below against the injectable clock, with one message each.
                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                         "require": ["exp", "iat", "nbf", "jti", "sub", "iss", "aud"]})
        except jwt.InvalidSignatureError:
            raise TokenRefused("wrong signature: the token was not signed by the key it names") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused(f"wrong audience: the token is not for {self.audience!r}") from None
        except jwt.InvalidIssuerError:
            raise TokenRefused(f"wrong issuer: not the identity provider of region {self.region}") from None
        except jwt.MissingRequiredClaimError as missing:
            raise TokenRefused(f"token lacks the {missing.claim!r} claim") from None
        except jwt.InvalidTokenError as bad:
            raise TokenRefused(f"malformed token ({bad})") from None
        return _Verified(kid=kid, key=public, payload=payload)

    def _key(self, kid: str) -> Ed25519PublicKey:
        public = self.keys.get(kid)
        if public is None and self.now() - self._last_reload >= self.reload_interval:
            self._last_reload = self.now()
            self.keys.reload()  # a rotation may have added it
            public = self.keys.get(kid)
        if public is None:
            raise TokenRefused(f"unknown key id {kid!r}: not a key of region {self.region}'s identity provider "
                               "(a token of another region, or a retired key)")
        return public

    def _claims(self, payload: Mapping[str, Any]) -> Claims:
        now, leeway = self.now(), self.leeway.total_seconds()
        if payload["exp"] <= now - leeway:
            raise TokenRefused(f"token expired {int(now - payload['exp'])}s ago: sign in again (tongban login)")
        if payload["nbf"] > now + leeway or payload["iat"] > now + leeway:
            raise TokenRefused(f"token not yet valid (for another {int(payload['nbf'] - now)}s)")
        region = payload.get("region")
        if region != self.region:
            raise TokenRefused(f"token is for region {region!r}, not this service's region {self.region}")
        kind = payload.get("kind")
        if kind not in ACTOR_KINDS:
            raise TokenRefused(f"token actor kind {kind!r} is not one of {', '.join(ACTOR_KINDS)}")
        roles = payload.get("roles")
        if not isinstance(roles, list) or not roles or not all(isinstance(r, str) and r for r in roles):
            raise TokenRefused("token names no roles")
        office = payload.get("office", "")
        if not isinstance(office, str) or (kind == "clerk" and not office):
            raise TokenRefused("token names no office (a clerk works at an office)")
        return Claims(clerk_id=str(payload["sub"]), office_code=office, region=region, roles=tuple(roles),
                      kind=kind, token_id=str(payload["jti"]), expires_at=float(payload["exp"]))


@dataclass
class IdentityProvider:
    """A region's identity provider: signs tokens with its current key. `open()` loads (and in
    development creates) its keys; `rotate()` makes a new current key and keeps the old public
    keys trusted."""

    region: str
    signing_key: Ed25519PrivateKey
    directory: Path | None = None
    lifetime: timedelta = DEFAULT_LIFETIME
    now: Now = time.time

    @property
    def kid(self) -> str:
        return key_id(self.signing_key.public_key())

    @classmethod
    def open(cls, directory: Path, region: str, *, create: bool = True, now: Now = time.time) -> IdentityProvider:
        """The IdP whose keys are in `directory`; a first key is made there if there is none and
        `create` (development: `tongban up` on a new data directory)."""
        current = directory / CURRENT_FILE
        if current.exists():
            kid = current.read_text().strip()
            private = serialization.load_pem_private_key((directory / f"{kid}{PRIVATE_SUFFIX}").read_bytes(), None)
            if not isinstance(private, Ed25519PrivateKey):
                raise ValueError(f"{directory}/{kid}{PRIVATE_SUFFIX} is not an Ed25519 key")
            return cls(region=region, signing_key=private, directory=directory, now=now)
        if not create:
            raise FileNotFoundError(f"no identity-provider key in {directory}")
        idp = cls(region=region, signing_key=Ed25519PrivateKey.generate(), directory=directory, now=now)
        idp._save()
        return idp

    def rotate(self) -> str:
        """Sign with a new key from now on; the previous public key stays trusted (delete its
        .pub.pem once the tokens it signed have expired). Returns the new key id."""
        self.signing_key = Ed25519PrivateKey.generate()
        self._save()
        return self.kid

    def save_to(self, directory: Path) -> IdentityProvider:
        """Keep this IdP's keys in `directory` from now on (written there at once)."""
        self.directory = directory
        self._save()
        return self

    def _save(self) -> None:
        if self.directory is None:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        private = self.signing_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption())
        write_private(self.directory / f"{self.kid}{PRIVATE_SUFFIX}", private)
        public = self.signing_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        (self.directory / f"{self.kid}{PUBLIC_SUFFIX}").write_bytes(public)
        (self.directory / CURRENT_FILE).write_text(self.kid + "\n")

    def trusted_keys(self) -> TrustedKeys:
        """The public keys a service of this region trusts (every key in the directory, or this one)."""
        if self.directory is not None:
            return TrustedKeys.from_dir(self.directory, self.region)
        return TrustedKeys(self.region, {self.kid: self.signing_key.public_key()})

    def issue(self, *, clerk_id: str, office_code: str, roles: Sequence[str], kind: str = "clerk",
              lifetime: timedelta | None = None, not_before: float | None = None) -> str:
        """A signed token for a clerk (or system component) of this region."""
        if kind not in ACTOR_KINDS:
            raise ValueError(f"actor kind must be one of {ACTOR_KINDS}, not {kind!r}")
        if not roles:
            raise ValueError("a token names at least one role")
        issued = int(self.now())
        payload = {
            "iss": issuer_for(self.region), "aud": AUDIENCE, "sub": clerk_id, "office": office_code,
            "region": self.region, "roles": list(roles), "kind": kind, "iat": issued,
            "nbf": int(not_before) if not_before is not None else issued,
            "exp": issued + int((lifetime or self.lifetime).total_seconds()), "jti": uuid.uuid4().hex,
        }
        return jwt.encode(payload, self.signing_key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def issue_for(self, actor: Actor, *, lifetime: timedelta | None = None) -> str:
        """A token proving `actor` (its role the token's only role). The actor's region must be
        this IdP's: an IdP speaks for its own region only."""
        if actor.region != self.region:
            raise ValueError(f"the identity provider of {self.region} cannot sign for region {actor.region}")
        return self.issue(clerk_id=actor.clerk_id, office_code=actor.office_code, roles=[actor.role],
                          kind=actor.kind, lifetime=lifetime)


def write_private(path: Path, data: bytes) -> None:
    """Write a secret readable by its owner only (0600 from the start, not chmod after)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
    os.chmod(path, 0o600)  # an existing file keeps its old mode through O_CREAT
