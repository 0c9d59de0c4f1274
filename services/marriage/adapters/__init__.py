"""Translations between the domain and the outside: stored payloads, gRPC messages, registry."""
