"""Decoded domain events kept by their chain hash (PayloadCodec.decode, issue 15): a case loaded by
each decision that follows it decodes its events once. Sharing one decoded event between loads is
only safe while domain events are frozen and hold nothing but values; that is checked here for
every catalogued service's codec."""

from __future__ import annotations

import dataclasses
import importlib
import typing
from datetime import date
from enum import Enum

import pytest

from services.catalogue import SERVICES
from services.common.events import RecordedEvent
from services.common.kit import codec as codec_module
from services.common.kit.codec import PayloadCodec, unwrap_optional
from services.marriage.adapters.payloads import CODEC as MARRIAGE
from services.marriage.domain.events import CertificateNumberIssued
from tests.unit.test_store_decode import _recorded

_VALUES = (str, int, bool, float, bytes, date)


def _issued(n: int) -> CertificateNumberIssued:
    return CertificateNumberIssued(f"J640104-2026-{n:06d}", "640104-MRO-01", 2026, n, "marriage", f"case-{n}")


def _codec() -> PayloadCodec:
    return PayloadCodec(importlib.import_module("tongban.marriage.v1.events_pb2"), [CertificateNumberIssued])


def _stored(codec: PayloadCodec, n: int) -> RecordedEvent:
    """Event n of a counter stream as the store gives it back: its own payload and chain hash."""
    return dataclasses.replace(_recorded(n), type=codec.type_name(CertificateNumberIssued),
                               payload=codec.to_message(_issued(n)).SerializeToString())


def test_the_same_stored_event_is_decoded_once_and_another_on_its_own() -> None:
    codec = _codec()
    first, second = _stored(codec, 1), _stored(codec, 2)
    assert codec.decode(first) == _issued(1)
    assert codec.decode(first) is codec.decode(first), "kept by its hash"
    assert codec.decode(second) == _issued(2), "another event is not mistaken for it"


def test_the_kept_events_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec_module, "DECODED_KEPT", 3)
    codec = _codec()
    stored = [_stored(codec, n) for n in range(1, 6)]
    assert [codec.decode(e) for e in stored] == [_issued(n) for n in range(1, 6)]
    assert len(codec._decoded) <= 3


def _value_only(hint: object, seen: set[type]) -> bool:
    target, _ = unwrap_optional(hint)
    if target in _VALUES or (isinstance(target, type) and issubclass(target, Enum)):
        return True
    if isinstance(target, type) and dataclasses.is_dataclass(target):
        if target in seen:
            return True
        seen.add(target)
        params = getattr(target, "__dataclass_params__", None)
        hints = typing.get_type_hints(target)
        fields_ok = all(_value_only(hints[f.name], seen) for f in dataclasses.fields(target))
        return bool(params and params.frozen) and fields_ok
    return False


@dataclasses.dataclass(frozen=True)
class _Listed:
    names: list[str]


@dataclasses.dataclass
class _Open:
    name: str


def test_every_catalogued_domain_event_is_frozen_and_holds_only_values() -> None:
    assert not _value_only(_Listed, set()) and not _value_only(_Open, set()), "the check can fail"
    codecs = [MARRIAGE]
    for entry in SERVICES:
        payloads = importlib.import_module(f"{entry.package}.adapters.payloads")
        codecs.append(payloads.CODEC)
    for codec in codecs:
        for cls in codec.event_classes:
            assert _value_only(cls, set()), f"{cls.__module__}.{cls.__name__} is not frozen values only"
