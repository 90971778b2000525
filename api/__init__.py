"""hazardwatch: api."""
