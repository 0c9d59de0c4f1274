"""The local stack: one command runs every region's services on one machine.

- `up`        the supervisor: the broker (local tansu unless TONGBAN_KAFKA), the registry worker and
              `tongban serve` for each region and service, with SQLite stores under a data
              directory; it writes `DIR/stack.json` so the other commands find the stack.
- `demo`      realistic cross-region marriage scenarios driven through the gRPC front doors only.
- `window`    a clerk's command line against a running stack (`tongban window marriage ...`).
- `stackfile` what `up` leaves for the others: endpoints, broker, pids; whether a stack is running.
- `registry_store` lays out the registry worker's own store of person records (DIR/registry).
- `cli`       `add_stack_commands(subparsers)`: `up`, `demo`, `window` and `clock` for `tongban`.

Nothing is started or opened at import."""
