"""hazardwatch: pipelines."""
