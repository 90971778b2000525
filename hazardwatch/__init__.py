"""hazardwatch: the command line that drives the whole service."""

__version__ = "0.1.0"
