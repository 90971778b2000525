"""Fault injection against the running service with real parts.

ARCHITECTURE.md §9 is the failure model these tests hold the service to.
"""
