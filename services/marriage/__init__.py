"""Marriage registration (婚姻登记): one region's instance of the event-sourced service.

Layers as in every Tongban service: domain/ (aggregates, events, legal rules; no I/O),
application/ (one handler per command, reactions to the registry and to deadlines, queries),
projections/ (SQL read models rebuilt from the log), adapters/ (proto mapping, registry calls),
entrypoints/ (gRPC servicer), bootstrap.py (the composition root)."""
