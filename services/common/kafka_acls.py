"""Who may do what on the national exchange: the Kafka ACLs of a deployment, as data (no I/O).

The broker authenticates every client (SASL/SCRAM over TLS, services/common/kafka_security.py) as one
principal per region (``User:region-640000``; all of a region's services share it), one for the registry
worker (``User:registry``) and one for auditors (``User:auditor``). The broker's own ``User:admin`` is a
super user and creates topics, users and these ACLs. Kafka's StandardAuthorizer denies whatever is not
allowed here, so a client without an ACL -- or without credentials at all -- can do nothing.

What the ACLs can and cannot say, given how the topics are laid out (docs/cross-region.md, "Topics"):

* **A region's consumer group is its own.** Each service of a region reads in the consumer group
  ``tongban-<service>-<region>`` (services/host/consuming.py); another region cannot join it (which
  would steal its partitions and commit its offsets). Neither the hosts nor the registry worker make
  topics of their own any more (they ran faust apps, whose assignor made a leader topic, until issue
  15's seventh and eighth passes), so no principal is granted a topic to do everything with.
* **Only the registry decides.** The decisions topics and the claims topic are written by ``User:registry``
  only; a region may read decisions and nothing more, so a forged GRANTED/CONFIRMED is refused by the
  broker before any consumer sees it.
* **A region reads only its own decisions** (invariant 10): ``tongban.registry.decisions.<region>.v1``
  carries the decisions addressed to that region and only its principal may read it; the national record
  ``tongban.registry.decisions.v1`` (confirmed and released holds, registry/topics.py) every region reads.
* **The service topics are shared.** ``tongban.<service>.events.v1`` carries every region's events of a
  service (one topic per service, all regions), so every region must be allowed to write it; which
  region a message on it speaks for is proven by the envelope's Ed25519 signature, not by the broker.
  Per-region service topics would let the broker check that as well, at the price of moving every relay,
  consumer and audit to new topic names. A region does not read its own service's topic (the whole
  country's events): only another service that reacts to it does (below).
* **A region reads only the hand-offs addressed to it** (invariant 10, handoff/topics.py): a hand-off
  message also travels on ``tongban.<service>.handoffs.<region>.v1`` of the region it is addressed to.
  Any region of the service may write any region's hand-off topic (a hand-off may go anywhere, to a
  region that joins later too); only the addressee may read it. Who sent a message on it is again
  proven by the envelope's signature.
* **A service reads another's topic only where it reacts to it** (``SERVICE_READS``): relief follows
  marriages (a new spouse joins the household, a divorce leaves it), so a region running relief reads the
  marriage topic even where it runs no marriage service.
* **Auditors read everything and write nothing.**
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.common.handoff.topics import handoffs_prefix, handoffs_topic
from services.common.kafka_settings import events_topic
from services.common.registry.topics import CLAIMS_TOPIC, DECISIONS_TOPIC, region_decisions_topic

ADMIN_USER = "admin"
REGISTRY_USER = "registry"
AUDITOR_USER = "auditor"
# The registry worker's app id (services/common/registry/worker/settings.py): its deciding group and
# the forwarder's group ("<id>.forward") start with it.
REGISTRY_APP_ID = "tongban-registry"
# Named here rather than imported from the auditor's tools, which the core does not import (a unit test
# keeps the two equal).
CHECKPOINT_TOPIC = "tongban.audit.checkpoints.v1"
# What every region's decisions topic starts with (and the national record does not: "...decisions.v1").
REGION_DECISIONS_PREFIX = DECISIONS_TOPIC.removesuffix("v1")

LITERAL = "LITERAL"
PREFIXED = "PREFIXED"
TOPIC = "TOPIC"
GROUP = "GROUP"

# Other services' events topics a service consumes, by service name (besides its own topic and the
# registry's decisions, which every service reads). tests/integration/test_compose.py keeps this equal
# to what each service's wiring subscribes to.
SERVICE_READS: dict[str, tuple[str, ...]] = {
    "disability": ("relief",),  # services/disability/application/reactions_relief.py
    # services/relief/application/marriage_reactions.py, reactions_disability.py
    "relief": ("marriage", "disability"),
}

_READ = ("READ", "DESCRIBE")
_WRITE = ("WRITE", "DESCRIBE")


@dataclass(frozen=True, order=True)
class Acl:
    """One ALLOW binding: ``principal`` may ``operation`` on the ``resource`` matched by ``pattern`` + ``name``."""

    principal: str
    resource: str  # TOPIC or GROUP
    pattern: str  # LITERAL or PREFIXED
    name: str
    operation: str  # READ, WRITE, DESCRIBE, ALL, ...


def user(name: str) -> str:
    return f"User:{name}"


def region_user(region: str) -> str:
    """The SCRAM user of a region (``region-640000``); every service of the region logs in as it."""
    if not (len(region) == 6 and region.isdigit()):
        raise ValueError(f"region {region!r} is not a 6-digit GB/T 2260 code")
    return f"region-{region}"


def service_app_id(service: str, region: str) -> str:
    """The consumer group of one service in one region (services/host/host.py)."""
    return f"tongban-{service}-{region}"


def _grants(principal: str, resource: str, pattern: str, name: str, operations: Iterable[str]) -> list[Acl]:
    return [Acl(principal, resource, pattern, name, operation) for operation in operations]


def region_acls(region: str, services: Iterable[str]) -> list[Acl]:
    principal = user(region_user(region))
    acls = _grants(principal, TOPIC, LITERAL, DECISIONS_TOPIC, _READ)
    acls += _grants(principal, TOPIC, LITERAL, region_decisions_topic(region), _READ)
    acls += _grants(principal, TOPIC, LITERAL, CHECKPOINT_TOPIC, (*_READ, "WRITE"))
    for service in services:
        acls += _grants(principal, TOPIC, LITERAL, events_topic(service), _WRITE)
        acls += _grants(principal, TOPIC, PREFIXED, handoffs_prefix(events_topic(service)), _WRITE)
        acls += _grants(principal, TOPIC, LITERAL, handoffs_topic(events_topic(service), region), _READ)
        acls += _grants(principal, GROUP, LITERAL, service_app_id(service, region), ("READ",))
        for other in SERVICE_READS.get(service, ()):
            acls += _grants(principal, TOPIC, LITERAL, events_topic(other), _READ)
    return acls


def registry_acls(services: Iterable[str]) -> list[Acl]:
    principal = user(REGISTRY_USER)
    # CREATE as well: the worker makes its topics when it starts if they are missing (ensure_topics),
    # and an existing topic is only reported as such to a principal allowed to create it.
    acls = _grants(principal, TOPIC, LITERAL, DECISIONS_TOPIC, (*_READ, "WRITE", "CREATE"))
    # Every region's decisions topic, including those of regions that join later: the worker declares
    # a region's topic when it first decides for it.
    acls += _grants(principal, TOPIC, PREFIXED, REGION_DECISIONS_PREFIX, (*_READ, "WRITE", "CREATE"))
    acls += _grants(principal, TOPIC, LITERAL, CLAIMS_TOPIC, (*_READ, "WRITE", "CREATE"))
    # PREFIXED covers the worker's group and its forwarder's ("tongban-registry.forward").
    acls += _grants(principal, GROUP, PREFIXED, REGISTRY_APP_ID, ("READ",))
    for service in services:
        acls += _grants(principal, TOPIC, LITERAL, events_topic(service), _READ)
    return acls


def auditor_acls() -> list[Acl]:
    # Audits read with assign + seek and no group (services/common/audit/kafka_log.py): topics only.
    return _grants(user(AUDITOR_USER), TOPIC, PREFIXED, "tongban.", _READ)


def deployment_acls(regions: Iterable[str], services: Iterable[str]) -> list[Acl]:
    """Every ACL of a deployment with these regions and services, sorted and without duplicates."""
    services = list(services)
    acls = registry_acls(services) + auditor_acls()
    for region in regions:
        acls += region_acls(region, services)
    return sorted(set(acls))


def deployment_users(regions: Iterable[str]) -> list[str]:
    """The SCRAM users a deployment needs besides the admin: the registry, the auditor, each region."""
    return [REGISTRY_USER, AUDITOR_USER, *(region_user(region) for region in regions)]
