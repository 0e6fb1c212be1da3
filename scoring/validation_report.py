"""The validation report: what validation did to one export, as canonical JSON bytes.

A round stores it as a content-addressed document and names its hash in the batch
file, next to the export hash, so an auditor holding the export can validate it
again and get the same bytes. The report is canonical JSON (:mod:`scoring.canonical`:
sorted keys, no spaces, ASCII) of::

    {"format": "credit-ledger-validation-report/1",
     "export_hash": "<hex>", "segment": "merchant", "window_start": "...", "window_end": "...",
     "entities": {"input": 1000, "with_valid_records": 998},
     "records": {"input": 60000, "accepted": 59700, "rejected": 280, "repaired": 512},
     "rules": {"<rule>": {"action": "reject" | "repair", "records": <count>}, ...every rule...},
     "rejected": [{"row": 7, "date": "2025-04-05" | null,
                   "rule": "invalid_value", "column": "orders", "reason": "'12,5' is not a number"}, ...]}

``row`` is the record's row in the daily table as a spreadsheet shows its CSV form
(the header is row 1), for Parquet exports too. ``rejected`` lists every rejected
record in row order; repairs are counted, not listed. ``duplicate`` records are
dropped (the first copy is kept), so ``accepted + rejected + rules.duplicate.records
== input``. The report names no merchant: it sits in the documents directory beside the
batch files, which may be mirrored for monitors, and platform ids are private. A rejected
record is named by its row in the export, which the platform and an auditor holding the
export can look up.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from scoring.canonical import canonical_json_bytes
from scoring.platform import PlatformData
from scoring.tables import spreadsheet_row
from scoring.validate import RULES, ValidationResult

REPORT_FORMAT = "credit-ledger-validation-report/1"


def validation_report(data: PlatformData, result: ValidationResult, export_hash: bytes) -> bytes:
    """The canonical bytes of the validation report of ``data`` (see the module docstring)."""
    issues = result.issues
    rejects = issues[issues["action"] == "reject"].sort_values("position", kind="stable")
    repairs = issues[issues["action"] == "repair"]
    counts = issues.groupby("rule").size()
    dropped = set(repairs.loc[repairs["rule"] == "duplicate", "position"].tolist())
    repaired = set(repairs["position"].tolist()) - dropped
    days = pd.to_datetime(rejects["date"])
    shown_days: list[str | None] = days.dt.strftime("%Y-%m-%d").astype(object).where(days.notna(), None).tolist()
    rejected: list[dict[str, Any]] = [
        {"row": spreadsheet_row(int(p)), "date": d, "rule": r, "column": c, "reason": why}
        for p, d, r, c, why in zip(
            rejects["position"].tolist(),
            shown_days,
            rejects["rule"].tolist(),
            rejects["column"].tolist(),
            rejects["reason"].tolist(),
        )
    ]
    report = {
        "format": REPORT_FORMAT,
        "export_hash": export_hash.hex(),
        "segment": data.segment,
        "window_start": data.window_start.isoformat(),
        "window_end": data.window_end.isoformat(),
        "entities": {
            "input": len(data.entities),
            "with_valid_records": int((result.entity_stats["history_days"] > 0).sum()),
        },
        "records": {
            "input": int(result.summary["input_records"]),
            "accepted": int(result.summary["accepted_records"]),
            "rejected": len(rejected),
            "repaired": len(repaired),
        },
        "rules": {rule: {"action": action, "records": int(counts.get(rule, 0))} for rule, action in RULES.items()},
        "rejected": rejected,
    }
    return canonical_json_bytes(report)
