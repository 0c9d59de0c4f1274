"""The hash chains (architecture invariant 3).

Per stream:  hash        = SHA-256("tongban.event.v1\\0" || prev_hash || canonical_bytes(event))
Per store:   global_hash = SHA-256("tongban.global.v1\\0" || prev_global_hash || position (8 bytes, big
             endian) || hash)

The first event of a stream, and the first of a store, chain to 32 zero bytes. canonical_bytes is
compact JSON with sorted keys over every provenance field and the payload (base64), so an auditor
can recompute it with any JSON library; it deliberately excludes the store-assigned position and
both hashes."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from services.common.events import RecordedEvent, to_micros

GENESIS = bytes(32)
_EVENT_DOMAIN = b"tongban.event.v1\x00"
_GLOBAL_DOMAIN = b"tongban.global.v1\x00"


def canonical_document(event: RecordedEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "stream_id": event.stream_id,
        "stream_type": event.stream_type,
        "version": event.version,
        "type": event.type,
        "schema_version": event.schema_version,
        "payload": base64.b64encode(event.payload).decode("ascii"),
        "occurred_at_us": to_micros(event.occurred_at),
        "recorded_at_us": to_micros(event.recorded_at),
        "region": event.region,
        "service": event.service,
        "actor": {
            "kind": event.actor.kind,
            "clerk_id": event.actor.clerk_id,
            "office_code": event.actor.office_code,
            "region": event.actor.region,
            "role": event.actor.role,
        },
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "trace": {"traceparent": event.trace.traceparent, "tracestate": event.trace.tracestate},
    }


def canonical_bytes(event: RecordedEvent) -> bytes:
    return json.dumps(
        canonical_document(event), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def event_hash(prev_hash: bytes, event: RecordedEvent) -> bytes:
    return hashlib.sha256(_EVENT_DOMAIN + prev_hash + canonical_bytes(event)).digest()


def global_hash(prev_global_hash: bytes, position: int, hash_: bytes) -> bytes:
    return hashlib.sha256(_GLOBAL_DOMAIN + prev_global_hash + position.to_bytes(8, "big") + hash_).digest()
