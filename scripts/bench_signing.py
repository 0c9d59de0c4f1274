"""What signing costs (issue 10): microseconds per event to sign an envelope as the relay does and
to verify it as a consumer does, and per decision for the registry's header signatures.

    .venv/bin/python scripts/bench_signing.py [--events 2000]

Each figure is the best of five rounds over the same events, in CPU time of this process (on a
shared machine, waiting for a core is not the cost of signing; noise only ever adds time).
"verify" is what a consumer's gate does per message: parse the envelope, recompute its hash and
check the Ed25519 signature; "of which Ed25519" is the signature check alone."""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from services.common.events import Actor, NewEvent
from services.common.store import EventStore, sqlite_url
from services.common.trust.keys import REGISTRY, KeyDirectory, ensure_key_in, keys_dir, provision_development_keys
from services.common.trust.signing import (
    DECISION_PURPOSE,
    EnvelopeSigner,
    envelope_problem,
    envelope_signed_bytes,
    message_problem,
    parse_envelope,
    sign_message,
)
from tongban.registry.v1 import registry_pb2

REGION = "640000"


def best_us(work: Callable[[], object], count: int, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    n = parser.parse_args().events
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        provision_development_keys(data, (REGION, "510000"))
        store = EventStore.open(sqlite_url(data / "bench.db"), region=REGION, service="marriage")
        actor = Actor(kind="clerk", clerk_id="clerk-07", office_code="640104-MRO-01", region=REGION, role="registrar")
        claim = registry_pb2.ClaimRequested(claim_id="c", citizen_id="640104199001010018", case_id="marriage-1",
                                            kind=registry_pb2.CLAIM_KIND_LIVE_MARRIAGE, region=REGION,
                                            service="marriage")
        with store.transaction() as tx:
            for i in range(n):
                tx.append(f"case-{i}", "bench", None, [NewEvent.from_message(
                    claim, event_id=str(uuid.uuid4()), actor=actor, correlation_id=f"case-{i}",
                    occurred_at=store.clock.now())])
        events = store.read_log(limit=n)
        store.close()
        signer = EnvelopeSigner(ensure_key_in(keys_dir(data, REGION), REGION))
        keys = KeyDirectory(data)
        signed = [signer.sign(e) for e in events]
        parsed = [parse_envelope(raw) for raw in signed]
        public = signer.key.public_key
        to_verify = [(p.signature, envelope_signed_bytes(p.key_id, p.event.hash, p.event.position,
                                                         p.event.global_hash)) for p in parsed]
        unsigned_us = best_us(lambda: [e.to_bytes() for e in events], n)
        sign_us = best_us(lambda: [signer.sign(e) for e in events], n)
        verify_us = best_us(lambda: [envelope_problem(parse_envelope(raw), keys) for raw in signed], n)
        ed_verify_us = best_us(lambda: [public.verify(s, m) for s, m in to_verify], n)
        registry = ensure_key_in(keys_dir(data, REGISTRY), REGISTRY)
        decision = registry_pb2.RegistryDecision(decision_id="d", claim_id="c", citizen_id="640104199001010018",
                                                 outcome=registry_pb2.DECISION_OUTCOME_GRANTED).SerializeToString()
        headers = sign_message(registry, DECISION_PURPOSE, decision)
        d_sign_us = best_us(lambda: [sign_message(registry, DECISION_PURPOSE, decision) for _ in range(n)], n)
        d_verify_us = best_us(
            lambda: [message_problem(keys, REGISTRY, DECISION_PURPOSE, decision, headers) for _ in range(n)], n)
    print(f"envelopes: {n} events of {len(signed[0])} bytes (signed), best of 5 rounds, CPU time")
    print(f"  serialise unsigned (before)         {unsigned_us:8.1f} µs/event")
    print(f"  serialise + sign (relay)            {sign_us:8.1f} µs/event   (+{sign_us - unsigned_us:.1f} µs)")
    print(f"  verify (consumer gate: parse, hash, signature) {verify_us:8.1f} µs/event")
    print(f"    of which Ed25519 verify           {ed_verify_us:8.1f} µs/event")
    print(f"decisions: sign {d_sign_us:.1f} µs, verify {d_verify_us:.1f} µs per decision")


if __name__ == "__main__":
    main()
