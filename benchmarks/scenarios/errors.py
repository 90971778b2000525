"""Exceptions of the scenario generator."""

from __future__ import annotations


class ScenarioError(Exception):
    """Base of every error raised by :mod:`benchmarks.scenarios`."""


class AssetError(ScenarioError):
    """A shared asset (photo, label file, model) is missing or unreadable."""


class SpriteError(ScenarioError):
    """A sprite cannot be cut, or too few sprites passed the detector check."""


class SuiteFormatError(ScenarioError):
    """A suite file (``suite.yaml``, ``real_clips.yaml``) does not follow the suite format."""
