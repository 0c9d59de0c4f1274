"""Every RPC of every service in the catalogue, and the hand-off and audit APIs each host adds,
meets random requests built from its own proto descriptor (hypothesis, bounded, derandomized):
strings of random and hostile characters or plausible ids, integers at their extremes, unknown
enum values, floats that are not finite, nested messages, long repeated fields, and bytes that do
not decode. Every answer is one a caller can act on — OK, INVALID_ARGUMENT, FAILED_PRECONDITION,
NOT_FOUND, PERMISSION_DENIED or UNAUTHENTICATED — never INTERNAL, UNKNOWN or RESOURCE_EXHAUSTED;
a refusal appends nothing (architecture invariant 7); and at the end no stored event holds a
control, bidi or zero-width character (issue 11).

`pytest -s` prints the counts: requests, answers per code, events stored, hidden characters stored."""

from __future__ import annotations

import contextlib
import json
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services import catalogue
from services.common.audit.grpc_api import audit_servicer_adder
from services.common.clock import FakeClock
from services.common.events import Actor
from services.common.grpc_context import create_server
from services.common.handoff.servicer import handoff_servicer_adder
from services.common.identity.citizen_id import make_citizen_id
from services.common.reflection import ServiceRecorder
from services.common.store import EventStore, sqlite_url
from services.common.text import BIDI_CONTROLS, ZERO_WIDTH
from services.host import Infrastructure
from tests.fixtures.trust import actor_metadata, authenticator
from tests.integration.test_input_fuzz import SPECIALS, text
from tongban.audit.v1 import audit_service_pb2  # noqa: F401 - the descriptors the hosts serve
from tongban.handoff.v1 import handoff_service_pb2  # noqa: F401

ANSWERABLE = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNAUTHENTICATED,
}
EXAMPLES = 25  # per method: ~120 methods x 25 stays within the suite's budget
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
NOW = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in China
REGION = "640000"
OFFICES = ("640104-MRO-01", "640104-DPO-01", "640104-RLO-01", "640104-MRO-02")
ROLES = ("registrar", "window", "reviewer", "approver", "county", "township", "auditor", "court", "admin")
PLAUSIBLE = st.one_of(
    st.builds(lambda born, n: make_citizen_id("640104", born, n), st.dates(date(1940, 1, 1), date(2010, 12, 31)),
              st.integers(1, 998)),
    st.sampled_from(["640000", "510000", "640104", "510802", "marriage-640000-0", "disability-640000-0",
                     "relief-640000-0", "handoff-0", *OFFICES, "王芳", "马小红", "2026-03-09", "dibao", "living"]),
)
strings = st.one_of(text, PLAUSIBLE, st.just(""))
INT_RANGES = {FieldDescriptor.TYPE_INT32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_SINT32: (-2**31, 2**31 - 1),
              FieldDescriptor.TYPE_SFIXED32: (-2**31, 2**31 - 1), FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
              FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1), FieldDescriptor.TYPE_INT64: (-2**63, 2**63 - 1),
              FieldDescriptor.TYPE_SINT64: (-2**63, 2**63 - 1), FieldDescriptor.TYPE_SFIXED64: (-2**63, 2**63 - 1),
              FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1), FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1)}


def _scalar(f: FieldDescriptor) -> st.SearchStrategy[Any]:
    if f.type == FieldDescriptor.TYPE_STRING:
        return strings
    if f.type == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if f.type == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if f.type == FieldDescriptor.TYPE_ENUM:
        return st.integers(-3, 40)  # known values and unknown ones
    if f.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return st.floats(allow_nan=True, allow_infinity=True, width=32 if f.type == FieldDescriptor.TYPE_FLOAT else 64)
    low, high = INT_RANGES[f.type]
    return st.one_of(st.integers(-5, 5000).filter(lambda n: low <= n <= high), st.sampled_from([low, high]),
                     st.integers(low, high))


def _message(d: Descriptor, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """A dict for the message's constructor: each field set or left at its default."""
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for f in d.fields:
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            key, value = f.message_type.fields_by_name["key"], f.message_type.fields_by_name["value"]
            parts[f.name] = st.dictionaries(_scalar(key), _scalar(value) if value.message_type is None
                                            else _message(value.message_type, depth + 1), max_size=4)
            continue
        one = (_message(f.message_type, depth + 1) if f.message_type is not None and depth < 3
               else st.just({}) if f.message_type is not None else _scalar(f))
        if f.is_repeated:
            parts[f.name] = st.one_of(st.lists(one, max_size=3), one.map(lambda v: [v] * 300))
        else:
            parts[f.name] = one
    if not parts:
        return st.just({})
    return st.fixed_dictionaries({}, optional=parts)


def _build(d: Descriptor, values: dict[str, Any]) -> Any:
    cls = message_factory.GetMessageClass(d)
    message = cls()
    for name, value in values.items():
        f = d.fields_by_name[name]
        try:
            if f.message_type is not None and f.message_type.GetOptions().map_entry:
                target = getattr(message, name)
                for k, v in value.items():
                    if isinstance(v, dict):
                        target[k].CopyFrom(_build(f.message_type.fields_by_name["value"].message_type, v))
                    else:
                        target[k] = v
            elif f.message_type is not None:
                if f.is_repeated:
                    getattr(message, name).extend(_build(f.message_type, v) for v in value)
                else:
                    getattr(message, name).CopyFrom(_build(f.message_type, value))
            elif f.is_repeated:
                getattr(message, name).extend(value)
            else:
                setattr(message, name, value)
        except (ValueError, TypeError):
            pass  # a value protobuf itself will not hold (a lone surrogate...): the field stays unset
    return message


@dataclass
class Door:
    service: str
    store: EventStore
    channel: grpc.Channel
    methods: list[MethodDescriptor] = field(default_factory=list)


@dataclass
class Tally:
    answers: Counter[tuple[str, str]] = field(default_factory=Counter)


def _open_door(entry: catalogue.CatalogueEntry, data_dir: Path, stack: list[Any], now: datetime = NOW) -> Door:
    """One service's host on a loopback port over its own SQLite store, its clock standing at `now`
    (test_fuzz_accepted.py opens its doors here too, on another day)."""
    definition = entry.definition()
    store = EventStore.open(sqlite_url(data_dir / f"{entry.name}.db"), region=REGION, service=entry.name,
                            clock=FakeClock(now), tables=definition.tables)
    wiring = definition.wire(Infrastructure.over(store))
    adders = [*wiring.servicers, audit_servicer_adder(store, region=REGION, service=entry.name, clock=store.clock)]
    if wiring.handoff_hooks is not None:
        adders.append(handoff_servicer_adder(store, wiring.handoff_hooks))
    names: list[str] = []

    def recording(add: Any) -> Any:
        def added(server: grpc.Server) -> None:
            recorder = ServiceRecorder(server)
            add(recorder)
            names.extend(recorder.service_names)
        return added

    server, port = create_server("127.0.0.1:0", servicers=[recording(a) for a in adders],
                                 authenticator=authenticator(REGION))
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stack.append((server, channel, store))
    pool = descriptor_pool.Default()
    methods = [m for name in names for m in pool.FindServiceByName(name).methods]
    return Door(entry.name, store, channel, methods)


@contextlib.contextmanager
def opened_doors(data_dir: Path, now: datetime = NOW) -> Iterator[dict[str, Door]]:
    """Every catalogued service's door, closed on exit."""
    opened: list[Any] = []
    try:
        yield {e.name: _open_door(e, data_dir, opened, now) for e in catalogue.SERVICES}
    finally:
        for server, channel, store in opened:
            channel.close()
            server.stop(grace=None)
            store.close()


@pytest.fixture(scope="module")
def doors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Door]]:
    with opened_doors(tmp_path_factory.mktemp("fuzz-every-rpc")) as opened:
        yield opened


@pytest.fixture(scope="module")
def tally(doors: dict[str, Door]) -> Iterator[Tally]:
    seen = Tally()
    yield seen
    by_code: Counter[str] = Counter()
    for (_, code), n in seen.answers.items():
        by_code[code] += n
    stored = sum(len(door.store.read_log(after=0, limit=1_000_000)) for door in doors.values())
    print(f"\nfuzz of every RPC: {sum(by_code.values())} requests to "
          f"{len({m for m, _ in seen.answers})} methods; answers {dict(sorted(by_code.items()))}; "
          f"{stored} events stored from accepted requests")


def _method_ids() -> list[tuple[str, str]]:
    """(service, full method name) for every method served, known without starting anything."""
    out: list[tuple[str, str]] = []
    pool = descriptor_pool.Default()
    for entry in catalogue.SERVICES:
        entry.definition()  # imports the service's generated modules
        for service in _served_service_names(entry.name):
            out += [(entry.name, m.full_name) for m in pool.FindServiceByName(service).methods]
    return out


def _served_service_names(service: str) -> list[str]:
    import importlib

    modules = {"marriage": "tongban.marriage.v1.marriage_service_pb2",
               "disability": "tongban.disability.v1.disability_service_pb2",
               "relief": "tongban.relief.v1.relief_service_pb2"}
    own = importlib.import_module(modules[service]).DESCRIPTOR
    return [s.full_name for s in own.services_by_name.values()] + [
        "tongban.audit.v1.AuditService", "tongban.handoff.v1.HandoffService"]


# Each service's own clerks (so requests reach the rules behind the door), anyone else, and nobody.
OWN_CLERKS = {
    "marriage": [("640104-MRO-01", "registrar"), ("640104-MRO-01", "court"), ("640104-MRO-01", "auditor"),
                 ("640104-MRO-01", "admin")],
    "disability": [("640104-DPO-01", "window"), ("640104-CDPF", "cdpf"), ("640104-MZJ", "approver")],
    "relief": [("640104-MZ-01", "relief"), ("640104-MZJ", "approver"), ("640104-MZJ", "county")],
}


def actors(service: str) -> st.SearchStrategy[Actor | None]:
    def clerk(office: str, role: str) -> Actor:
        return Actor(kind="clerk", clerk_id="clerk-07", office_code=office, region=REGION, role=role)

    own = st.sampled_from(OWN_CLERKS[service]).map(lambda pair: clerk(*pair))
    anyone = st.builds(clerk, st.sampled_from(OFFICES), st.sampled_from(ROLES))
    return st.one_of(own, own, own, anyone, st.just(None))  # None: no credential at all


def _call(door: Door, method: MethodDescriptor, payload: bytes, actor: Actor | None) -> grpc.StatusCode:
    call = door.channel.unary_unary(f"/{method.containing_service.full_name}/{method.name}")
    try:
        call(payload, metadata=actor_metadata(actor) if actor is not None else (), timeout=30)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def _served(doors: dict[str, Door], service: str, full_name: str) -> tuple[Door, MethodDescriptor]:
    door = doors[service]
    found = [m for m in door.methods if m.full_name == full_name]
    if not found:
        pytest.skip(f"{full_name} is not served by the {service} host")
    return door, found[0]


@pytest.mark.parametrize(("service", "method_name"), _method_ids())
def test_random_requests_get_an_answer_a_caller_can_act_on_and_refusals_append_nothing(
        doors: dict[str, Door], tally: Tally, service: str, method_name: str) -> None:
    door, method = _served(doors, service, method_name)

    @FUZZ
    @given(values=_message(method.input_type), actor=actors(service), raw=st.one_of(st.none(), st.binary(max_size=40)))
    def one(values: dict[str, Any], actor: Actor | None, raw: bytes | None) -> None:
        payload = raw if raw is not None else _build(method.input_type, values).SerializeToString()
        head = door.store.head()
        code = _call(door, method, payload, actor)
        tally.answers[(method.full_name, code.name)] += 1
        assert code in ANSWERABLE, f"{method.full_name} answered {code.name}"
        if code is not grpc.StatusCode.OK:
            assert door.store.head() == head, f"{method.full_name} refused ({code.name}) but appended"

    one()


def _hidden(value: str) -> list[str]:
    return [c for c in value if c not in "\n\t\r" and (unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")
                                                        or c in BIDI_CONTROLS or c in ZERO_WIDTH)]


def test_no_stored_event_holds_a_hidden_character(doors: dict[str, Door], tally: Tally) -> None:
    """Runs after the fuzz (same module): what the accepted requests stored is clean text (issue 11)."""
    pool = descriptor_pool.Default()
    bad: list[tuple[str, str]] = []
    for door in doors.values():
        for event in door.store.read_log(after=0, limit=1_000_000):
            message = message_factory.GetMessageClass(pool.FindMessageTypeByName(event.type)).FromString(event.payload)
            for value in _strings(json.loads(json_format.MessageToJson(message))):
                if _hidden(value):
                    bad.append((event.type, ascii(value)[:80]))
    print(f"\nhidden characters stored: {len(bad)} events")
    assert bad == [], bad[:5]


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


assert SPECIALS  # the hostile characters come with `text` (test_input_fuzz.py)
