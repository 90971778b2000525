"""Fault injection against the running service with real parts (DESIGN.md §9, failure behaviour)."""
