"""The smallest service the kit allows: one aggregate, one command, one event, one read model.
tests/integration/test_kit_new_service.py builds it and counts what it took."""
