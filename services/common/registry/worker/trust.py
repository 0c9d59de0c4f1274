"""What the registry worker believes and how it vouches for what it says (invariant 8).

- A claim is forwarded only if its envelope verifies with a key of the region it names (and that
  region is the declared claimant: `claim_message` checks it): a region speaks for itself only.
- Its own inputs (forwarded claims, expiry checks) and its decisions are signed with the
  registry's key, in headers over the exact value bytes; the decider takes only inputs the
  registry signed, so a message slipped onto the claims topic decides nothing, and the regions act
  only on decisions the registry signed.

A refused message is logged with its reason, counted, and recorded as MessageRejected in the
worker's own small store (`<datadir>/registry.db`, region and service "registry"; an auditor reads
it with `tongban audit verify --db registry/registry=<path>`), and `tongban audit verify --kafka`
names it on its topic too."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from services.common.consumer import Headers, MessageGate
from services.common.events import RecordedEvent
from services.common.store import EventStore, sqlite_url
from services.common.trust.keys import REGISTRY, KeyDirectory, RegionKey, ensure_key_in
from services.common.trust.signing import envelope_problem, message_problem, parse_envelope, sign_message

log = logging.getLogger("tongban.registry.worker")


@dataclass
class WorkerTrust:
    key: RegionKey | None  # the registry's signing key; None: nothing is signed (unit tests)
    keys: KeyDirectory | None  # whom to believe; None: nothing is verified (unit tests)
    rejected: dict[str, int] = field(default_factory=dict)  # reason kind → how many
    store: EventStore | None = None  # where refusals are recorded; None: logged and counted only

    @classmethod
    def load(cls, keys_dir: Path, key_directory: Path, datadir: Path | None = None) -> WorkerTrust:
        key = ensure_key_in(keys_dir, REGISTRY)
        store = None
        if datadir is not None:
            datadir.mkdir(parents=True, exist_ok=True)
            store = EventStore.open(sqlite_url(datadir / "registry.db"), region=REGISTRY, service=REGISTRY)
        return cls(key, KeyDirectory(key_directory, own=key), store=store)

    def sign(self, purpose: str, value: bytes) -> list[tuple[str, bytes]]:
        return sign_message(self.key, purpose, value) if self.key is not None else []

    def claim_problem(self, raw: bytes) -> str | None:
        if self.keys is None:
            return None
        return envelope_problem(parse_envelope(raw), self.keys)

    def registry_problem(self, purpose: str, value: bytes, headers: Headers) -> str | None:
        if self.keys is None:
            return None
        return message_problem(self.keys, REGISTRY, purpose, value, headers)

    def refuse(self, where: str, what: str, reason: str, *, raw: bytes = b"", event: RecordedEvent | None = None,
               signature: bytes = b"") -> None:
        kind = reason.split(":")[0]
        self.rejected[kind] = self.rejected.get(kind, 0) + 1
        log.warning("rejected %s on %s: %s (refused so far: %d)", what, where, reason, sum(self.rejected.values()))
        if self.store is not None:
            try:
                # Without an event it is a claims-topic input, which only the registry may send.
                MessageGate(self.store, None, consumer=REGISTRY).reject(
                    where, raw, reason, event=event, signature=signature, claimed_region=REGISTRY,
                    claimed_type="registry input")
            except Exception:  # the record is evidence, not a condition of refusing: never stop the worker
                log.exception("could not record the refusal of %s", what)
