"""Handlers (one per command), reactions (deadlines), subscribers and queries of the disability service."""
