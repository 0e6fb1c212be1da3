"""Exception classes raised by the scoring package.

Every failure a caller may want to handle has its own class, all derived from
:class:`ScoringError`, so the oracle and the CLI can catch the family at once.
:class:`ScoringError` derives from the project's root, :class:`foundation.errors.CreditLedgerError`
(``foundation`` is the one package scoring imports from the rest of credit-ledger).
"""

from __future__ import annotations

from foundation.errors import EXIT_INPUT, CreditLedgerError


class ScoringError(CreditLedgerError):
    """Base class for every error the scoring package raises on purpose."""

    code = "scoring_error"
    hint = "see `credit-ledger score --help` for the files each step reads and writes"


class DataFormatError(ScoringError):
    """An input file or frame does not follow the documented data format."""

    code = "data_format_invalid"
    hint = "the export must follow scoring/DATA_FORMAT.md; `credit-ledger score synth` writes a valid one"
    exit_code = EXIT_INPUT


class ValidationError(ScoringError):
    """Input records could not be validated (e.g. a required column is missing)."""

    code = "validation_failed"
    hint = "add the missing columns or records named in the message (scoring/DATA_FORMAT.md lists them)"
    exit_code = EXIT_INPUT


class TrainingError(ScoringError):
    """A model could not be trained from the given frame."""

    code = "training_failed"
    hint = "train on a larger export with both good and defaulted merchants (`credit-ledger score synth --n 20000`)"


class ArtifactError(ScoringError):
    """A model artifact is malformed, or does not match the features offered."""

    code = "artifact_invalid"
    hint = "use an artifact written by `credit-ledger score train`, unmodified, for the same segment"
    exit_code = EXIT_INPUT


class PolicyError(ScoringError):
    """A policy parameter set is malformed or violates its invariants."""

    code = "policy_invalid"
    hint = "fix the named parameter; a segment's default policy is written by `credit-ledger score train`"
    exit_code = EXIT_INPUT


class CanonicalEncodingError(ScoringError):
    """A value cannot be written as canonical JSON (NaN, infinity, unknown type)."""

    code = "canonical_encoding_failed"
    hint = "canonical JSON holds only strings, finite numbers, booleans, null, lists and string-keyed objects"
    exit_code = EXIT_INPUT
