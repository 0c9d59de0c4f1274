"""The service's entry points: the gRPC servicer and the window commands."""
