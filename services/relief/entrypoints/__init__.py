"""gRPC server and window commands of relief."""
