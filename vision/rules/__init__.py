"""Hazard rules: stateful nouns with ``update(...) -> list[HazardEvent]``, time from ``pts_s``."""
