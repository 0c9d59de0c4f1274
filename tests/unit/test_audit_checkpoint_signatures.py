"""Checkpoint signatures (Ed25519, per-region keys): a region's key verifies only its own
checkpoints, and any changed byte or unknown key is refused."""

from __future__ import annotations

import stat
from pathlib import Path

from services.common.audit.checkpoints import signature_problem
from services.common.trust.keys import (
    KeyRing,
    RegionKey,
    ensure_region_key,
    exchange_public_keys,
    keys_dir,
    trusted_keyring,
)
from tongban.audit.v1 import checkpoints_pb2
from tongban.common.v1 import types_pb2


def _signed(key: RegionKey, region: str | None = None) -> checkpoints_pb2.SignedCheckpoint:
    body = checkpoints_pb2.Checkpoint(checkpoint_id="cp-1", region=types_pb2.RegionCode(code=region or key.region),
                                      sequence=7).SerializeToString(deterministic=True)
    return checkpoints_pb2.SignedCheckpoint(checkpoint=body, signature=key.sign(body), key_id=key.key_id)


def test_a_checkpoint_verifies_with_the_issuers_key_and_nothing_else() -> None:
    ningxia, sichuan = RegionKey.generate("640000"), RegionKey.generate("510000")
    ring = KeyRing()
    ring.add("640000", ningxia.public_key)
    ring.add("510000", sichuan.public_key)
    signed = _signed(ningxia)
    assert signature_problem(signed, "640000", ring) is None
    assert "was sent by 510000" in str(signature_problem(signed, "510000", ring)), "the sender must be the issuer"

    flipped = checkpoints_pb2.SignedCheckpoint()
    flipped.CopyFrom(signed)
    flipped.checkpoint = signed.checkpoint[:-1] + bytes([signed.checkpoint[-1] ^ 1])
    assert "does not verify" in str(signature_problem(flipped, "640000", ring))

    # Sichuan's key cannot vouch for a checkpoint that names Ningxia.
    impostor = _signed(sichuan, region="640000")
    assert "belongs to region 510000, not to 640000" in str(signature_problem(impostor, "640000", ring))
    assert "not a trusted key" in str(signature_problem(_signed(RegionKey.generate("640000")), "640000", ring))


def test_keys_live_under_each_region_and_only_exchanged_keys_are_trusted(tmp_path: Path) -> None:
    key = ensure_region_key(tmp_path, "640000")
    private = keys_dir(tmp_path, "640000") / "signing.key"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600, "only the region can read its private key"
    assert ensure_region_key(tmp_path, "640000").key_id == key.key_id, "created once, then loaded"
    assert key.key_id.startswith("640000/") and len(key.key_id) == len("640000/") + 16

    assert key.key_id not in trusted_keyring(tmp_path, "510000"), "not trusted before the exchange"
    exchange_public_keys(tmp_path, ["640000", "510000"])
    ring = trusted_keyring(tmp_path, "510000")
    assert key.key_id in ring and ring.regions() == {"640000", "510000"}
