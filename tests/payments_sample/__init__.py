"""A small sample paying service for the payment-run tests: a source of monthly dues, the wiring
a service writes, and a run in a child process that a test can kill between chunks."""
