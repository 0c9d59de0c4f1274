"""Trust (architecture: "nobody believed on their word"): who is calling a service, and which
region is speaking on the broker.

- Callers present a token signed by their region's identity provider; the service verifies it and
  takes the actor of every event from it, never from plain headers.
- Every envelope a region publishes is signed with that region's Ed25519 key, and every consumer
  verifies it before acting; the registry signs its decisions with its own key.

Import what you need from the modules; this package re-exports nothing, so importing one part
never drags in another's dependencies."""
