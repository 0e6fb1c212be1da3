"""The audit report: what a replay checked, how much, and the first failure of each kind.

A report is plain data (dataclasses) with a canonical JSON form; its SHA-256 is the
``reportHash`` an auditor records on-chain (``CreditLedger.recordAudit``), so anyone
holding the JSON can check that it is the one attested. :func:`render` draws it as
rich tables for the terminal.

Each check has a stable name (``batch.document``, ``store.leaf``, ``rescore`` ...),
a count of items checked and failed, and up to :data:`SAMPLES_PER_CHECK` failures
with enough detail to act on: round, merchant key, field, expected vs found, file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from ledger.documents import content_hash

SAMPLES_PER_CHECK = 5

#: Check names, in report order, with what each one establishes.
CHECKS: dict[str, str] = {
    "events": "every event of every contract decodes; on-chain batch count matches the events",
    "model.document": "each registered model's artifact matches its on-chain hash and feature schema hash",
    "policy.document": "each proposed policy's parameter set matches its on-chain hash",
    "batch.document": "each anchored round's batch file exists and matches the anchored content hash",
    "batch.tree": "each batch file parses and its rebuilt root equals its own metadata",
    "batch.anchor": "rebuilt root, decision count, model and policy equal what BatchAnchored recorded",
    "batch.leaves": "every leaf carries the round, model and policy of its batch; one leaf per merchant",
    "hash_chain": "each leaf's prev_leaf_hash is the same merchant's previous leaf hash (zero for its first)",
    "store.round": "the store's round rows agree with the chain (root, content hash, count, status)",
    "store.leaf": "the store's leaves equal the batch file's, field by field",
    "inputs.missing": "the store holds the private inputs (salt, feature bytes) of every decision",
    "inputs.commitment": "keccak(salt || feature_bytes) equals each leaf's feature commitment",
    "rescore": "re-scoring the committed inputs with the named model and policy gives the leaf's decision",
    "export.hash": "each round's platform export is there, and its files hash to the export hash its batch file names",
    "export.report": "validating that export again gives the validation report its batch file names, stored as a document",
    "export.features": "the features derived again from that export equal every decision's committed feature bytes",
}


@dataclass(frozen=True)
class Discrepancy:
    """One failed check, precise enough to act on."""

    check: str
    message: str
    round: int | None = None
    merchant_key: str | None = None
    field: str | None = None
    expected: Any = None
    found: Any = None
    file: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class CheckResult:
    """Tally of one check across the whole replay."""

    name: str
    description: str
    checked: int = 0
    failed: int = 0
    skipped: int = 0
    samples: list[Discrepancy] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def first(self) -> Discrepancy | None:
        return self.samples[0] if self.samples else None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "ok": self.ok,
            "checked": self.checked,
            "failed": self.failed,
            "skipped": self.skipped,
            "discrepancies": [d.to_json() for d in self.samples],
            "notes": list(self.notes),
        }


@dataclass
class AuditReport:
    """The outcome of one replay of the ledger."""

    chain_id: int
    contracts: dict[str, str]
    from_block: int
    to_block: int
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    rounds: list[int] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    checks: dict[str, CheckResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name, description in CHECKS.items():
            self.checks.setdefault(name, CheckResult(name, description))

    # -- recording --------------------------------------------------------------

    def passed(self, check: str, n: int = 1) -> None:
        self.checks[check].checked += n

    def skipped(self, check: str, n: int = 1, note: str | None = None) -> None:
        result = self.checks[check]
        result.skipped += n
        if note and note not in result.notes:
            result.notes.append(note)

    def fail(self, discrepancy: Discrepancy) -> None:
        result = self.checks[discrepancy.check]
        result.checked += 1
        result.failed += 1
        if len(result.samples) < SAMPLES_PER_CHECK:
            result.samples.append(discrepancy)

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    # -- reading ----------------------------------------------------------------

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks.values())

    def failed_checks(self) -> list[str]:
        return [name for name, c in self.checks.items() if not c.ok]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "credit-ledger-audit-v1",
            "ok": self.ok,
            "chain_id": self.chain_id,
            "contracts": dict(self.contracts),
            "from_block": self.from_block,
            "to_block": self.to_block,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "rounds": list(self.rounds),
            "counts": dict(sorted(self.counts.items())),
            "events": dict(sorted(self.events.items())),
            "checks": [c.to_json() for c in self.checks.values()],
            "notes": list(self.notes),
        }

    def to_bytes(self) -> bytes:
        """Canonical JSON bytes (sorted keys, no whitespace): what :meth:`report_hash` hashes."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"), default=str).encode()

    def report_hash(self) -> bytes:
        return content_hash(self.to_bytes())


def _short(value: Any, width: int = 24) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def render(report: AuditReport, console: Any | None = None) -> None:
    """Print the report as rich tables: the checks, then the first discrepancy of each failed one."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    verdict = "[green]PASSED[/green]" if report.ok else "[red]FAILED[/red]"
    console.print(
        f"Audit replay of chain {report.chain_id}, blocks {report.from_block}..{report.to_block}, "
        f"rounds {report.rounds[0] if report.rounds else '-'}..{report.rounds[-1] if report.rounds else '-'}: {verdict}"
    )
    counts = ", ".join(f"{k} {v:,}" for k, v in sorted(report.counts.items()))
    if counts:
        console.print(f"[dim]{counts}[/dim]")
    table = Table(title="checks")
    table.add_column("check")
    table.add_column("what it establishes", overflow="fold")
    table.add_column("checked", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("skipped", justify="right")
    for c in report.checks.values():
        failed = f"[red]{c.failed:,}[/red]" if c.failed else "0"
        table.add_row(c.name, c.description, f"{c.checked:,}", failed, f"{c.skipped:,}" if c.skipped else "")
    console.print(table)
    failing = [c for c in report.checks.values() if c.failed]
    if failing:
        detail = Table(title="first discrepancy of each kind")
        for col in ("check", "round", "merchant key", "field", "expected", "found", "file", "message"):
            detail.add_column(col, overflow="fold")
        for c in failing:
            d = c.first
            assert d is not None
            detail.add_row(
                d.check,
                _short(d.round),
                _short(d.merchant_key, 14),
                _short(d.field),
                _short(d.expected, 20),
                _short(d.found, 20),
                _short(d.file, 30),
                d.message,
            )
        console.print(detail)
    for c in report.checks.values():
        for note in c.notes:
            console.print(f"[yellow]note[/yellow] {c.name}: {note}")
    for note in report.notes:
        console.print(f"[yellow]note[/yellow] {note}")
