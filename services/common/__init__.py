"""The shared core the services use: event store, envelope, exchange, gRPC seam, auditor's tools."""
