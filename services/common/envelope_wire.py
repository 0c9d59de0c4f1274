"""An event's envelope bytes (`EventEnvelope`, proto/tongban/common/v1/envelope.proto) written
directly in protobuf's wire format: the very bytes `to_envelope().SerializeToString(deterministic=True)`
gives, at a fraction of the cost.

Why: the relay publishes every event of the log, and building the envelope as nested protobuf
messages (five sub-messages, two Timestamps from datetimes) was the largest share of its time after
the broker's own (issue 15's relay profile). The layout below follows protobuf's encoding rules for
proto3: fields in field-number order, a scalar or string left out when it holds its default (0,
""), a sub-message written whenever it is set (as `to_envelope` always sets them, even when empty).
tests/unit/test_envelope_wire.py checks the bytes against protobuf's own for varied events, so a
field added to the proto without being added here fails there.

`stored_envelope_bytes` writes the same bytes from a stored row (the `events` columns in table
order), without the RecordedEvent in between: decoding the row into one and its timestamps into
datetimes cost the relay as much as writing the envelope (issue 15's second relay profile)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # events.py writes its envelopes with this module
    from services.common.events import RecordedEvent

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KINDS = {"clerk": 1, "system": 2, "auditor": 3}  # tongban.common.v1.Actor.Kind without KIND_


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64: two's complement, ten bytes
    out = []
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


_SMALL = [_varint(n) for n in range(1 << 14)]  # lengths and values under 16384: looked up


def _len(value: int) -> bytes:
    return _SMALL[value] if 0 <= value < 16384 else _varint(value)


def _text(tag: bytes, value: str) -> bytes:
    if not value:
        return b""
    data = value.encode()
    return tag + _len(len(data)) + data


def _blob(tag: bytes, value: bytes) -> bytes:
    return tag + _len(len(value)) + value if value else b""


def _number(tag: bytes, value: int) -> bytes:
    return tag + _len(value) if value else b""


def _message(tag: bytes, body: bytes) -> bytes:
    return tag + _len(len(body)) + body


_T = {n: _tag(n, 2) for n in (12, 20, 21)}  # the tags written inline below are spelt out as bytes
_ACTORS: dict[tuple[str, str, str, str, str], bytes] = {}


def _actor(kind: str, clerk_id: str, office_code: str, region: str, role: str) -> bytes:
    key = (kind, clerk_id, office_code, region, role)
    found = _ACTORS.get(key)
    if found is None:
        body = (_number(b"\x08", _KINDS[kind]) + _text(b"\x12", clerk_id) + _text(b"\x1a", office_code)
                + _message(b"\x22", _text(b"\x0a", region)) + _text(b"\x2a", role))
        found = _message(_T[12], body)
        if len(_ACTORS) < 10_000:  # a store has few clerks; the cache stays small regardless
            _ACTORS[key] = found
    return found


def _stamp(tag: bytes, instant: datetime) -> bytes:
    """A Timestamp field. Cached: an append's events share one recorded_at, and a burst one second."""
    found = _STAMPS.get(instant)
    if found is None:
        delta = instant - _EPOCH
        seconds, nanos = delta.days * 86_400 + delta.seconds, delta.microseconds * 1000
        body = (b"\x08" + _varint(seconds) if seconds else b"") + (b"\x10" + _varint(nanos) if nanos else b"")
        found = _len(len(body)) + body
        if len(_STAMPS) >= 4096:
            _STAMPS.clear()
        _STAMPS[instant] = found
    return tag + found


_STAMPS: dict[datetime, bytes] = {}


def envelope_bytes(e: RecordedEvent) -> bytes:
    """`e.to_envelope().SerializeToString(deterministic=True)`, written directly. Inlined (one call
    per event, not one per field): this runs for every event the relay publishes. Lengths under
    16,384 (every field but an unusually large payload) come from the _SMALL table."""
    a, t, S, v = e.actor, e.trace, _SMALL, _varint
    out: list[bytes] = []
    add = out.append
    for tag, value in ((b"\x0a", e.event_id), (b"\x12", e.stream_id), (b"\x1a", e.stream_type)):
        if value:
            data = value.encode()
            k = len(data)
            add(tag + (S[k] if k < 16384 else v(k)) + data)
    k = e.version
    if k:
        add(b"\x20" + (S[k] if k < 16384 else v(k)))
    if e.type:
        data = e.type.encode()
        k = len(data)
        add(b"\x2a" + (S[k] if k < 16384 else v(k)) + data)
    k = e.schema_version
    if k:
        add(b"\x30" + (S[k] if k < 16384 else v(k)))
    data = e.payload
    if data:
        k = len(data)
        add(b"\x3a" + (S[k] if k < 16384 else v(k)) + data)
    add(_stamp(b"\x42", e.occurred_at))
    add(_stamp(b"\x4a", e.recorded_at))
    region = _text(b"\x0a", e.region)
    add(b"\x52" + S[len(region)] + region if len(region) < 16384 else b"\x52" + v(len(region)) + region)
    if e.service:
        data = e.service.encode()
        k = len(data)
        add(b"\x5a" + (S[k] if k < 16384 else v(k)) + data)
    add(_actor(a.kind, a.clerk_id, a.office_code, a.region, a.role))
    for tag, value in ((b"\x6a", e.correlation_id), (b"\x72", e.causation_id)):
        if value:
            data = value.encode()
            k = len(data)
            add(tag + (S[k] if k < 16384 else v(k)) + data)
    trace = _text(b"\x0a", t.traceparent) + _text(b"\x12", t.tracestate)
    k = len(trace)
    add(b"\x7a" + (S[k] if k < 16384 else v(k)) + trace)
    for tag, data in ((b"\x82\x01", e.prev_hash), (b"\x8a\x01", e.hash)):
        if data:
            k = len(data)
            add(tag + (S[k] if k < 16384 else v(k)) + data)
    if e.position:
        add(b"\x90\x01" + v(e.position))
    data = e.global_hash
    if data:
        k = len(data)
        add(b"\x9a\x01" + (S[k] if k < 16384 else v(k)) + data)
    return b"".join(out)


def signature_fields(signature: bytes, key_id: str) -> bytes:
    """Fields 20 and 21 (signature, signing key id): the last two, so appended to `envelope_bytes`
    they give the signed envelope's deterministic bytes."""
    return _blob(_T[20], signature) + _text(_T[21], key_id)


_STAMPS_US: dict[int, bytes] = {}
_PROVENANCE: dict[tuple[str, ...], bytes] = {}


def _stamp_us(micros: int) -> bytes:
    """A Timestamp's length and body from stored microseconds (what `_stamp` writes for the datetime)."""
    found = _STAMPS_US.get(micros)
    if found is None:
        seconds, rest = divmod(micros, 1_000_000)  # floor, as timedelta splits a negative instant
        body = (b"\x08" + _varint(seconds) if seconds else b"") + (b"\x10" + _varint(rest * 1000) if rest else b"")
        found = _len(len(body)) + body
        if len(_STAMPS_US) >= 4096:
            _STAMPS_US.clear()
        _STAMPS_US[micros] = found
    return found


def _provenance(key: tuple[str, str, str, str, str, str, str]) -> bytes:
    """Fields 10-12 (region, service, actor), adjacent and shared by a region's events: written once."""
    found = _PROVENANCE.get(key)
    if found is None:
        region, service, kind, clerk_id, office_code, actor_region, role = key
        found = (_message(b"\x52", _text(b"\x0a", region)) + _text(b"\x5a", service)
                 + _actor(kind, clerk_id, office_code, actor_region, role))
        if len(_PROVENANCE) < 10_000:
            _PROVENANCE[key] = found
    return found


def stored_envelope_bytes(row: Sequence[Any]) -> bytes:
    """`envelope_bytes` of the event stored as `row` (every `events` column, table order; as
    EventStore.read_log_rows gives it). Inlined like `envelope_bytes`."""
    (position, event_id, stream_id, stream_type, version, type_, schema_version, payload, occurred_us,
     recorded_us, region, service, a_kind, a_clerk, a_office, a_region, a_role, correlation_id,
     causation_id, traceparent, tracestate, prev_hash, hash_, global_hash) = row
    S, v = _SMALL, _varint
    out: list[bytes] = []
    add = out.append
    for tag, value in ((b"\x0a", event_id), (b"\x12", stream_id), (b"\x1a", stream_type)):
        if value:
            data = value.encode()
            k = len(data)
            add(tag + (S[k] if k < 16384 else v(k)) + data)
    if version:
        add(b"\x20" + (S[version] if 0 < version < 16384 else v(version)))
    if type_:
        data = type_.encode()
        k = len(data)
        add(b"\x2a" + (S[k] if k < 16384 else v(k)) + data)
    if schema_version:
        add(b"\x30" + (S[schema_version] if 0 < schema_version < 16384 else v(schema_version)))
    if payload:
        k = len(payload)
        add(b"\x3a" + (S[k] if k < 16384 else v(k)) + payload)
    add(b"\x42" + _stamp_us(occurred_us))
    add(b"\x4a" + _stamp_us(recorded_us))
    add(_provenance((region, service, a_kind, a_clerk, a_office, a_region, a_role)))
    for tag, value in ((b"\x6a", correlation_id), (b"\x72", causation_id)):
        if value:
            data = value.encode()
            k = len(data)
            add(tag + (S[k] if k < 16384 else v(k)) + data)
    trace = _text(b"\x0a", traceparent) + _text(b"\x12", tracestate)
    k = len(trace)
    add(b"\x7a" + (S[k] if k < 16384 else v(k)) + trace)
    for tag, data in ((b"\x82\x01", prev_hash), (b"\x8a\x01", hash_)):
        if data:
            k = len(data)
            add(tag + (S[k] if k < 16384 else v(k)) + data)
    if position:
        add(b"\x90\x01" + (S[position] if 0 < position < 16384 else v(position)))
    if global_hash:
        k = len(global_hash)
        add(b"\x9a\x01" + (S[k] if k < 16384 else v(k)) + global_hash)
    return b"".join(out)
