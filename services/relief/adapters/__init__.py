"""Payload codec and gRPC mapping of relief."""
