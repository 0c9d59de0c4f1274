"""Text hygiene (services/common/text.py), the request walker (grpc_context/hygiene.py) and the
bounded statuses (grpc_context/status.py), without a server."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.rpc import error_details_pb2

import tongban
from services.common.errors import FieldViolation, InvalidArgument, NotFound, WrongOwner
from services.common.grpc_context.hygiene import Refused, admitted, guarded
from services.common.grpc_context.status import status_for_error
from services.common.text import TextKind, clean
from tongban.common.v1 import validation_pb2
from tongban.marriage.v1 import marriage_service_pb2 as api

# --- text ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["阿依古丽·买买提", "𠮷祥", "〇明", "Anna Lǚ", "Zoë Núñez", "欧阳 娜娜", "䶮"])
def test_names_of_every_people_are_accepted(name: str) -> None:
    assert clean(name, TextKind.NAME) == (name, [])


@pytest.mark.parametrize("dot", ["・", "･", "•", "‧", "∙", "⋅"])
def test_the_middle_dots_look_alikes_are_stored_as_u00b7(dot: str) -> None:
    assert clean(f"阿依古丽{dot}买买提", TextKind.NAME) == ("阿依古丽·买买提", [])


@pytest.mark.parametrize("name", ["王芳1", "王芳.", "王-芳", "王\u3000芳", "王\u0301", "王\ue000"])
def test_a_name_refuses_anything_else(name: str) -> None:
    _, problems = clean(name, TextKind.NAME)
    assert len(problems) == 1 and problems[0].startswith("a name holds only"), problems


@pytest.mark.parametrize("kind", list(TextKind))
@pytest.mark.parametrize(("char", "why"), [
    ("\x00", "control"), ("\x1b", "control"), ("\x7f", "control"), ("\x85", "control"), ("\x9f", "control"),
    ("\u202e", "bidirectional"), ("\u2066", "bidirectional"), ("\u200e", "bidirectional"),
    ("\u061c", "bidirectional"), ("\u200b", "zero-width"), ("\u200d", "zero-width"), ("\u2060", "zero-width"),
    ("\ufeff", "zero-width"), ("\u00ad", "format"), ("\u2028", "separator"), ("\ufdd0", "noncharacter"),
])
def test_hidden_characters_are_refused_in_every_kind(kind: TextKind, char: str, why: str) -> None:
    _, problems = clean(f"ab{char}cd", kind)
    assert len(problems) == 1 and why in problems[0], problems
    assert f"U+{ord(char):04X}" in problems[0]


def test_free_text_keeps_lines_and_tabs_and_only_it() -> None:
    assert clean("一\r\n二\r三\t四", TextKind.FREE_TEXT) == ("一\n二\n三\t四", [])
    assert clean("一\n二", TextKind.LINE)[1] != []
    assert clean("宁夏回族自治区高级人民法院（民一庭）\u3000第2号", TextKind.LINE)[1] == []


def test_text_is_nfc_normalised_before_it_is_measured() -> None:
    assert clean("Jose\u0301", TextKind.NAME, 4) == ("José", [])
    assert clean("\uf900", TextKind.LINE) == ("\u8c48", [])  # a compatibility ideograph


def test_codes_are_ascii_and_lose_the_spaces_around_them() -> None:
    assert clean(" 640104-MRO-01 ", TextKind.CODE) == ("640104-MRO-01", [])
    assert clean("1700000000000000:marriage-640000-ab_c.d", TextKind.CODE)[1] == []
    assert clean("640104 MRO", TextKind.CODE)[1] != []
    assert clean("６４０１０４", TextKind.CODE)[1] != []  # full-width digits


def test_length_has_a_default_per_kind() -> None:
    assert clean("a" * 256, TextKind.LINE)[1] == []
    assert clean("a" * 257, TextKind.LINE)[1] == ["at most 256 characters (got 257)"]
    assert clean("王" * 101, TextKind.NAME)[1] == ["at most 100 characters (got 101)"]


# --- the walker ------------------------------------------------------------------------------


def test_every_problem_is_named_by_its_path_and_nothing_is_normalised_half() -> None:
    request = api.RegisterMarriageRequest(
        party_a=api.PartyInput(citizen_id="x" * 33, name="王\u202e芳"),
        party_b=api.PartyInput(citizen_id="11010519491231002X", name="Jose\u0301"),
    )
    with pytest.raises(InvalidArgument) as raised:
        admitted(request)
    assert [v.field for v in raised.value.violations] == ["party_a.citizen_id", "party_a.name"]


def test_an_admitted_request_is_normalised_in_place_and_loses_unknown_fields() -> None:
    data = api.GetCaseRequest(case_id=" marriage-640000-1 ").SerializeToString() + b"\xa0\x06\x01"  # field 100
    request = guarded(api.GetCaseRequest.FromString)(data)  # type: ignore[misc]
    assert admitted(request) is request
    assert request.case_id == "marriage-640000-1"
    assert request.SerializeToString() == api.GetCaseRequest(case_id="marriage-640000-1").SerializeToString()


def test_non_finite_numbers_are_refused() -> None:
    with pytest.raises(InvalidArgument) as raised:
        admitted(api.RegisterMarriageRequest(wait_seconds=float("nan")))
    assert [v.field for v in raised.value.violations] == ["wait_seconds"]


@pytest.mark.parametrize(("year", "month", "day", "why"), [
    (1, 1, 1, "must not be before 1900-01-01"),  # the judgment of issue 11 that voided a marriage of today
    (1899, 12, 31, "must not be before 1900-01-01"),
    (2025, 2, 29, "not a real calendar date (2025-02-29)"),
    (2026, 13, 1, "not a real calendar date (2026-13-01)"),
    (2026, 0, 9, "not a real calendar date (2026-00-09)"),
])
def test_a_date_is_a_real_day_from_1900(year: int, month: int, day: int, why: str) -> None:
    """Issue 11: no date before 1900; an impossible day is the caller's error, not INTERNAL."""
    with pytest.raises(InvalidArgument) as raised:
        admitted(api.RecordCourtJudgmentRequest(judgment_date={"year": year, "month": month, "day": day}))
    assert [(v.field, v.description) for v in raised.value.violations] == [("judgment_date", why)]


def test_a_date_on_the_bounds_is_kept_and_an_empty_one_is_no_date() -> None:
    for day in ({"year": 1900, "month": 1, "day": 1}, {"year": 2024, "month": 2, "day": 29}):
        kept = admitted(api.RecordCourtJudgmentRequest(judgment_date=day))
        assert kept.HasField("judgment_date") and kept.judgment_date.year == day["year"]
    empty = admitted(api.RecordCourtJudgmentRequest(judgment_date={}))
    assert not empty.HasField("judgment_date"), "the handler sees it unset and names it required"


def test_bytes_that_do_not_decode_become_a_refusal_not_an_exception() -> None:
    refused = guarded(api.GetCaseRequest.FromString)(b"\x0a\x02\xff\xfe")  # type: ignore[misc]
    assert isinstance(refused, Refused)
    assert "UTF-8" in refused.error.violations[0].description
    with pytest.raises(InvalidArgument):
        admitted(refused)


def _service_modules() -> Iterator[object]:
    for info in pkgutil.walk_packages(tongban.__path__, "tongban."):
        if info.name.endswith("_service_pb2"):
            yield importlib.import_module(info.name)


def _reachable(message: Descriptor, seen: set[str]) -> Iterator[Descriptor]:
    if message.full_name in seen or message.full_name.startswith("google.protobuf."):
        return
    seen.add(message.full_name)
    yield message
    for field in message.fields:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            yield from _reachable(field.message_type, seen)


def test_every_text_bytes_and_repeated_field_of_every_request_declares_its_rules() -> None:
    seen: set[str] = set()
    unannotated = []
    for module in _service_modules():
        for service in module.DESCRIPTOR.services_by_name.values():  # type: ignore[attr-defined]
            for method in service.methods:
                for message in _reachable(method.input_type, seen):
                    for field in message.fields:
                        needs = field.is_repeated or field.type in (FieldDescriptor.TYPE_STRING,
                                                                    FieldDescriptor.TYPE_BYTES)
                        if needs and not field.GetOptions().HasExtension(validation_pb2.rules):
                            unannotated.append(field.full_name)
    assert "tongban.marriage.v1.PartyInput" in seen and "tongban.handoff.v1.TypedMessage" in seen
    assert not unannotated, f"declare (tongban.common.v1.rules) on: {unannotated}"


# --- bounded answers -------------------------------------------------------------------------


def test_an_answer_naming_what_the_caller_sent_stays_small() -> None:
    for error in (NotFound("case", "x" * 20_000), WrongOwner("王" * 20_000, "510000"),
                  InvalidArgument(FieldViolation(f"f{i}" * 50, "描述" * 500) for i in range(1000))):
        status = status_for_error(error)
        assert status.ByteSize() < 4500, type(error).__name__
        assert len(status.message.encode()) <= 600


def test_violations_left_out_are_counted() -> None:
    status = status_for_error(InvalidArgument(FieldViolation(f"field_{i}", "required") for i in range(500)))
    bad_request = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad_request)
    shown = len(bad_request.field_violations) - 1
    assert 50 < shown < 500
    assert bad_request.field_violations[-1].description == f"and {500 - shown} more"
    assert status.message.endswith("…")
