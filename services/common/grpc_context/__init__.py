"""The seam every service's gRPC API goes through, server side and client side.

- `identity`: the calling actor, from call metadata (`Authenticator`, `TrustedHeaders`), read by
  handlers with `current_actor()`, named by clients with `actor_metadata(actor)`;
- `status`: the TongbanError family mapped to google.rpc statuses with rich details (invariant 7);
- `client`: the mirror of that mapping, decoding a refusal with `error_details(rpc_error)`;
- `hygiene`: every request decoded and held to its fields' rules (`tongban.common.v1.rules`) before
  its handler runs, text normalised (INVALID_ARGUMENT naming the field otherwise);
- `server`: the interceptor (span, actor, request hygiene, error mapping around every call) and
  `create_server`.

The names below are re-exported so callers import from the package, not from its modules.
"""

from services.common.grpc_context.client import ErrorDetails, error_details
from services.common.grpc_context.identity import (
    ACTOR_KIND_KEY,
    CLERK_ID_KEY,
    OFFICE_KEY,
    REGION_KEY,
    ROLE_KEY,
    Authenticator,
    NoActor,
    TrustedHeaders,
    Unauthenticated,
    acting_as,
    actor_metadata,
    current_actor,
)
from services.common.grpc_context.server import (
    DEFAULT_EXEMPT,
    DEFAULT_UNTRACED,
    HEALTH_PREFIX,
    ServerContextInterceptor,
    create_server,
)
from services.common.grpc_context.status import ERROR_DOMAIN, status_for_error

__all__ = [
    "ACTOR_KIND_KEY",
    "CLERK_ID_KEY",
    "DEFAULT_EXEMPT",
    "DEFAULT_UNTRACED",
    "ERROR_DOMAIN",
    "HEALTH_PREFIX",
    "OFFICE_KEY",
    "REGION_KEY",
    "ROLE_KEY",
    "Authenticator",
    "ErrorDetails",
    "NoActor",
    "ServerContextInterceptor",
    "TrustedHeaders",
    "Unauthenticated",
    "acting_as",
    "actor_metadata",
    "create_server",
    "current_actor",
    "error_details",
    "status_for_error",
]
