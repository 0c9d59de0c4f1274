"""The relief service's payload codec: its domain events ↔ their stored protobuf messages
(proto/tongban/relief/v1/events.proto). The mapping is the kit's; every event is at version 1."""

from __future__ import annotations

from services.common.kit.codec import PayloadCodec
from services.relief.domain.events import ALL_EVENTS
from tongban.relief.v1 import events_pb2

CODEC = PayloadCodec(events_pb2, ALL_EVENTS)
