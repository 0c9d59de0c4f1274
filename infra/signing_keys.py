"""The envelope-signing keys of a compose deployment, made once (architecture invariant 8).

docker-compose.yml runs it as the one-shot job ``signing-keys`` before any service starts::

    python -m infra.signing_keys /etc/tongban/signing 640000 510000 610000

Layout, one directory per reader, so each container mounts only what it may see (a volume ``subpath``):

    <region>/keys/   signing.key (mode 0600), <region>.pub, trusted/ -- mounted read-only at
                     <data-dir>/<region>/keys/ of that region's services only (``tongban audit keys``
                     makes the same layout, services/common/trust/keys.py)
    registry/keys/   the registry worker's signing.key and registry.pub: its ``--keys``
    public/          every speaker's ``*.pub``, nothing private: the ``--key-directory`` that every
                     service and the registry mount, so a region believes the others' envelopes and the
                     registry's decisions without ever seeing another private key

Existing keys are kept; public/ is copied afresh on every run, so after ``tongban audit keys --rotate``
on this volume a rerun hands out the new public keys (the old ones stay, as ``<speaker>-<id>.pub``, for
what they signed) -- the services read the key directory again when a message names a key they do not
know, so no restart is needed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from services.common.trust.keys import (
    KEYS_DIR,
    PUBLIC_SUFFIX,
    REGISTRY,
    ensure_key_in,
    exchange_public_keys,
    keys_dir,
)

PUBLIC_DIR = "public"


def make_signing_keys(directory: Path, regions: Sequence[str]) -> Path:
    """Create what is missing under ``directory``; return the public key directory."""
    exchange_public_keys(directory, regions)  # a key per region; each region's trusted/ (checkpoints)
    ensure_key_in(keys_dir(directory, REGISTRY), REGISTRY)
    public = directory / PUBLIC_DIR
    public.mkdir(parents=True, exist_ok=True)
    for speaker in [*sorted(set(regions)), REGISTRY]:
        for source in sorted((directory / speaker / KEYS_DIR).glob(f"{speaker}*{PUBLIC_SUFFIX}")):
            (public / source.name).write_bytes(source.read_bytes())
    return public


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m infra.signing_keys", description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("regions", nargs="+", help="GB/T 2260 region codes, e.g. 640000")
    args = parser.parse_args(argv)
    public = make_signing_keys(args.directory, args.regions)
    print(f"signing keys in {args.directory}: {', '.join(sorted(p.name for p in public.iterdir()))} in {public}")


if __name__ == "__main__":
    main()
