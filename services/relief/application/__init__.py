"""Handlers, reactions and subscribers of relief."""
