"""Adapters: the payload codec (domain events ↔ stored protobuf) and the gRPC mapping."""
