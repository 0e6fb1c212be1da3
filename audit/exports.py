"""The replay's export checks: each round's platform export, read again and judged again.

A round scored from a platform export names it in its batch file (``exportHash``, the
export hash of :mod:`sources.exports`) and names its validation report
(``validationReportHash``); the batch file's own hash is anchored, so both are as
trusted as the root. Given a directory of exports laid out as the archive lays them
out (``<dir>/<export hash hex>/``: the operator's archive, or what the platform handed
the auditor again), for each audited round:

1. ``export.hash``: the export is there and its files hash to the export hash; a
   changed row changes its file's SHA-256 and so the hash, and the discrepancy names
   the round, the export and the file (from the export's ``index.json``, when that was
   left alone); the store's round names the same export.
2. ``export.report``: the export read and validated again (``scoring``) gives the
   validation report whose hash the batch file names, and that document is stored.
3. ``export.features``: the features derived again from the export, encoded by the
   round's model, equal the committed feature bytes of every decision (the bytes the
   commitments were checked against), and the round decided every entity once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.report import AuditReport, Discrepancy
from ledger import batchfile
from ledger.documents import DocumentMissing, DocumentSource, content_hash
from ledger.store import DecisionRow, RoundRow
from scoring.engine import score_columns
from scoring.errors import DataFormatError
from scoring.export import read_platform_data
from scoring.features import build_features
from scoring.validate import validate
from scoring.validation_report import validation_report
from sources.exports import INDEX_NAME, ExportError, export_hash_of, export_index

__all__ = ["RoundExport", "check_round_export"]


@dataclass(frozen=True)
class RoundExport:
    """What the replay knows of one audited round, for its export checks."""

    round: int
    batch: batchfile.Batch | None  # the trusted batch file, if it was usable
    rows: list[DecisionRow] | None  # the store's decisions (None: no store)
    stored: RoundRow | None  # the store's round row
    artifact: Any  # the round's model artifact, verified (None: not available)
    policy: Any  # the round's policy, verified (None: not available)


def check_round_export(target: RoundExport, exports: Path, documents: DocumentSource, report: AuditReport) -> None:
    """Run the three export checks of one round (see the module docstring); never raises."""
    r = target.round
    if target.batch is None:
        report.skipped("export.hash", note=f"round {r}: no trusted batch file names its export")
        return
    meta = target.batch.metadata
    if not meta.export_hash:
        report.skipped(
            "export.hash",
            note=f"round {r}: its batch file names no export (an on-demand round, or one built before exports were recorded)",
        )
        return
    export_hash = bytes.fromhex(meta.export_hash[2:])
    directory = exports / export_hash.hex()
    if not _hash_holds(r, export_hash, directory, report):
        return
    if target.stored is not None and target.stored.export_hash != export_hash:
        report.fail(
            Discrepancy(
                "export.hash",
                f"round {r}: the store's round names another export than its batch file",
                round=r,
                field="export_hash",
                expected=meta.export_hash,
                found="0x" + target.stored.export_hash.hex() if target.stored.export_hash else None,
            )
        )
    try:
        data = read_platform_data(directory)
        validation = validate(data)
    except DataFormatError as exc:
        report.fail(
            Discrepancy(
                "export.report",
                f"round {r}: its export {export_hash.hex()} no longer validates: {exc.message}",
                round=r,
                field=exc.code,
                file=exc.file,
            )
        )
        return
    _report_holds(r, validation_report(data, validation, export_hash), meta, documents, report)
    if target.rows is None:
        report.skipped("export.features", note="no store given: features derived from exports were not compared")
        return
    if target.artifact is None or target.policy is None:
        report.skipped(
            "export.features",
            len(target.rows),
            note=f"round {r}: its model or policy is not available as a verified document",
        )
        return
    batch = score_columns(target.artifact, target.policy, build_features(data, validation), data.as_of)
    derived = dict(zip(batch.merchant_id.tolist(), batch.feature_bytes))
    _features_hold(r, derived, target.rows, str(directory), report)


def _hash_holds(r: int, export_hash: bytes, directory: Path, report: AuditReport) -> bool:
    expected = "0x" + export_hash.hex()
    if not directory.is_dir():
        report.fail(
            Discrepancy(
                "export.hash",
                f"round {r}: its export {export_hash.hex()} is missing",
                round=r,
                field="exportHash",
                expected=expected,
                file=str(directory),
            )
        )
        return False
    try:
        found = export_hash_of(directory)
    except ExportError as exc:
        report.fail(Discrepancy("export.hash", f"round {r}: {exc}", round=r, field="exportHash", file=str(directory)))
        return False
    if found == export_hash:
        report.passed("export.hash")
        return True
    changed = _changed_files(directory)
    what = (
        f"{', '.join(changed)} changed since it was archived"
        if changed
        else "its files and its index.json were changed together"
    )
    report.fail(
        Discrepancy(
            "export.hash",
            f"round {r}: its export {export_hash.hex()} no longer hashes to the export hash its batch file names: {what}",
            round=r,
            field="exportHash",
            expected=expected,
            found="0x" + found.hex(),
            file=str(directory / changed[0]) if changed else str(directory),
        )
    )
    return False


def _changed_files(directory: Path) -> list[str]:
    """The files whose SHA-256 differs from the export's own ``index.json`` (added or removed ones too)."""
    try:
        listed: dict[str, str] = json.loads((directory / INDEX_NAME).read_bytes())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    present = export_index(directory)
    return sorted(name for name in set(listed) | set(present) if listed.get(name) != present.get(name))


def _report_holds(
    r: int, rebuilt: bytes, meta: batchfile.BatchMetadata, documents: DocumentSource, report: AuditReport
) -> None:
    digest = content_hash(rebuilt)
    expected = meta.validation_report_hash
    if expected != "0x" + digest.hex():
        report.fail(
            Discrepancy(
                "export.report",
                f"round {r}: validating its export again gives another validation report than the batch file names",
                round=r,
                field="validationReportHash",
                expected=expected or None,
                found="0x" + digest.hex(),
            )
        )
        return
    try:
        stored = documents.fetch(digest)
    except DocumentMissing as exc:
        report.fail(
            Discrepancy(
                "export.report",
                f"round {r}: its validation report document is missing: {exc}",
                round=r,
                field="sha256",
                expected=expected,
            )
        )
        return
    if stored.data != rebuilt:
        report.fail(
            Discrepancy(
                "export.report",
                f"round {r}: the stored validation report differs from the one its export gives",
                round=r,
                field="sha256",
                expected=expected,
                found="0x" + content_hash(stored.data).hex(),
                file=stored.location,
            )
        )
        return
    report.passed("export.report")


def _features_hold(r: int, derived: dict[str, bytes], rows: list[DecisionRow], file: str, report: AuditReport) -> None:
    if len(rows) != len(derived):
        report.fail(
            Discrepancy(
                "export.features",
                f"round {r}: the round holds {len(rows):,} decisions, its export {len(derived):,} entities",
                round=r,
                field="decision_count",
                expected=len(derived),
                found=len(rows),
                file=file,
            )
        )
    for row in rows:
        want = derived.get(row.merchant_id)
        if want is not None and want == row.feature_bytes:
            report.passed("export.features")
            continue
        report.fail(
            Discrepancy(
                "export.features",
                f"round {r}: the merchant's committed feature bytes are not those its export gives"
                if want is not None
                else f"round {r}: a decision for a merchant its export does not hold",
                round=r,
                merchant_key="0x" + row.merchant_key.hex(),
                field="feature_bytes",
                file=file,
            )
        )
