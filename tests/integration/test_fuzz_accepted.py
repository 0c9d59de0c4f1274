"""What an accepted command stores, fuzzed (issue 11): every service of the catalogue meets VALID but
odd requests for the commands that start and move its cases, through a real gRPC server on
loopback with signed tokens, over a real SQLite store (the doors of test_fuzz_every_rpc.py, on a
clock standing at 28 February 2026, 10:00 in China). Names with the middle dot (阿依古丽·买买提) or
its look-alikes, rare characters outside the BMP (𠮷, CJK Ext B-G), names and texts typed in NFD,
strings exactly at their documented limit and one over, births on 29 February and on the very day
the legal age is reached, citizen IDs of every province with every check character (X typed as x),
disability certificates of every category and grade, amounts at their bounds, dates at 1900-01-01
and today and one day beyond each.

For every example: accepted ⇒ the events it appended hold exactly the normalised values (NFC, the
canonical middle dot U+00B7, "\\n", the upper-case X), GetCase answers them identically, the
store's hash chains verify, and a repeat with the same request id answers the same and appends
nothing (invariant 9); refused ⇒ INVALID_ARGUMENT naming the field or FAILED_PRECONDITION naming
the rule, and nothing appended (invariant 7). A refusal the law wants in writing (不予登记: too
young on the day, 民法典 第1047条; a similar subsidy paid higher, 择高) is an accepted command whose
events name the rule. Each example says beforehand which it must be, so a false refusal fails as
surely as a wrong acceptance.

`pytest -s` prints the examples run per service and the commands accepted and refused."""

from __future__ import annotations

import contextlib
import json
import unicodedata
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings

from services.common.events import Actor
from services.common.grpc_context import error_details
from services.common.store.verify import verify_store
from tests.fixtures.trust import actor_metadata
from tests.integration.accepted_journeys import JOURNEYS, READERS, SERVICE_NAMES, Journey, Step
from tests.integration.test_fuzz_every_rpc import Door, _hidden, _strings, opened_doors

NOW = datetime(2026, 2, 28, 2, 0, tzinfo=UTC)  # 10:00 in China on accepted_journeys.TODAY
# Journeys per service (relief has two kinds of case): the whole file stays within ~40 s on a shared
# 2-core machine.
EXAMPLES = {"marriage": 40, "disability": 40, "relief": 70}


def accepted(service: str) -> settings:
    return settings(max_examples=EXAMPLES[service], deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@dataclass
class Tally:
    examples: Counter[str] = field(default_factory=Counter)
    answers: Counter[tuple[str, str, str]] = field(default_factory=Counter)


@pytest.fixture(scope="module")
def doors(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Door]]:
    with opened_doors(tmp_path_factory.mktemp("fuzz-accepted"), NOW) as opened:
        yield opened


@pytest.fixture(scope="module")
def tally() -> Iterator[Tally]:
    seen = Tally()
    yield seen
    for service, examples in sorted(seen.examples.items()):
        answers = {f"{m} {outcome}": n for (s, m, outcome), n in sorted(seen.answers.items()) if s == service}
        accepted = sum(n for (s, _, o), n in seen.answers.items() if s == service and o == "accepted")
        refused = sum(n for (s, _, o), n in seen.answers.items() if s == service and o == "refused")
        print(f"\naccepted-request fuzz, {service}: {examples} examples, {accepted} commands accepted, "
              f"{refused} refused; {answers}")


@dataclass(frozen=True)
class Answer:
    code: grpc.StatusCode
    response: Message | None
    fields: tuple[str, ...] = ()
    rule: str | None = None
    message: str = ""


def _send(door: Door, service: str, method: str, request: Message, actor: Actor) -> Answer:
    described = descriptor_pool.Default().FindServiceByName(service).FindMethodByName(method)
    reply = message_factory.GetMessageClass(described.output_type)
    call = door.channel.unary_unary(f"/{service}/{method}", request_serializer=lambda m: m.SerializeToString(),
                                    response_deserializer=reply.FromString)
    try:
        return Answer(grpc.StatusCode.OK, call(request, metadata=actor_metadata(actor), timeout=30))
    except grpc.RpcError as exc:
        details = error_details(exc)
        return Answer(details.code, None, tuple(v.field for v in details.field_violations), details.rule,
                      details.message)


def _case_id(response: Message) -> str:
    fields = response.DESCRIPTOR.fields_by_name
    if "affected_case_ids" in fields:  # a data match: the case it acted on
        return str(response.affected_case_ids[0])
    return str(response.case_id if "case_id" in fields else response.case.case_id)


def _event_strings(door: Door, after: int) -> list[str]:
    pool = descriptor_pool.Default()
    out: list[str] = []
    for event in door.store.read_log(after=after, limit=100_000):
        message = message_factory.GetMessageClass(pool.FindMessageTypeByName(event.type)).FromString(event.payload)
        out += _strings(json.loads(json_format.MessageToJson(message)))
    return out


def _answer_strings(response: Message) -> list[str]:
    """Every string of an answer, the JSON payloads of its history entries opened up."""
    found: list[str] = []
    for value in _strings(json_format.MessageToDict(response, preserving_proto_field_name=True)):
        found.append(value)
        if value.startswith("{"):
            with contextlib.suppress(ValueError):
                found += _strings(json.loads(value))
    return found


def _run(door: Door, tally: Tally, service: str, step: Step, case_id: str) -> str | None:
    """Send one step; check what it stored or that it stored nothing. The case id, or None if refused."""
    request = step.request
    if case_id and "case_id" in request.DESCRIPTOR.fields_by_name:
        request.case_id = case_id
    head = door.store.head()
    answer = _send(door, SERVICE_NAMES[service], step.method, request, step.actor)
    outcome = "accepted" if answer.code is grpc.StatusCode.OK else "refused"
    tally.answers[(service, step.method, outcome)] += 1
    if step.refused is not None:
        code, named = step.refused
        assert answer.code.name == code, f"{step.method} answered {answer.code.name} ({answer.message}), not {code}"
        said = set(answer.fields) | {answer.rule}
        assert said & named, f"{step.method} refused naming {said}, not any of {named}: {answer.message}"
        assert door.store.head() == head, f"{step.method} refused but appended"
        return None
    assert answer.code is grpc.StatusCode.OK and answer.response is not None, (
        f"{step.method} refused a valid request: {answer.code.name} {answer.fields} {answer.rule} {answer.message}")
    stored = _event_strings(door, head[0])
    assert door.store.head() != head, f"{step.method} was accepted but recorded nothing"
    missing = [k for k in step.kept if k not in stored]
    assert not missing, f"{step.method} did not store {[ascii(k)[:60] for k in missing]} as sent, normalised"
    wrongly = [k for k in step.absent if k in stored]
    assert not wrongly, f"{step.method} recorded {wrongly} for a request that meets the rule"
    odd = [ascii(s)[:60] for s in stored if not unicodedata.is_normalized("NFC", s) or _hidden(s)]
    assert not odd, f"{step.method} stored text that is not clean NFC: {odd}"
    after = door.store.head()
    again = _send(door, SERVICE_NAMES[service], step.method, request, step.actor)
    assert again.code is grpc.StatusCode.OK and again.response == answer.response, "a retry answers the same"
    assert door.store.head() == after, f"a retry of {step.method} with its request id appended"
    found = _case_id(answer.response)
    read = _send(door, SERVICE_NAMES[service], "GetCase", _get_case(service, found), READERS[service])
    assert read.code is grpc.StatusCode.OK and read.response is not None, read.message
    shown = _answer_strings(read.response)
    unshown = [k for k in step.kept if k not in shown and k not in step.unshown]
    assert not unshown, f"GetCase does not show {[ascii(k)[:60] for k in unshown]} as stored"
    return found


def _get_case(service: str, case_id: str) -> Message:
    described = descriptor_pool.Default().FindServiceByName(SERVICE_NAMES[service]).FindMethodByName("GetCase")
    return message_factory.GetMessageClass(described.input_type)(case_id=case_id)


@pytest.mark.parametrize("service", sorted(JOURNEYS))
def test_valid_odd_requests_are_stored_normalised_or_refused_naming_the_field_issue_11(
        doors: dict[str, Door], tally: Tally, service: str) -> None:
    door = doors[service]

    @accepted(service)
    @given(journey=JOURNEYS[service]())
    def one(journey: Journey) -> None:
        tally.examples[service] += 1
        case_id = _run(door, tally, service, journey.start, "")
        for step in journey.moves:
            if case_id is None:
                break
            case_id = _run(door, tally, service, replace(step, request=_copy(step.request)), case_id)
        verified = verify_store(door.store)
        assert verified.ok, f"the hash chains do not verify: {verified.problem}"

    one()


def _copy(message: Message) -> Message:
    copy = type(message)()
    copy.CopyFrom(message)
    return copy
