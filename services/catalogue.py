"""The service catalogue: every service of Tongban, once.

The CLI (`tongban serve`, `relay`, `window`, and each service's operator commands), `tongban up`
and the demo's stack, the registry topics the stack forwards, and the audit tools iterate this
list. Adding a service means adding its entry here; those places need no other change.

An entry names the service's package; by convention the package holds
  bootstrap.py               `definition()` → its ServiceDefinition (the composition root)
  entrypoints/window.py      `add_window_commands(subparsers)` → `tongban window <name> …`
  entrypoints/cli.py         `add_commands(subparsers)` → `tongban <name> …` (operator commands)
  projections/__init__.py    `register_projections(registry)` → what `tongban audit replay` rebuilds
Nothing is imported until it is used, so `tongban --help` stays fast."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from services.host.definition import ServiceDefinition


@dataclass(frozen=True)
class CatalogueEntry:
    name: str  # the service's name: stores, topics, `--service`
    title: str  # what a person calls it, in Chinese and English
    package: str  # e.g. "services.marriage"
    claims: bool = False  # claims persons in the per-person registry (its topic is forwarded)

    def _attribute(self, module: str, name: str) -> Callable[..., Any] | None:
        wanted = f"{self.package}.{module}"
        try:
            found = importlib.import_module(wanted)
        except ModuleNotFoundError as missing:
            if missing.name and (wanted == missing.name or wanted.startswith(missing.name + ".")):
                return None  # the service has no such module: it offers nothing there
            raise  # the module exists but one of its imports is missing: that is a bug, say so
        return getattr(found, name, None)

    def definition(self) -> ServiceDefinition:
        make = self._attribute("bootstrap", "definition")
        if make is None:
            raise LookupError(f"{self.package}.bootstrap has no definition()")
        return make()  # type: ignore[no-any-return]

    def add_window_commands(self, subparsers: Any) -> bool:
        add = self._attribute("entrypoints.window", "add_window_commands")
        if add is not None:
            add(subparsers)
        return add is not None

    def add_commands(self, subparsers: Any) -> bool:
        add = self._attribute("entrypoints.cli", "add_commands")
        if add is not None:
            add(subparsers)
        return add is not None

    @property
    def projections(self) -> str:
        return f"{self.package}.projections:register_projections"


SERVICES: tuple[CatalogueEntry, ...] = (
    CatalogueEntry("marriage", "婚姻登记 marriage registration", "services.marriage", claims=True),
    CatalogueEntry("disability", "残疾人两项补贴 disability two subsidies", "services.disability", claims=True),
    CatalogueEntry("relief", "最低生活保障 与 临时救助 subsistence relief", "services.relief", claims=True),
)


def names() -> tuple[str, ...]:
    return tuple(e.name for e in SERVICES)


def claiming() -> tuple[str, ...]:
    return tuple(e.name for e in SERVICES if e.claims)


def entry(name: str) -> CatalogueEntry:
    for candidate in SERVICES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"no service {name!r} in the catalogue (services/catalogue.py): {', '.join(names())}")
