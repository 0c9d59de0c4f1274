"""What the registry worker believes and how it vouches for what it says (invariant 8).

- A claim is forwarded only if its envelope verifies with a key of the region it names (and that
  region is the declared claimant: `claim_message` checks it): a region speaks for itself only.
- Its own inputs (forwarded claims, expiry checks) and its decisions are signed with the
  registry's key, in headers over the exact value bytes; the decider takes only inputs the
  registry signed, so a message slipped onto the claims topic decides nothing, and the regions act
  only on decisions the registry signed.

The worker keeps no event store: a refused message is logged with its reason and counted (the
auditor finds it on the topic: `tongban audit verify --kafka` names every message that does not
verify)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from services.common.consumer import Headers
from services.common.trust.keys import REGISTRY, KeyDirectory, RegionKey, ensure_key_in
from services.common.trust.signing import envelope_problem, message_problem, parse_envelope, sign_message

log = logging.getLogger("tongban.registry.worker")


@dataclass
class WorkerTrust:
    key: RegionKey | None  # the registry's signing key; None: nothing is signed (unit tests)
    keys: KeyDirectory | None  # whom to believe; None: nothing is verified (unit tests)
    rejected: dict[str, int] = field(default_factory=dict)  # reason kind → how many

    @classmethod
    def load(cls, keys_dir: Path, key_directory: Path) -> WorkerTrust:
        key = ensure_key_in(keys_dir, REGISTRY)
        return cls(key, KeyDirectory(key_directory, own=key))

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

    def refuse(self, where: str, what: str, reason: str) -> None:
        kind = reason.split(":")[0]
        self.rejected[kind] = self.rejected.get(kind, 0) + 1
        log.warning("rejected %s on %s: %s (refused so far: %d)", what, where, reason, sum(self.rejected.values()))
