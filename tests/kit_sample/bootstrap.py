"""Composition root: the codec, the units of work with the read model subscribed, the handler."""

from __future__ import annotations

from types import SimpleNamespace

from google.protobuf import wrappers_pb2

from services.common.events import Actor
from services.common.kit import PayloadCodec, Provenance, Subscribers, UnitsOfWork
from services.host.definition import Infrastructure, ServiceDefinition, Wiring
from tests.kit_sample.domain import Notebook, NoteTaken
from tests.kit_sample.projections import refresh, tables

CODEC = PayloadCodec(SimpleNamespace(NoteTaken=wrappers_pb2.StringValue), [NoteTaken])


def take_note(units: UnitsOfWork, notebook_id: str, text: str, actor: Actor) -> None:
    with units.begin(Provenance.of_command(actor, notebook_id, units.store.clock.now())) as uow:
        notebook = uow.find(Notebook, notebook_id) or uow.start(Notebook, notebook_id, [])
        uow.record(notebook, notebook.take_note(text))


def bootstrap(infrastructure: Infrastructure) -> UnitsOfWork:
    return UnitsOfWork(infrastructure.store, CODEC, Subscribers().on_commit(refresh))


def wire(infrastructure: Infrastructure) -> Wiring:
    bootstrap(infrastructure)  # a real service hands its units to a servicer here
    return Wiring(handoff_hooks=None)


def definition() -> ServiceDefinition:
    return ServiceDefinition(name="notes", wire=wire, tables=[tables])
