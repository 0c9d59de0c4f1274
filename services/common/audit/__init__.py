"""Audit: verify, replay and trace every case across regions (architecture invariants 3 and 8).

Everything here works on any service's data: it needs only event stores (SQLite files laid out as
`DATA/<region>/<service>.db`, or SQLAlchemy URLs) and, when a broker is at hand, the service
topics. Modules:

- `datadir`     finding and opening the stores to audit
- `verify`      every chain of every store, the Kafka cross-check, the checkpoints others hold
- `kafka_log`   reading a topic from its beginning (assign + seek) and comparing it with stores
- `keys`        per-region Ed25519 keys and the public keys each region trusts
- `checkpoints` signed checkpoints of a region's chain heads: issue, keep, check
- `projections` the rebuildable-projection protocol and the registry services register into
- `replay`      rebuild every projection from a log (store or topic) and compare with live models
- `trail`       a case across regions and services, as of any moment; JSON Lines and HTML export
- `cli`         `tongban audit ...`; `bench` is `tongban bench audit`
- `sample`      a synthetic multi-region dataset made with the store API (benchmark, tests)

Nothing is built at import: no engine, producer or consumer exists until a function is called.
"""
