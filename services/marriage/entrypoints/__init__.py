"""How the outside reaches the service: the gRPC servicer."""
