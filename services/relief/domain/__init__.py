"""Pure domain of relief: no I/O."""
