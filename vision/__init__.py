"""hazardwatch: vision."""
