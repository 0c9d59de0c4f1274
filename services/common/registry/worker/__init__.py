"""The registry worker: the single writer per person (architecture invariant 5), one asyncio
process with plain aiokafka clients.

    tongban registry --kafka HOST:PORT [--claim-ttl 24h] [...]
    python -m services.common.registry.worker --kafka HOST:PORT [...]   (the same)

Modules: `settings` (WorkerSettings), `forwarder` (step 1 below), `decider` (the work of step 2 on
one message, and the expiry inputs of step 3, without a broker), `person_store` (the records),
`gap_healer`, `app` (RegistryWorker: the forwarder, the decider and the expiry checks together)
and `cli` (the command line).

Flow (docs/cross-region.md):
1. The forwarder reads the service topics (tongban.<service>.events.v1) in the consumer group
   "<app-id>.forward", keeps the claim events (ClaimRequested / ClaimConfirmed / ClaimReleased, hash
   checked, the declared claimant being the region and service whose store recorded them) and
   forwards each one, byte for byte, to the worker's own topic tongban.registry.claims.v1 keyed by
   citizen id, stamped with the time it was taken in. This is the repartition by citizen id.
2. The decider reads that topic — so one partition, hence one worker, decides every input
   about a person, in order — a fetched batch at a time: it folds each input into the person's
   record with `domain.decide` (an input sees what the inputs before it in the batch decided),
   commits the batch's new records (and the partitions' next offsets) to the worker's own store
   in one transaction (person_store.py: why a store of its own), and then sends the
   batch's decisions, keyed by citizen id, in order and acknowledged together, each to the
   claimant region's topic tongban.registry.decisions.<region>.v1 and, if it is confirmed or
   released, to the national record tongban.registry.decisions.v1 as well (topics.py; invariant 10).
3. A timer looks for granted holds past the claim time-to-live and puts an ExpiryDue input for them
   on the claims topic. It never changes a record itself: expiry is decided by `decide`, in line
   with every other input about the person.

Crash safety (kill -9 at any instant; at-least-once delivery, no Kafka transactions, which the
development broker does not support reliably):
- Decisions depend on nothing but the record and the input: the time is the one stamped on the
  input when it was forwarded, never the clock at processing time, and the timer's expiries are
  inputs too. So processing the same inputs from the same record gives the same decisions, with
  the same ids (derived from the claim and the outcome).
- The record remembers what each input decided. An input seen before — a redelivery, a duplicate
  forward, or a re-run after a crash — repeats its decisions instead of deciding again.
- `decide` commits a batch's records and the partitions' next offsets to its store in one
  transaction, then sends the batch's decisions and waits for every acknowledgement of the broker
  (forwarder.deliver_all: a decision not acknowledged is sent again, with those after it). It
  commits the batch's offsets to the group only after that.
- Killed after the store commit but before the decisions were sent: the offsets are not
  committed, the restarted worker processes the batch's inputs again, finds them remembered in the
  records and sends the same decisions (receivers' inboxes drop those that did arrive). Killed
  before the store commit, nothing of the batch is stored, and its inputs are decided again from
  the records before them, which by determinism decides the same.
  Either way a grant is only ever decided from a record holding every earlier decision about the
  person, or repeated with its original id: never a second grant.
- The broker lost (a memory-only local broker killed): the store keeps every record; the
  refilled service topics are forwarded again, and each claim decided before is an input seen
  before, repeated — never decided again in the order the refill happens to deliver it.
- The forwarder commits a batch only after every claim in it was acknowledged on the claims topic
  (sent together, in order; deliver_all says what a partial failure may reorder, and why nothing
  reads that as anything but a repeat):
  killed before, the batch is forwarded again, and the duplicates are inputs seen before. A lost
  expiry check is sent again by the restarted timer, since the hold is still due.
- The store, not the group's committed offsets, says where the decider stands: it checks each
  claims-topic offset against the next offset its store expects (the topic has no holes of its
  own) and seeks back over a hole rather than deciding without it (`GapHealer`). The worker was a
  faust app until issue 15's eighth pass, and faust-streaming 0.15.3 was seen to skip messages
  after a restart; a plain consumer should not, but a committed offset ahead of the store (its
  positions are written lazily) is read from the store's position all the same.

Limits: the record keeps what every input decided, so it grows with the claims on a person (a
handful in a lifetime). One store transaction per batch (a few milliseconds on SQLite with
synchronous=FULL, however many inputs) and the signatures (an Ed25519 check per claim forwarded and
per input decided, a signature per input and per decision) bound one worker's rate (`tongban bench
registry`); more partitions over more workers sharing a PostgreSQL store scale it.
"""

from services.common.registry.worker.app import RegistryWorker
from services.common.registry.worker.cli import build_parser, main, parse_duration, run
from services.common.registry.worker.decider import HEADER_DECISION_ID, Taken, decision_message, expiry_input, take
from services.common.registry.worker.forwarder import Outgoing, forward
from services.common.registry.worker.gap_healer import GapHealer
from services.common.registry.worker.person_store import PersonStore, StaleRecord
from services.common.registry.worker.settings import DEFAULT_APP_ID, DEFAULT_CLAIM_TTL, WorkerSettings

__all__ = [
    "DEFAULT_APP_ID",
    "DEFAULT_CLAIM_TTL",
    "HEADER_DECISION_ID",
    "GapHealer",
    "Outgoing",
    "PersonStore",
    "RegistryWorker",
    "StaleRecord",
    "Taken",
    "WorkerSettings",
    "build_parser",
    "decision_message",
    "expiry_input",
    "forward",
    "main",
    "parse_duration",
    "run",
    "take",
]
