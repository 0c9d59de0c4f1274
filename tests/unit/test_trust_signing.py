"""Signed messages on the national exchange (architecture invariant 8): a region's envelope
verifies with a key of that region only, any changed byte is caught, keys rotate without breaking
what the old key signed, and only the registry's key makes a decision."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.common.consumer import rejected_messages
from services.common.events import Actor, RecordedEvent, TraceContext
from services.common.hashing import GENESIS, event_hash
from services.common.registry.worker import decision_message, forward, take
from services.common.registry.worker.trust import WorkerTrust
from services.common.trust.keys import (
    REGISTRY,
    KeyDirectory,
    RegionKey,
    ensure_key_in,
    ensure_region_key,
    keys_dir,
    provision_development_keys,
    rotate_key,
)
from services.common.trust.signing import (
    DECISION_PURPOSE,
    INPUT_PURPOSE,
    EnvelopeSigner,
    envelope_problem,
    message_problem,
    parse_envelope,
    sign_message,
    unsigned_bytes,
)
from tongban.registry.v1 import registry_pb2

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NINGXIA, SICHUAN = "640000", "510000"
PERSON = "640104199001010018"


def stored(message: registry_pb2.ClaimRequested | registry_pb2.ClaimReleased, region: str = NINGXIA,
           position: int = 1) -> RecordedEvent:
    draft = RecordedEvent(
        event_id=f"e-{position}", stream_id="registry-claim-c1", stream_type="registry.Claim", version=1,
        type=message.DESCRIPTOR.full_name, schema_version=1, payload=message.SerializeToString(deterministic=True),
        occurred_at=NOW, recorded_at=NOW, region=region, service="marriage", actor=Actor.system(region, "test"),
        correlation_id="corr-1", causation_id="", trace=TraceContext(), prev_hash=GENESIS, hash=b"",
        position=position, global_hash=bytes(32))
    return replace(draft, hash=event_hash(GENESIS, draft))


def claim(region: str = NINGXIA) -> registry_pb2.ClaimRequested:
    return registry_pb2.ClaimRequested(claim_id="c1", citizen_id=PERSON, kind=registry_pb2.CLAIM_KIND_LIVE_MARRIAGE,
                                       case_id="marriage-1", region=region, service="marriage")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    provision_development_keys(tmp_path, (NINGXIA, SICHUAN))
    return tmp_path


def test_a_regions_envelope_verifies_with_its_own_key_and_the_store_bytes_come_back_unsigned(data: Path) -> None:
    event = stored(claim())
    raw = EnvelopeSigner(ensure_region_key(data, NINGXIA)).sign(event)
    keys = KeyDirectory(data)
    assert envelope_problem(parse_envelope(raw), keys) is None
    assert unsigned_bytes(raw) == event.to_bytes(), "what the auditor compares with the store"


def test_unsigned_foreign_keyed_other_regions_and_altered_envelopes_are_refused_with_their_reason(data: Path) -> None:
    """Invariant 8: a region may only speak for itself; the signature covers the hash (every
    provenance field and the payload), the position and the global hash."""
    keys = KeyDirectory(data)
    event = stored(claim())
    assert "unsigned" in str(envelope_problem(parse_envelope(event.to_bytes()), keys))
    stray = EnvelopeSigner(RegionKey.generate(NINGXIA)).sign(event)
    assert "not a trusted key of region 640000" in str(envelope_problem(parse_envelope(stray), keys))
    # Sichuan's genuine key, on an envelope that says it is Ningxia's.
    sichuan = EnvelopeSigner(ensure_region_key(data, SICHUAN)).envelope(replace(event, region=SICHUAN))
    sichuan.region.code = NINGXIA
    assert "belongs to region 510000, not to 640000" in str(
        envelope_problem(parse_envelope(sichuan.SerializeToString()), keys))
    genuine = EnvelopeSigner(ensure_region_key(data, NINGXIA)).envelope(event)
    for field, value in (("payload", genuine.payload + b"\x3a\x00"), ("position", 99), ("global_hash", bytes(32 * [1])),
                         ("signing_key_id", f"{NINGXIA}/0000000000000000")):
        altered = type(genuine)()
        altered.CopyFrom(genuine)
        setattr(altered, field, value)
        assert envelope_problem(parse_envelope(altered.SerializeToString()), keys) is not None, field
    with pytest.raises(ValueError, match="cannot sign an event of 640000"):
        EnvelopeSigner(ensure_region_key(data, SICHUAN)).sign(event)


def test_a_rotated_key_signs_from_now_on_and_what_the_old_one_signed_still_verifies(data: Path) -> None:
    keys = KeyDirectory(data)
    event = stored(claim())
    running = EnvelopeSigner(ensure_region_key(data, NINGXIA), directory=keys_dir(data, NINGXIA), recheck_after=0)
    old = running.sign(event)
    new_key = rotate_key(keys_dir(data, NINGXIA), NINGXIA)
    assert parse_envelope(running.sign(event)).key_id == new_key.key_id, "a running relay follows the rotation"
    assert ensure_region_key(data, NINGXIA).key_id == new_key.key_id != parse_envelope(old).key_id
    new = EnvelopeSigner(new_key).sign(event)
    assert envelope_problem(parse_envelope(new), keys) is None, "an unknown key id reads the directory again"
    assert envelope_problem(parse_envelope(old), keys) is None, "the retired public key stays trusted"
    (keys_dir(data, NINGXIA) / f"{NINGXIA}-{parse_envelope(old).key_id.split('/')[1]}.pub").unlink()
    assert "not a trusted key" in str(envelope_problem(parse_envelope(old), KeyDirectory(data))), \
        "removing its .pub retires the old key for good"


def test_only_the_registrys_key_makes_a_decision(data: Path) -> None:
    keys = KeyDirectory(data)
    registry = ensure_key_in(keys_dir(data, REGISTRY), REGISTRY)
    value = registry_pb2.RegistryDecision(decision_id="d1",
                                          outcome=registry_pb2.DECISION_OUTCOME_GRANTED).SerializeToString()
    signed = sign_message(registry, DECISION_PURPOSE, value)
    assert message_problem(keys, REGISTRY, DECISION_PURPOSE, value, signed) is None
    assert "unsigned" in str(message_problem(keys, REGISTRY, DECISION_PURPOSE, value, []))
    by_region = sign_message(ensure_region_key(data, NINGXIA), DECISION_PURPOSE, value)
    assert "belongs to region 640000, not to registry" in str(
        message_problem(keys, REGISTRY, DECISION_PURPOSE, value, by_region))
    as_input = sign_message(registry, INPUT_PURPOSE, value)
    assert "does not verify" in str(message_problem(keys, REGISTRY, DECISION_PURPOSE, value, as_input)), \
        "a signature made for one purpose never passes for another"


def test_the_registry_forwards_only_signed_claims_and_decides_only_on_its_own_signed_inputs(data: Path) -> None:
    trust = WorkerTrust.load(keys_dir(data, REGISTRY), data, data / "registry" / "faust")
    unsigned = stored(claim())
    assert forward(unsigned.to_bytes(), None, now=NOW, trust=trust) is None
    assert forward(EnvelopeSigner(RegionKey.generate(NINGXIA)).sign(unsigned), None, now=NOW, trust=trust) is None
    assert sum(trust.rejected.values()) == 2
    assert trust.store is not None
    recorded = rejected_messages(trust.store)
    assert [(r.claimed_event_id, r.claimed_region) for r in recorded] == [(unsigned.event_id, NINGXIA)] * 2
    assert "unsigned" in recorded[0].reason and "not a trusted key" in recorded[1].reason
    out = forward(EnvelopeSigner(ensure_region_key(data, NINGXIA)).sign(unsigned), None, now=NOW, trust=trust)
    assert out is not None
    taken = take(None, out.key, out.value, out.headers, claim_ttl=timedelta(hours=1), trust=trust)
    assert [d.outcome.name for d in taken.decisions] == ["GRANTED"]
    slipped_in = take(None, out.key, out.value, [], claim_ttl=timedelta(hours=1), trust=trust)
    assert slipped_in.decisions == () and "unsigned" in slipped_in.note, "an input the registry did not sign"
    assert rejected_messages(trust.store)[-1].claimed_type == "registry input"
    trust.store.close()
    wire = decision_message(taken.decisions[0], trust)
    assert message_problem(KeyDirectory(data), REGISTRY, DECISION_PURPOSE, wire.value, wire.headers) is None
