"""Signatures on what crosses the national exchange (architecture invariant 8).

Envelopes (every stored event a region publishes) carry the signature in the envelope itself
(`signature`, `signing_key_id`, fields the hash leaves out). The signed bytes are

    "tongban.envelope-signature.v1\\0" || key id || "\\0" || hash || position (8 bytes) || global_hash

`hash` already covers every provenance field and the payload (services/common/hashing.py) and is
recomputed by the verifier, so the signature vouches for all of them; `position` and
`global_hash` are outside the hash, so they are signed too (a forger must not move an event in the
store's log); the key id is signed so a signature cannot be relabelled. The key must belong to the
envelope's region: a region may only speak for itself.

Messages that are not envelopes (the registry's decisions and its own inputs) carry the signature
in two Kafka headers over the exact value bytes, bound to what the message is for:

    "tongban.message-signature.v1\\0" || purpose || "\\0" || key id || "\\0" || value

The relay signs at publication, not at append: the store stays the truth, and a refill after a
rotation is signed with the key in force (a verifier that reads the key directory trusts both)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from services.common.envelope_wire import signature_fields
from services.common.events import RecordedEvent
from services.common.hashing import event_hash
from services.common.trust.keys import SIGNING_KEY_FILE, KeyDirectory, RegionKey, load_key_from
from tongban.common.v1 import envelope_pb2

HEADER_SIGNATURE = "tongban-signature"
HEADER_KEY_ID = "tongban-signing-key-id"
# What a header-signed message is for: a signature made for one can never pass for the other.
DECISION_PURPOSE = "registry-decision"
INPUT_PURPOSE = "registry-input"

_ENVELOPE_DOMAIN = b"tongban.envelope-signature.v1\x00"
_MESSAGE_DOMAIN = b"tongban.message-signature.v1\x00"

Headers = Iterable[tuple[str, bytes]] | Mapping[str, bytes] | None


def envelope_signed_bytes(key_id: str, hash_: bytes, position: int, global_hash: bytes) -> bytes:
    return _ENVELOPE_DOMAIN + key_id.encode() + b"\x00" + hash_ + position.to_bytes(8, "big") + global_hash


class EnvelopeSigner:
    """Signs the envelopes of one region with its current key (the relay's signer). Given the
    key's `directory`, it follows a rotation there (checked at most every `recheck_after`
    seconds), so a running relay signs with the new key without a restart."""

    def __init__(self, key: RegionKey, *, directory: Path | None = None, recheck_after: float = 1.0) -> None:
        self.key = key
        self.key_id = key.key_id  # computed once: it hashes the public key
        self._directory = directory
        self._recheck_after = recheck_after
        self._checked_at = time.monotonic()
        self._key_stamp = self._stamp()

    def _stamp(self) -> tuple[int, int] | None:
        if self._directory is None:
            return None
        try:
            info = (self._directory / SIGNING_KEY_FILE).stat()
        except FileNotFoundError:
            return None
        return info.st_mtime_ns, info.st_ino

    def _follow_rotation(self) -> None:
        now = time.monotonic()
        if self._directory is None or now - self._checked_at < self._recheck_after:
            return
        self._checked_at = now
        stamp = self._stamp()
        if stamp is not None and stamp != self._key_stamp:
            self.key = load_key_from(self._directory, self.key.region)
            self.key_id, self._key_stamp = self.key.key_id, stamp

    def envelope(self, event: RecordedEvent) -> envelope_pb2.EventEnvelope:
        key_id, signature = self._signature(event)
        envelope = event.to_envelope()
        envelope.signing_key_id = key_id
        envelope.signature = signature
        return envelope

    def sign(self, event: RecordedEvent) -> bytes:
        """The envelope's bytes as published: the store's bytes plus the two signature fields (the
        last two of the envelope, so appended they give its deterministic bytes; envelope_wire.py)."""
        key_id, signature = self._signature(event)
        return event.to_bytes() + signature_fields(signature, key_id)

    def sign_stored(self, stored: Sequence[tuple[str, bytes, int, bytes]]) -> Callable[[], list[bytes]]:
        """Start signing stored events, each given by what is signed of it (region, hash, position,
        global hash); the returned call waits for their two signature fields, in order: appended to
        the envelope bytes (envelope_wire.stored_envelope_bytes) they give what `sign` gives.

        Why threads: an Ed25519 signature costs ~27 µs here, more than everything else the relay does
        for an event, and `cryptography` lets go of the GIL while it signs; so a batch is signed in
        SIGNING_THREADS parts at once (while the producer's thread sends the batch before). Call it
        once the rest of the batch's work is done and wait: a caller running Python meanwhile keeps
        the GIL, and each signing thread waits out the 5 ms switch interval after every signature.
        One key for the whole batch, checked here."""
        self._follow_rotation()
        key, key_id = self.key, self.key_id
        for region, _, _, _ in stored:
            if region != key.region:
                raise ValueError(f"the key of {key.region} cannot sign an event of {region}")

        def sign(part: Sequence[tuple[str, bytes, int, bytes]]) -> list[bytes]:
            return [signature_fields(key.sign(envelope_signed_bytes(key_id, h, p, g)), key_id)
                    for _, h, p, g in part]

        if len(stored) < _PARALLEL_FROM:
            done = sign(stored)
            return lambda: done
        step = -(-len(stored) // SIGNING_THREADS)
        parts = [_signing_pool().submit(sign, stored[i:i + step]) for i in range(0, len(stored), step)]
        return lambda: [fields for part in parts for fields in part.result()]

    def _signature(self, event: RecordedEvent) -> tuple[str, bytes]:
        return self._sign(event.region, event.hash, event.position, event.global_hash)

    def _sign(self, region: str, hash_: bytes, position: int, global_hash: bytes) -> tuple[str, bytes]:
        self._follow_rotation()
        if region != self.key.region:
            raise ValueError(f"the key of {self.key.region} cannot sign an event of {region}")
        key_id = self.key_id
        return key_id, self.key.sign(envelope_signed_bytes(key_id, hash_, position, global_hash))


SIGNING_THREADS = 2  # the machines Tongban runs on have two cores or more
_PARALLEL_FROM = 64  # fewer signatures than this are signed on the caller's thread
_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _signing_pool() -> ThreadPoolExecutor:
    """The process's signing threads, shared by its relays and made on first use."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(SIGNING_THREADS, thread_name_prefix="envelope-signing")
        return _POOL


@dataclass(frozen=True)
class SignedEnvelope:
    """An envelope as received: the event, and what it says signed it."""

    event: RecordedEvent
    signature: bytes
    key_id: str


def parse_envelope(raw: bytes) -> SignedEnvelope:
    """Raises DecodeError or ValueError for bytes that are no envelope."""
    envelope = envelope_pb2.EventEnvelope.FromString(raw)
    return SignedEnvelope(RecordedEvent.from_envelope(envelope), envelope.signature, envelope.signing_key_id)


def unsigned_bytes(raw: bytes) -> bytes:
    """The envelope without its signature: the bytes its store would give (audit cross-checks)."""
    envelope = envelope_pb2.EventEnvelope.FromString(raw)
    envelope.ClearField("signature")
    envelope.ClearField("signing_key_id")
    return envelope.SerializeToString(deterministic=True)


def envelope_problem(signed: SignedEnvelope, keys: KeyDirectory) -> str | None:
    """Why this envelope must not be believed, or None: the hash must match the content, and the
    signature must verify with a key of the envelope's own region."""
    event = signed.event
    if event_hash(event.prev_hash, event) != event.hash:
        return "the hash does not match the content: altered after it was recorded"
    if not signed.signature or not signed.key_id:
        return f"unsigned: no region's signature (it claims to come from {event.region})"
    return keys.check(envelope_signed_bytes(signed.key_id, event.hash, event.position, event.global_hash),
                      signed.signature, signed.key_id, event.region)


def sign_message(key: RegionKey, purpose: str, value: bytes) -> list[tuple[str, bytes]]:
    """The headers that sign `value` for `purpose`."""
    key_id = key.key_id
    return [(HEADER_SIGNATURE, key.sign(_message_bytes(purpose, key_id, value))), (HEADER_KEY_ID, key_id.encode())]


def message_problem(keys: KeyDirectory, speaker: str, purpose: str, value: bytes, headers: Headers) -> str | None:
    """Why `value` is not `speaker`'s message for `purpose`, or None when it is."""
    signature = header(headers, HEADER_SIGNATURE)
    key_id_bytes = header(headers, HEADER_KEY_ID)
    if not signature or not key_id_bytes:
        return f"unsigned: only {speaker} may send this, and it signs what it sends"
    key_id = key_id_bytes.decode("utf-8", "replace")
    return keys.check(_message_bytes(purpose, key_id, value), signature, key_id, speaker)


def header(headers: Headers, name: str) -> bytes | None:
    if not headers:
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in pairs:
        if key == name and value is not None:
            return bytes(value)
    return None


def _message_bytes(purpose: str, key_id: str, value: bytes) -> bytes:
    return _MESSAGE_DOMAIN + purpose.encode() + b"\x00" + key_id.encode() + b"\x00" + value

