"""Rebuildable projections, and the registry through which `tongban audit replay` finds them.

A projection is a read model in SQL tables built only from events (architecture: "always
rebuildable from the log"). To be replayable it says which tables it owns and how one event
changes them:

    class CaseList:                       # any object with these members is a Projection
        name = "marriage.case_list"
        tables = (case_list_table,)       # SQLAlchemy Core tables, each with a primary key
        def apply(self, connection, event): ...      # fold one event (ignore unrelated ones)
        def rebuild(self, events, connection): ...   # fold a whole log; FoldProjection gives
                                                     # the obvious loop over apply

`apply` must be pure over (current rows, event): no clock, no ids, no I/O besides its own tables,
so a replay gives the rows the live system wrote. A service usually calls `apply` in the same
transaction as the append (`projection.apply(tx.connection, recorded)`) so its read model is
never behind its log.

Registering. `default_registry()` collects:
- the shared core's projections (the `deadlines` table of services/common/deadlines.py);
- every `services.<service>.projections` module (and `services.common.<part>.projections`, e.g.
  the hand-off tables; `projection` singular is accepted too) that defines
  `register_projections(registry: ProjectionRegistry) -> None`, which calls
  `registry.register(projection, services=("<service>",))` for each read model (no `services`
  for a shared-core read model that any service's store may hold);
- any `module:function` given explicitly (`tongban audit replay --projections ...`).
So when a service adds a projection and registers it there, `audit replay` covers it.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import Table, insert, update
from sqlalchemy.engine import Connection

from services.common.events import RecordedEvent
from tongban.common.v1 import deadlines_pb2

log = logging.getLogger(__name__)

PROVIDER_FUNCTION = "register_projections"


@runtime_checkable
class Projection(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def tables(self) -> Sequence[Table]: ...

    def apply(self, connection: Connection, event: RecordedEvent) -> None:
        """Fold one event into the tables; events the projection does not use are ignored."""
        ...

    def rebuild(self, events: Iterable[RecordedEvent], connection: Connection) -> None:
        """Fold a whole log, in position order, into empty tables."""
        ...


class FoldProjection:
    """Base for projections whose rebuild is simply `apply` over the log."""

    name: str = ""
    tables: Sequence[Table] = ()

    def apply(self, connection: Connection, event: RecordedEvent) -> None:
        raise NotImplementedError

    def rebuild(self, events: Iterable[RecordedEvent], connection: Connection) -> None:
        for event in events:
            self.apply(connection, event)


@dataclass(frozen=True)
class Registration:
    projection: Projection
    services: frozenset[str] | None  # None: any service whose store has the tables

    def covers(self, service: str) -> bool:
        return self.services is None or service in self.services


class ProjectionRegistry:
    def __init__(self) -> None:
        self._by_name: dict[str, Registration] = {}

    def register(self, projection: Projection, *, services: Iterable[str] | None = None) -> None:
        if not isinstance(projection, Projection):
            raise TypeError(f"{projection!r} is not a Projection (name, tables, apply, rebuild)")
        if not projection.name:
            raise ValueError("a projection needs a name")
        if not projection.tables:
            raise ValueError(f"projection {projection.name} owns no tables")
        for table in projection.tables:
            if not table.primary_key.columns:
                raise ValueError(f"table {table.name} of {projection.name} has no primary key: rows could not "
                                 "be compared")
        if projection.name in self._by_name:
            existing = self._by_name[projection.name].projection
            if existing is projection or type(existing) is type(projection):
                return  # registering the same read model twice (two imports) is harmless
            raise ValueError(f"two different projections are named {projection.name!r}")
        self._by_name[projection.name] = Registration(projection, None if services is None else frozenset(services))

    def for_service(self, service: str) -> list[Projection]:
        return [r.projection for r in self._by_name.values() if r.covers(service)]

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __iter__(self) -> Iterator[Registration]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)


# -- the shared core's projections -------------------------------------------------------------


class DeadlinesProjection:
    """The `deadlines` table (services/common/deadlines.py) as a replayable projection. Rebuild
    uses the very fold `rebuild_deadlines_table` uses, so the audit's idea of the table is the
    shared core's; `apply` is its one-event form."""

    name = "deadlines"

    @property
    def tables(self) -> Sequence[Table]:
        from services.common import deadlines

        return (deadlines.deadlines,)

    def apply(self, connection: Connection, event: RecordedEvent) -> None:
        from services.common import deadlines

        if event.stream_type != deadlines.STREAM_TYPE:
            return
        rows: dict[str, dict[str, Any]] = {}
        if event.type == deadlines._SCHEDULED_TYPE:
            deadlines._fold(rows, event)
            connection.execute(insert(deadlines.deadlines), list(rows.values()))
            return
        if event.type not in (deadlines._FIRED_TYPE, deadlines._CANCELLED_TYPE):
            raise ValueError(f"unexpected event type {event.type!r} in deadline stream {event.stream_id}")
        fired = event.type == deadlines._FIRED_TYPE
        message = (deadlines_pb2.DeadlineFired if fired else deadlines_pb2.DeadlineCancelled).FromString(event.payload)
        connection.execute(update(deadlines.deadlines).where(deadlines.deadlines.c.deadline_id == message.deadline_id)
                           .values(state=deadlines.FIRED if fired else deadlines.CANCELLED))

    def rebuild(self, events: Iterable[RecordedEvent], connection: Connection) -> None:
        from services.common import deadlines

        rows: dict[str, dict[str, Any]] = {}
        for event in events:
            if event.stream_type == deadlines.STREAM_TYPE:
                deadlines._fold(rows, event)
        if rows:
            connection.execute(insert(deadlines.deadlines), list(rows.values()))


def register_common_projections(registry: ProjectionRegistry) -> None:
    registry.register(DeadlinesProjection())


# -- discovery ---------------------------------------------------------------------------------

Provider = Callable[[ProjectionRegistry], None]


def load_provider(spec: str) -> Provider:
    """`package.module:function` → the function."""
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"{spec!r}: expected module:function, e.g. services.marriage.projections:register_projections")
    provider = getattr(importlib.import_module(module_name), attribute, None)
    if not callable(provider):
        raise ValueError(f"{spec!r}: {attribute} is not a function of {module_name}")
    return provider  # type: ignore[no-any-return]


_SKIPPED_PACKAGES = frozenset({"services.common", "services.common.audit"})
_MODULE_NAMES = ("projections", "projection")


def service_providers() -> list[str]:
    """`<package>.projections:register_projections` for every service of the catalogue and every
    package of `services.common` that has one. A package without a projections module is skipped; one
    whose module fails to import is an error (better a loud audit than one that silently skips a
    read model); one whose module has no provider function is logged."""
    import services.common
    from services import catalogue

    found: list[str] = []
    packages = [service.package for service in catalogue.SERVICES]
    packages += [f"services.common.{i.name}" for i in pkgutil.iter_modules(services.common.__path__) if i.ispkg]
    for package in packages:
        if package in _SKIPPED_PACKAGES:
            continue
        for name in _MODULE_NAMES:
            module_name = f"{package}.{name}"
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as exc:
                if exc.name == module_name:
                    continue
                raise
            if callable(getattr(module, PROVIDER_FUNCTION, None)):
                found.append(f"{module_name}:{PROVIDER_FUNCTION}")
            else:
                log.warning("%s has no %s(registry): its read models are not replayed", module_name,
                            PROVIDER_FUNCTION)
    return found


def default_registry(extra: Sequence[str] = (), *, discover: bool = True) -> ProjectionRegistry:
    """The shared core's projections, every service's (unless `discover` is off), and `extra`."""
    registry = ProjectionRegistry()
    register_common_projections(registry)
    for spec in [*(service_providers() if discover else []), *extra]:
        load_provider(spec)(registry)
    return registry
