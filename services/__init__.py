"""Tongban: the services, their shared core (`common`), the local stack (`stack`) and the CLI."""
