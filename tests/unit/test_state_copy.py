"""`Aggregate.applied` leaves the loaded state untouched (it is the base of the expected version,
invariant 1), with a copy only as deep as the class needs (services/common/kit/copying.py)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import date
from typing import ClassVar

from services.catalogue import SERVICES
from services.common.kit import Aggregate
from services.common.kit.copying import _containers, copied
from services.common.kit.snapshots import aggregate_types


@dataclass(frozen=True)
class Grant:
    claim_id: str
    on: date


@dataclass(frozen=True)
class Granted:
    grant: Grant


@dataclass
class Holder:  # mutable: a state holding one can only be deep-copied
    names: list[str] = field(default_factory=list)


@dataclass
class Ledger(Aggregate):
    stream_type: ClassVar[str] = "tests.Ledger"
    grants: dict[str, Grant] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    last: Grant | None = None

    def when(self, event: Granted) -> None:
        self.grants[event.grant.claim_id] = event.grant
        self.order.append(event.grant.claim_id)
        self.seen.add(event.grant.claim_id)
        self.last = event.grant


@dataclass
class Nested(Aggregate):
    stream_type: ClassVar[str] = "tests.Nested"
    holder: Holder = field(default_factory=Holder)
    by_person: dict[str, list[str]] = field(default_factory=dict)

    def when(self, event: Granted) -> None:
        self.holder.names.append(event.grant.claim_id)
        self.by_person.setdefault("p", []).append(event.grant.claim_id)


def test_applied_leaves_the_loaded_state_as_it_was() -> None:
    loaded = Ledger().extended_by([Granted(Grant("c-1", date(2026, 5, 20)))])
    before = Ledger(version=loaded.version, grants=dict(loaded.grants), order=list(loaded.order),
                    seen=set(loaded.seen), last=loaded.last)
    after = loaded.applied([Granted(Grant("c-2", date(2026, 5, 21)))])
    assert loaded == before, "the loaded state is untouched"
    assert after.order == ["c-1", "c-2"] and after.seen == {"c-1", "c-2"} and after.version == 2
    assert _containers(Ledger) == ("grants", "order", "seen"), "values and containers of values: copied once"


def test_a_state_holding_anything_mutable_beyond_that_is_deep_copied() -> None:
    assert _containers(Nested) is None
    loaded = Nested().extended_by([Granted(Grant("c-1", date(2026, 5, 20)))])
    loaded.applied([Granted(Grant("c-2", date(2026, 5, 21)))])
    assert (loaded.holder.names, loaded.by_person) == (["c-1"], {"p": ["c-1"]})
    assert copied(loaded).holder is not loaded.holder


def test_every_catalogued_aggregate_has_a_copy_rule() -> None:
    """Each service's aggregates are either copied one level deep or deep-copied: the rule is read
    from their fields, and this lists which, so a change of fields that changes it is seen."""
    for entry in SERVICES:
        importlib.import_module(f"{entry.package}.bootstrap")
    ours = [cls for cls in aggregate_types().values() if cls.__module__.startswith("services.")]
    rules = {cls.__name__: _containers(cls) for cls in ours}
    assert rules["Marriage"] == ("granted", "lost", "released", "pending")
    assert rules["Application"] is None, "its entitlements are mutable objects: deep-copied"
