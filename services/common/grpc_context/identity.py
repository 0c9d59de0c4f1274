"""Who is calling: the actor proved by the call's credential, on the server and on the client.

The server resolves the calling `Actor` from call metadata with an `Authenticator` (the signed
token of the region's identity provider: services/common/trust/authenticator.py) and binds it for
the handler, which reads it with `current_actor()` (events record it, invariant 2). Clients present
their token with `token_metadata(token)`; consumers, schedulers and unit tests that call handlers
without a gRPC call bind an actor with `acting_as(actor)` (not a network path).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Final, Protocol

from services.common.errors import TongbanError
from services.common.events import Actor

AUTHORIZATION_KEY: Final = "authorization"
# The identity headers callers once sent in plain text. A call that still carries one is refused:
# identity comes from the signed token only (architecture invariant 8).
CLERK_ID_KEY: Final = "x-tongban-clerk-id"
OFFICE_KEY: Final = "x-tongban-office"
REGION_KEY: Final = "x-tongban-region"
ACTOR_KIND_KEY: Final = "x-tongban-actor-kind"
REFUSED_HEADERS: Final = (CLERK_ID_KEY, OFFICE_KEY, REGION_KEY, ACTOR_KIND_KEY)
# Optional: which of the token's roles the caller acts in (default its first). Chooses among what
# the token proves; it cannot add a role.
ROLE_KEY: Final = "x-tongban-role"


class Unauthenticated(TongbanError):
    """The call carries no usable credential; `key` names the metadata key at fault and the
    message what is wrong with it."""

    def __init__(self, key: str, problem: str = "missing") -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{key}: {problem}")


class NoActor(RuntimeError):
    """current_actor() was asked outside a call that has one."""


class Authenticator(Protocol):
    def authenticate(self, metadata: Mapping[str, str], method: str = "") -> Actor:
        """The actor the call's credential proves for `method` (the full gRPC method name, "/pkg.
        Service/Method": a credential may be good for some calls only); raises Unauthenticated
        naming what is wrong, or a NotAuthorised for a call the credential is not good for."""
        ...


_current_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("tongban_current_actor", default=None)


def current_actor() -> Actor:
    """The actor of the gRPC call being handled (or set by `acting_as`)."""
    actor = _current_actor.get()
    if actor is None:
        raise NoActor(
            "no actor for this call: current_actor() works inside a handler of a method that is "
            "not exempt from identity, or inside acting_as(...)"
        )
    return actor


@contextmanager
def acting_as(actor: Actor) -> Iterator[Actor]:
    """Make `actor` the current actor for the block: for consumers, schedulers and tests that
    call handlers without a gRPC call."""
    with actor_bound(actor):
        yield actor


@contextmanager
def actor_bound(actor: Actor | None) -> Iterator[None]:
    """Bind `actor` as the current actor for the block; the server's step around a handler.
    None for a method exempt from identity, so no actor of an earlier call on the same thread
    can be read by it."""
    token = _current_actor.set(actor)
    try:
        yield
    finally:
        _current_actor.reset(token)


def token_metadata(token: str, *, role: str | None = None) -> list[tuple[str, str]]:
    """Call metadata presenting `token` (from the region's identity provider: `tongban login`),
    acting in `role` if given (one of the token's roles)."""
    token = token.strip()
    if not token or not token.isascii() or any(c.isspace() for c in token):
        raise ValueError("a token is one line of ASCII text (a JWT)")
    pairs = [(AUTHORIZATION_KEY, f"Bearer {token}")]
    if role:
        if not role.isascii():
            raise ValueError(f"{ROLE_KEY} must be ASCII for gRPC metadata, not {role!r}")
        pairs.append((ROLE_KEY, role))
    return pairs
