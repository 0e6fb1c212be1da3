"""The platform's export on disk: the input of record of a weekly round.

:func:`check_export` takes an export directory (``scoring/DATA_FORMAT.md``, Parquet or
CSV), copies it into the export archive's staging area, hashes the copy, reads and
validates *that copy*, and writes its validation report; only then is the copy adopted
into the archive. A structurally bad export (the ``DataFormatError`` family of
``scoring.errors``, each naming the file, row or column and the reason) is refused
before anything is written: the staged copy is dropped, no round exists yet.

:class:`ExportSource` is the oracle's :class:`~sources.records.DecisionSource` over a
checked export: it scores it with the segment's active model and policy and hands the
oracle the decisions together with the export hash and the validation report, which
the round records (``rounds.export_hash``, ``rounds.validation_report_hash``, and the
batch file's ``exportHash``/``validationReportHash``). The synthetic platform takes
the same path (``oracle run-round --synthetic``: its week is archived as an export
first, then checked like any other).

A window cut from records a platform pushed (a later ``POST /platform/records``) is a
:class:`scoring.PlatformData` built in memory; ``scoring.validate`` and the scoring here
take it the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import EXIT_INPUT, CreditLedgerError
from scoring import PlatformData, ValidationResult, build_features, read_platform_data, validate, validation_report
from scoring.export import read_manifest
from sources.exports import ExportArchive, export_files
from sources.records import ScoredRound
from sources.synthetic import ScoringSource

__all__ = [
    "LARGE_EXPORT_BYTES",
    "CheckedExport",
    "ExportSource",
    "SegmentMismatch",
    "check_export",
    "synthetic_round",
]

#: Exports above this size log each step as it starts, not only when it ends.
LARGE_EXPORT_BYTES = 50_000_000


class SegmentMismatch(CreditLedgerError):
    """The export is for another segment than the model asked to score it."""

    code = "segment_mismatch"
    hint = "score the export with its own segment's model: leave out --segment, or pass the manifest's"
    exit_code = EXIT_INPUT


@dataclass(frozen=True)
class CheckedExport:
    """An export that validated: where it was read from, its hash, its records and its report."""

    directory: Path
    export_hash: bytes
    data: PlatformData
    validation: ValidationResult
    report: bytes

    @property
    def segment(self) -> str:
        return self.data.segment


def check_export(
    directory: str | Path, archive: ExportArchive, log: Callable[[str], None] = lambda _m: None
) -> CheckedExport:
    """Stage, hash, read and validate an export; archive it only if it validates (see the module docstring)."""
    source = Path(directory)
    read_manifest(source)  # a bad manifest is refused before a byte is copied
    size = sum(p.stat().st_size for p in export_files(source))
    large = size > LARGE_EXPORT_BYTES

    def step(what: str) -> float:
        if large:
            log(f"export {source}: {what}…")
        return time.perf_counter()

    started = step(f"copying and hashing {size / 1e6:,.0f} MB")
    with archive.staged(source) as staged:
        hashed = time.perf_counter() - started
        started = step("reading")
        data = read_platform_data(staged.path, shown_as=source)
        read = time.perf_counter() - started
        started = step("validating")
        validation = validate(data)
        report = validation_report(data, validation, staged.export_hash)
        checked = time.perf_counter() - started
        staged.adopt()
    summary = validation.summary
    rejected = len(validation.issues[validation.issues["action"] == "reject"])
    log(
        f"export {source}: {data.segment}, {len(data.entities):,} entities, {summary['input_records']:,} daily "
        f"records: {summary['accepted_records']:,} accepted, {rejected:,} rejected (hash {hashed:.1f}s, read "
        f"{read:.1f}s, validate {checked:.1f}s); archived as {staged.export_hash.hex()}"
    )
    return CheckedExport(source, staged.export_hash, data, validation, report)


class ExportSource:
    """Scores one checked export with the segment's model and policy (held by a :class:`ScoringSource`)."""

    def __init__(self, scoring: ScoringSource, export: CheckedExport) -> None:
        if export.segment != scoring.segment:
            raise SegmentMismatch(
                f"the export {export.directory} is for segment {export.segment!r}, the model for {scoring.segment!r}"
            )
        self.scoring = scoring
        self.export = export
        self.segment = scoring.segment

    def model_document(self) -> bytes:
        return self.scoring.model_document()

    def feature_schema_hash(self) -> bytes:
        return self.scoring.feature_schema_hash()

    def policy_document(self) -> bytes:
        return self.scoring.policy_document()

    def policy_reason(self) -> str:
        return self.scoring.policy_reason()

    def decisions(self, round_id: int, week: int = 0) -> ScoredRound:
        """The export's decisions (its own window, whatever the week), naming the export and its report."""
        export = self.export
        scored = self.scoring.score(export.data, build_features(export.data, export.validation))
        scored.export_hash = export.export_hash
        scored.validation_report = export.report
        return scored


def synthetic_round(
    scoring: ScoringSource, week: int, archive: ExportArchive, log: Callable[[str], None] = lambda _m: None
) -> ExportSource:
    """The synthetic platform's week ``week`` written to disk as an export, checked, ready to score like any other."""
    written = archive.path_for(archive.put(scoring.generate_week(week)))
    log(f"synthetic platform: week {week} of {scoring.merchants:,} {scoring.segment}s written to {written}")
    return ExportSource(scoring, check_export(written, archive, log))
