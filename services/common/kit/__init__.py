"""The service kit: what every service builds on, so a new service writes only its domain, its
handlers and its proto.

* `Aggregate` — decide returns events, `when` only assigns, the fold written once;
* `PayloadCodec` — domain dataclasses ↔ protobuf payloads, upcast by schema version on read;
* `Rule`, `check` — a named rule with its legal article and its error;
* `Provenance` — actor, correlation, causation, occurred-at and trace of what is recorded;
* `UnitsOfWork` / `UnitOfWork` — load with the owner check, record, and run the subscribers
  registered at wiring time (read models, registry effects, deadlines) in the same transaction;
* `Request` — a command's client request id and fingerprint: a retry gets the first answer."""

from services.common.kit.aggregate import Aggregate
from services.common.kit.codec import PayloadCodec, UnknownSchemaVersion, Upcaster
from services.common.kit.provenance import Provenance
from services.common.kit.requests import Request
from services.common.kit.rules import Rule, check
from services.common.kit.unit_of_work import (
    Change,
    OwnerCheck,
    Subscribers,
    UnitOfWork,
    UnitsOfWork,
    owns_everything,
)

__all__ = [
    "Aggregate",
    "Change",
    "OwnerCheck",
    "PayloadCodec",
    "Provenance",
    "Request",
    "Rule",
    "Subscribers",
    "UnitOfWork",
    "UnitsOfWork",
    "UnknownSchemaVersion",
    "Upcaster",
    "check",
    "owns_everything",
]
