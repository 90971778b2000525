"""hazardwatch: cameras."""
