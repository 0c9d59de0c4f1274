"""Who is calling: the actor named by call metadata, on the server and on the client.

The server resolves the calling `Actor` from call metadata with an `Authenticator` and binds it
for the handler, which reads it with `current_actor()` (events record it, invariant 2). Clients
name their actor with `actor_metadata(actor)`; consumers, schedulers and tests that call handlers
without a gRPC call use `acting_as(actor)`.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, Protocol

from services.common.errors import TongbanError
from services.common.events import ACTOR_KINDS, Actor

CLERK_ID_KEY: Final = "x-tongban-clerk-id"
OFFICE_KEY: Final = "x-tongban-office"
REGION_KEY: Final = "x-tongban-region"
ROLE_KEY: Final = "x-tongban-role"
# Optional: absent means a clerk, by far the most common caller (windows, reviewers, approvers).
ACTOR_KIND_KEY: Final = "x-tongban-actor-kind"


class Unauthenticated(TongbanError):
    """The call carries no usable identity; `key` names the metadata key at fault."""

    def __init__(self, key: str, problem: str = "missing") -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"{problem} metadata key {key!r}")


class NoActor(RuntimeError):
    """current_actor() was asked outside a call that has one."""


class Authenticator(Protocol):
    def authenticate(self, metadata: Mapping[str, str]) -> Actor:
        """The actor the call metadata names; raises Unauthenticated naming the key at fault."""
        ...


_REGION_CODE = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class TrustedHeaders:
    """Believes the identity headers as sent. The seam where verifying them (mTLS, signed
    tokens) will go; until then a deployment must only expose the port to trusted callers."""

    def authenticate(self, metadata: Mapping[str, str]) -> Actor:
        kind = metadata.get(ACTOR_KIND_KEY, "clerk").strip() or "clerk"
        if kind not in ACTOR_KINDS:
            raise Unauthenticated(ACTOR_KIND_KEY, f"invalid (not one of {', '.join(ACTOR_KINDS)})")
        clerk_id = _required(metadata, CLERK_ID_KEY)
        # A system actor (scheduler, relay) belongs to a region, not to an office.
        office = _required(metadata, OFFICE_KEY) if kind == "clerk" else metadata.get(OFFICE_KEY, "").strip()
        region = _required(metadata, REGION_KEY)
        if not _REGION_CODE.match(region):
            raise Unauthenticated(REGION_KEY, "invalid (not a six-digit GB/T 2260 code)")
        role = _required(metadata, ROLE_KEY)
        return Actor(kind=kind, clerk_id=clerk_id, office_code=office, region=region, role=role)


def _required(metadata: Mapping[str, str], key: str) -> str:
    value = metadata.get(key, "").strip()
    if not value:
        raise Unauthenticated(key)
    return value


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


def actor_metadata(actor: Actor) -> list[tuple[str, str]]:
    """Call metadata naming `actor`, for a client (the CLI, a window application, tests)."""
    pairs = [
        (ACTOR_KIND_KEY, actor.kind),
        (CLERK_ID_KEY, actor.clerk_id),
        (OFFICE_KEY, actor.office_code),
        (REGION_KEY, actor.region),
        (ROLE_KEY, actor.role),
    ]
    for key, value in pairs:
        # gRPC refuses non-ASCII text metadata with an obscure error at call time; say which.
        if not value.isascii():
            raise ValueError(f"{key} must be ASCII for gRPC metadata, not {value!r}")
    return [(key, value) for key, value in pairs if value]
