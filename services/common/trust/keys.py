"""Ed25519 keys of the speakers on the national exchange, and the key directory that says which
public key may speak for whom (architecture invariant 8).

A speaker is a region (its GB/T 2260 code) or the registry (`REGISTRY`): a region signs every
envelope it publishes and its audit checkpoints; the registry signs its decisions and its own
inputs. Layout, under a speaker's directory `DATA/<speaker>/keys/`:

    signing.key           the speaker's current private key (PKCS#8 PEM, mode 0600): only it signs
    <speaker>.pub         the current public key (SubjectPublicKeyInfo PEM), to hand to the others
    <speaker>-<id>.pub    earlier public keys after a rotation: still trusted for what they signed
    trusted/<other>.pub   public keys of others, received out of band (a key ceremony, a signed
                          letter); a checkpoint is only kept if one of these verifies it

A key is named `<speaker>/<first 16 hex digits of SHA-256 of the raw public key>`, so a speaker
can hold several keys at once (rotation) and every signature names the key that made it. Keys are
never taken from a topic: anyone who can write to the topic could then vouch for their own
forgeries. The key directory (`KeyDirectory`) is configuration: a directory of `<speaker>*.pub`
files (production: mounted; an auditor's `--trusted-keys`), or in development the data directory
itself, whose `*/keys/<speaker>*.pub` files `tongban up` and the tests provision."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEYS_DIR = "keys"
SIGNING_KEY_FILE = "signing.key"
# The registry worker speaks under this name: only a key filed under it may sign decisions.
REGISTRY = "registry"
TRUSTED_DIR = "trusted"
PUBLIC_SUFFIX = ".pub"


def key_id_for(region: str, public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{region}/{hashlib.sha256(raw).hexdigest()[:16]}"


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class RegionKey:
    """A region's signing key."""

    region: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id_for(self.region, self.public_key)

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

    @classmethod
    def generate(cls, region: str) -> RegionKey:
        return cls(region, Ed25519PrivateKey.generate())


def keys_dir(data_dir: Path, region: str) -> Path:
    return Path(data_dir) / region / KEYS_DIR


def ensure_region_key(data_dir: Path, region: str) -> RegionKey:
    """The region's signing key, generated on first use (with its public key file beside it)."""
    return ensure_key_in(keys_dir(data_dir, region), region)


def ensure_key_in(directory: Path, speaker: str) -> RegionKey:
    """The signing key kept in `directory` (a speaker's `keys/`), generated on first use."""
    path = directory / SIGNING_KEY_FILE
    if path.exists():
        return load_key_from(directory, speaker)
    directory.mkdir(parents=True, exist_ok=True)
    key = RegionKey.generate(speaker)
    try:
        _write_private(path, key)
    except FileExistsError:  # another process of the same speaker made it first: use theirs
        return load_key_from(directory, speaker)
    (directory / f"{speaker}{PUBLIC_SUFFIX}").write_bytes(public_pem(key.public_key))
    return key


def _write_private(path: Path, key: RegionKey) -> None:
    pem = key.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
    # Created 0600 from the start (not chmod-ed afterwards): the key is never readable by others,
    # not even for an instant.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def load_region_key(data_dir: Path, region: str) -> RegionKey:
    return load_key_from(keys_dir(data_dir, region), region)


def load_key_from(directory: Path, speaker: str) -> RegionKey:
    path = directory / SIGNING_KEY_FILE
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return RegionKey(speaker, private)


def rotate_key(directory: Path, speaker: str) -> RegionKey:
    """Replace the speaker's signing key with a new one. The old public key stays beside it as
    `<speaker>-<id>.pub`, so what it signed still verifies wherever the key directory is read
    again; the old private key is destroyed (it never signs again). Hand the new `<speaker>.pub`
    to the others (`exchange_public_keys` in development); drop the old `.pub` files to retire
    the old key for good."""
    old = load_key_from(directory, speaker)
    retired = directory / f"{speaker}-{old.key_id.split('/')[-1]}{PUBLIC_SUFFIX}"
    retired.write_bytes(public_pem(old.public_key))
    new = RegionKey.generate(speaker)
    staged = directory / f"{SIGNING_KEY_FILE}.new"
    staged.unlink(missing_ok=True)
    _write_private(staged, new)
    os.replace(staged, directory / SIGNING_KEY_FILE)  # atomic: a signer reads the old or the new
    (directory / f"{speaker}{PUBLIC_SUFFIX}").write_bytes(public_pem(new.public_key))
    return new


def exchange_public_keys(data_dir: Path, regions: Iterable[str]) -> None:
    """Give every region the public key of every other (the development stand-in for a key
    ceremony): copies `<r>.pub` into each other region's `trusted/`."""
    chosen = sorted(set(regions))
    for region in chosen:
        ensure_region_key(data_dir, region)
    for holder in chosen:
        trusted = keys_dir(data_dir, holder) / TRUSTED_DIR
        trusted.mkdir(parents=True, exist_ok=True)
        for other in chosen:
            if other != holder:
                for source in sorted(keys_dir(data_dir, other).glob(f"{other}*{PUBLIC_SUFFIX}")):
                    (trusted / source.name).write_bytes(source.read_bytes())


def provision_development_keys(data_dir: Path, regions: Iterable[str]) -> Path:
    """The development stand-in for a key ceremony (`tongban up`, the demo, the tests): a key for
    every region and for the registry (`DATA/registry/keys/`), the regions' public keys exchanged
    for checkpoints, and the data directory itself as everyone's key directory. Returns the key
    directory."""
    exchange_public_keys(data_dir, regions)
    ensure_key_in(keys_dir(data_dir, REGISTRY), REGISTRY)
    return Path(data_dir)


class KeyRing:
    """Public keys by key id, each bound to the one region it may speak for."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[str, Ed25519PublicKey]] = {}

    def add(self, region: str, public_key: Ed25519PublicKey) -> str:
        key_id = key_id_for(region, public_key)
        self._keys[key_id] = (region, public_key)
        return key_id

    def add_pem_file(self, path: Path, region: str | None = None) -> str:
        """Add the key in `path`; its region is `region`, else the file name up to the first "-"
        or "." (`510000.pub`, `510000-2026.pub`)."""
        key = serialization.load_pem_public_key(path.read_bytes())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"{path} is not an Ed25519 public key")
        return self.add(region or path.name.split(".")[0].split("-")[0], key)

    def add_directory(self, directory: Path) -> None:
        if directory.is_dir():
            for path in sorted(directory.glob(f"*{PUBLIC_SUFFIX}")):
                self.add_pem_file(path)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def regions(self) -> set[str]:
        return {region for region, _ in self._keys.values()}

    def check(self, data: bytes, signature: bytes, key_id: str, region: str) -> str | None:
        """Why `signature` over `data` is not `region`'s, or None when it is."""
        entry = self._keys.get(key_id)
        if entry is None:
            return f"signed with key {key_id!r}, which is not a trusted key of region {region}"
        key_region, public_key = entry
        if key_region != region:
            return f"key {key_id!r} belongs to region {key_region}, not to {region}"
        try:
            public_key.verify(signature, data)
        except InvalidSignature:
            return f"the signature does not verify with {key_id!r}: forged or altered"
        return None


def trusted_keyring(data_dir: Path, holder: str) -> KeyRing:
    """The keys region `holder` trusts: its own public key and those in its `trusted/`."""
    ring = KeyRing()
    directory = keys_dir(data_dir, holder)
    own = directory / f"{holder}{PUBLIC_SUFFIX}"
    if own.is_file():
        ring.add_pem_file(own, holder)
    ring.add_directory(directory / TRUSTED_DIR)
    return ring


def keyring_from_directory(directory: Path) -> KeyRing:
    """An auditor's own set of trusted public keys (`--trusted-keys DIR` of `<region>.pub` files)."""
    if not directory.is_dir():
        raise FileNotFoundError(f"no directory of trusted keys at {directory}")
    ring = KeyRing()
    ring.add_directory(directory)
    return ring


class KeyDirectory:
    """Which public key may speak for whom, read from configuration: `<speaker>*.pub` files in
    `path`, and (the development layout) in `path/*/keys/`. Read again when a message names a key
    it does not know, so a rotated key is trusted as soon as its `.pub` file is in place, without
    a restart. (A flood of messages naming unknown keys costs a directory listing each; `reload_after`
bounds that where it matters.)"""

    def __init__(self, path: Path | None, *, reload_after: float = 0.0, own: RegionKey | None = None,
                 ring: KeyRing | None = None) -> None:
        # path None: exactly the keys of `ring` (e.g. those a region accepted in a key ceremony).
        self.path = Path(path) if path is not None else None
        self._fixed = ring
        self.reload_after = reload_after
        # A speaker always believes its own current key, wherever the directory says nothing of it.
        self._own = own
        self._ring = KeyRing()
        self._loaded_at: float | None = None
        self.reload()

    def reload(self) -> None:
        import time

        if self._fixed is not None:
            self._ring, self._loaded_at = self._fixed, None
            return
        ring = KeyRing()
        if self._own is not None:
            ring.add(self._own.region, self._own.public_key)
        if self.path is not None and self.path.is_dir():
            for pub in sorted([*self.path.glob(f"*{PUBLIC_SUFFIX}"),
                               *self.path.glob(f"*/{KEYS_DIR}/*{PUBLIC_SUFFIX}")]):
                speaker = pub.name.split(".")[0].split("-")[0]
                if pub.parent.name == KEYS_DIR and pub.parent.parent.name != speaker:
                    continue  # dev layout: only a speaker's own keys/ names its keys
                ring.add_pem_file(pub, speaker)
        self._ring = ring
        self._loaded_at = time.monotonic()

    @property
    def ring(self) -> KeyRing:
        return self._ring

    def check(self, data: bytes, signature: bytes, key_id: str, speaker: str) -> str | None:
        """Why `signature` over `data` is not `speaker`'s, or None when it is."""
        import time

        if key_id not in self._ring and self._loaded_at is not None \
                and time.monotonic() - self._loaded_at >= self.reload_after:
            self.reload()
        return self._ring.check(data, signature, key_id, speaker)
