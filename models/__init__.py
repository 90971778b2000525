"""hazardwatch: models."""
