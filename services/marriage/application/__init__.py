"""Use cases: one handler per command (load, decide, append with the expected version), the
reactions to registry decisions and to deadlines, and the queries behind the read API."""
