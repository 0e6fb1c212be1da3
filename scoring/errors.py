"""Exception classes raised by the scoring package.

Every failure a caller may want to handle has its own class, all derived from
:class:`ScoringError`, so the oracle and the CLI can catch the family at once.
"""

from __future__ import annotations


class ScoringError(Exception):
    """Base class for every error the scoring package raises on purpose."""


class DataFormatError(ScoringError):
    """An input file or frame does not follow the documented data format."""


class ValidationError(ScoringError):
    """Input records could not be validated (e.g. a required column is missing)."""


class TrainingError(ScoringError):
    """A model could not be trained from the given frame."""


class ArtifactError(ScoringError):
    """A model artifact is malformed, or does not match the features offered."""


class PolicyError(ScoringError):
    """A policy parameter set is malformed or violates its invariants."""


class CanonicalEncodingError(ScoringError):
    """A value cannot be written as canonical JSON (NaN, infinity, unknown type)."""
