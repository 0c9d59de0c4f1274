"""Hostile input through the real front door (architecture invariant 7): what a fuzzer sent the
marriage service is answered INVALID_ARGUMENT naming the field by the gRPC seam every service
shares, and nothing reaches the store; names of every people are accepted, and stored normalised."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2

from tests.integration.marriage_front_door import FrontDoor, front_door, registration
from tests.unit.marriage.people import man, woman
from tongban.marriage.v1 import events_pb2
from tongban.marriage.v1 import marriage_service_pb2 as api


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FrontDoor]:
    with front_door(tmp_path_factory.mktemp("hygiene")) as door:
        yield door


def _refused(door: FrontDoor, method: str, request: object) -> list[str]:
    """The fields an INVALID_ARGUMENT answer names; asserts nothing was appended."""
    head = door.store.head()
    refusal = door.refusal(method, request)
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT, refusal
    assert door.store.head() == head, "nothing was appended"
    return [v.field for v in refusal.field_violations]


# --- bytes that are not a request ------------------------------------------------------------


@pytest.mark.parametrize("data", [b"\xff\xff\xff\xff", b"\x0a\x05ab", b"\x08"],
                         ids=["garbage", "truncated", "no-value"])
def test_bytes_that_do_not_decode_answer_invalid_argument(door: FrontDoor, data: bytes) -> None:
    head = door.store.head()
    with pytest.raises(grpc.RpcError) as raised:
        door.raw("RegisterMarriage", data)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid request" in raised.value.details()
    assert door.store.head() == head


def test_a_string_that_is_not_utf8_answers_invalid_argument(door: FrontDoor) -> None:
    # GetCaseRequest.case_id (field 1, length-delimited) holding bytes that are no UTF-8.
    with pytest.raises(grpc.RpcError) as raised:
        door.raw("GetCase", b"\x0a\x03\xff\xfe\xc0")
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "UTF-8" in raised.value.details()


def test_health_probes_get_the_same_answer(door: FrontDoor) -> None:
    probe = door.channel.unary_unary("/grpc.health.v1.Health/Check")
    with pytest.raises(grpc.RpcError) as raised:
        probe(b"\x0a\x02\xff\xfe", timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    answer = health_pb2.HealthCheckResponse.FromString(probe(b"", timeout=10))
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


# --- characters that hide or rearrange text --------------------------------------------------

HIDDEN = {
    "DEL": "\x7f",
    "C1 (NEL)": "\x85",
    "C1 (CSI)": "\x9b",
    "NUL": "\x00",
    "ESC": "\x1b",
    "RLO": "\u202e",
    "LRI": "\u2066",
    "RLM": "\u200f",
    "ALM": "\u061c",
    "ZWSP": "\u200b",
    "ZWJ": "\u200d",
    "WJ": "\u2060",
    "BOM": "\ufeff",
}


@pytest.mark.parametrize("char", HIDDEN.values(), ids=HIDDEN.keys())
def test_hidden_characters_in_a_name_are_refused(door: FrontDoor, char: str) -> None:
    request = registration(man(), woman(), name_b=f"王{char}芳")
    assert _refused(door, "RegisterMarriage", request) == ["party_b.name"]


@pytest.mark.parametrize("char", HIDDEN.values(), ids=HIDDEN.keys())
def test_hidden_characters_in_free_text_are_refused(door: FrontDoor, char: str) -> None:
    request = api.QueryMaritalStatusRequest(citizen_id=man(), reason=f"诉讼{char}需要", requesting_body=f"法院{char}")
    assert _refused(door, "QueryMaritalStatus", request) == ["reason", "requesting_body"]


def test_line_breaks_are_free_text_only(door: FrontDoor) -> None:
    request = api.QueryMaritalStatusRequest(citizen_id=man(), reason="第一行\n第二行\t附注",
                                            requesting_body="第一行\n第二行")
    assert _refused(door, "QueryMaritalStatus", request) == ["requesting_body"]


def test_nested_fields_are_named_by_their_path(door: FrontDoor) -> None:
    request = api.ReceiveDivorceRequest(
        marriage_case_id="marriage-640000-0123456789abcdef",
        spouse_a=events_pb2.Spouse(citizen_id=man(), name="张三\u202e"),
        spouse_b=events_pb2.Spouse(citizen_id=woman(), name="李四"),
        agreement=events_pb2.DivorceAgreement(signed_by_both=True, intention="自愿\x1b[31m", children_arrangement="无",
                                              property_arrangement="无", debt_arrangement="无"),
    )
    assert _refused(door, "ReceiveDivorce", request) == ["spouse_a.name", "agreement.intention"]


@pytest.mark.parametrize("name", ["王芳1", "王芳!", "Ivan<script>", "王\u3000芳"])
def test_a_name_holds_only_letters_spaces_and_the_middle_dot(door: FrontDoor, name: str) -> None:
    assert _refused(door, "RegisterMarriage", registration(man(), woman(), name_a=name)) == ["party_a.name"]


# --- lengths ---------------------------------------------------------------------------------


def test_a_megabyte_office_code_is_refused(door: FrontDoor) -> None:
    refusal = door.refusal("ListCases", api.ListCasesRequest(office_code="6" * 1_000_000))
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in refusal.field_violations] == [
        ("office_code", "at most 64 characters (got 1000000)")]


def test_a_20kb_case_id_is_too_long_not_too_big_to_answer(door: FrontDoor) -> None:
    refusal = door.refusal("GetCase", api.GetCaseRequest(case_id="marriage-640000-" + "a" * 20_000))
    assert refusal.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in refusal.field_violations] == ["case_id"]
    assert len(refusal.message) < 200


def test_a_case_id_within_bounds_is_echoed_bounded(door: FrontDoor) -> None:
    refusal = door.refusal("GetCase", api.GetCaseRequest(case_id="marriage-640000-" + "b" * 180))
    assert refusal.code == grpc.StatusCode.NOT_FOUND
    assert refusal.resource is not None and len(refusal.resource[1].encode()) <= 100
    assert refusal.resource[1].endswith("…")


def test_an_over_long_name_is_refused(door: FrontDoor) -> None:
    assert _refused(door, "RegisterMarriage", registration(man(), woman(), name_a="王" * 101)) == ["party_a.name"]


# --- what is accepted, and how it is stored -------------------------------------------------


def _registered_names(door: FrontDoor, request: api.RegisterMarriageRequest) -> tuple[str, str, str, str]:
    """The names the answer shows and the names the stored event holds."""
    case = door.call("RegisterMarriage", request).case
    stored = [event for event in door.store.read_stream(case.case_id) if event.type.endswith("ApplicationReceived")]
    received = events_pb2.MarriageApplicationReceived.FromString(stored[0].payload)
    return (case.marriage.party_a.name, case.marriage.party_b.name, received.party_a.name, received.party_b.name)


def test_minority_names_with_the_middle_dot_and_rare_characters_are_accepted(door: FrontDoor) -> None:
    request = registration(man(), woman(), name_a="买买提·吐尔逊", name_b="阿依古丽·买买提")
    assert _registered_names(door, request) == ("买买提·吐尔逊", "阿依古丽·买买提") * 2
    rare = registration(man(), woman(), name_a="𠮷祥", name_b="Anna Lǚ")  # U+20BB7, Extension B
    assert _registered_names(door, rare) == ("𠮷祥", "Anna Lǚ") * 2


def test_text_is_stored_nfc_normalised_and_the_middle_dot_canonical(door: FrontDoor) -> None:
    decomposed = "Jose\u0301 Lu\u0308"  # "José Lü" as combining marks
    request = registration(man(), woman(), name_a=decomposed, name_b="阿依古丽\u2022买买提")
    assert _registered_names(door, request) == ("José Lü", "阿依古丽·买买提") * 2
