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
    """An input file or frame does not follow the documented data format.

    Where the fault is, is kept apart from what it is: ``file`` (a path, or a table
    name for frames in memory), ``row`` (1-based as a spreadsheet shows the CSV form:
    the header is row 1, the first record row 2), ``column`` and ``reason``. The
    message joins them (``daily.csv: row 7, column date: ...``) so that the command
    line and the API say exactly what is wrong; :meth:`to_dict` also gives them apart.
    """

    code = "data_format_invalid"
    hint = "the export must follow scoring/DATA_FORMAT.md; `credit-ledger score synth` writes a valid one"
    exit_code = EXIT_INPUT
    #: What ``column`` is called in the message (a manifest has fields, not columns).
    place = "column"

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        code: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.column = column
        self.reason = reason
        place = ", ".join(
            part
            for part in (f"row {row}" if row is not None else "", f"{self.place} {column}" if column else "")
            if part
        )
        where = ": ".join(part for part in (file or "", place) if part)
        super().__init__(f"{where}: {reason}" if where else reason, code=code, hint=hint)

    def to_dict(self) -> dict[str, str]:
        out = super().to_dict()
        for key, value in (("file", self.file), ("row", self.row), ("column", self.column)):
            if value is not None:
                out[key] = str(value)
        return out


class ManifestInvalid(DataFormatError):
    """``manifest.json`` is missing, not JSON, or a field of it is missing or wrong."""

    code = "export_manifest_invalid"
    place = "field"
    hint = "fix manifest.json as the message says (scoring/DATA_FORMAT.md lists its fields and their forms)"


class ExportFormatUnknown(DataFormatError):
    """The manifest names a format, version or table format this reader does not know."""

    code = "export_format_unknown"
    place = "field"
    hint = 'write "format": "credit-ledger-platform-export/2" and "table_format": "parquet" or "csv"'


class ExportFileUnreadable(DataFormatError):
    """A table file is missing, truncated, or not what its name and the manifest say it is."""

    code = "export_file_unreadable"
    hint = "export the named file again; a .parquet file must be Parquet, a .csv file UTF-8 CSV with a header row"


class ExportColumnsInvalid(DataFormatError):
    """A table lacks a required column, has one it should not, or a column has the wrong type."""

    code = "export_columns_invalid"
    hint = "give each table exactly the columns and types of scoring/DATA_FORMAT.md (numbers and dates not as text)"


class ExportValueInvalid(DataFormatError):
    """A value of the entities table is missing, malformed, out of bounds, or an id repeats."""

    code = "export_value_invalid"
    hint = "fix the named row of the entities table: every merchant once, every column filled within its bounds"


class ExportEmpty(DataFormatError):
    """Nothing valid is left to score: no entities, no daily records, or every record rejected."""

    code = "export_empty"
    hint = "the export holds nothing to score: check its window and its daily file against the platform"


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
