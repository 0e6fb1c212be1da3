"""The replay checks each round's platform export: re-hashed, re-validated, its features re-derived.

On a private copy of the session ledger (two weekly rounds, each naming the export it
scored): a clean replay passes the three export checks for every decision; one changed
row of an archived export changes its hash, and the replay names the round, the export
and the file, from the library and from ``credit-ledger audit replay --exports``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
from ledger_support import LedgerCopy, LedgerEnv
from typer.testing import CliRunner

from audit.replay import replay
from audit.report import AuditReport
from credit_ledger.audit_cmd import audit_app
from ledger import batchfile
from ledger.documents import DocumentStore
from sources.exports import INDEX_NAME, archive_in, export_index

runner = CliRunner()


def _exports(copy: LedgerCopy) -> Path:
    return archive_in(copy.settings.home).root


def _export_of(copy: LedgerCopy, env: LedgerEnv, i: int) -> tuple[int, bytes, Path]:
    """Round ``i``'s id, the export hash its batch file names, and that export's archived directory."""
    result = env.rounds[i]
    batch = batchfile.from_bytes(DocumentStore(copy.settings.documents_dir).get(result.batch_hash))
    export_hash = bytes.fromhex(batch.metadata.export_hash[2:])
    return result.round_id, export_hash, _exports(copy) / export_hash.hex()


def _change_one_row(directory: Path) -> None:
    """One merchant's orders on one day, one more: what a platform 'correcting' an export would do."""
    daily = pd.read_parquet(directory / "daily.parquet")
    daily.loc[17, "orders"] += 1
    daily.to_parquet(directory / "daily.parquet", index=False)


def _failures(report: AuditReport) -> set[str]:
    return set(report.failed_checks())


def test_a_clean_replay_checks_every_export(ledger_env: LedgerEnv, ledger_copy: LedgerCopy) -> None:
    report = replay(ledger_copy.contracts, ledger_copy.documents, ledger_copy.store, exports=_exports(ledger_copy))
    assert report.ok, report.to_json()
    checks = report.checks
    assert checks["export.hash"].checked == checks["export.report"].checked == len(ledger_env.rounds)
    assert checks["export.features"].checked == sum(r.decisions for r in ledger_env.rounds)
    assert not any(c.skipped for name, c in checks.items() if name.startswith("export."))


def test_a_changed_row_gives_another_export_hash_and_the_replay_names_it(
    ledger_env: LedgerEnv, ledger_copy: LedgerCopy
) -> None:
    round_id, export_hash, directory = _export_of(ledger_copy, ledger_env, 1)
    _change_one_row(directory)
    report = replay(ledger_copy.contracts, ledger_copy.documents, ledger_copy.store, exports=_exports(ledger_copy))
    assert _failures(report) == {"export.hash"}
    check = report.checks["export.hash"]
    assert check.failed == 1 and check.checked == len(ledger_env.rounds)
    d = check.first
    assert d is not None and d.round == round_id and d.field == "exportHash"
    assert export_hash.hex() in d.message and "daily.parquet changed since it was archived" in d.message
    assert d.expected == "0x" + export_hash.hex() and d.found not in (None, d.expected)
    assert d.file == str(directory / "daily.parquet")
    # the other round's export still passes, and the changed one is not re-judged
    assert report.checks["export.report"].checked == len(ledger_env.rounds) - 1


def test_a_rewritten_index_does_not_hide_the_change(ledger_env: LedgerEnv, ledger_copy: LedgerCopy) -> None:
    round_id, export_hash, directory = _export_of(ledger_copy, ledger_env, 0)
    _change_one_row(directory)
    index = json.loads((directory / INDEX_NAME).read_bytes())
    index["files"] = export_index(directory)  # the tamperer re-hashes the files too
    (directory / INDEX_NAME).write_text(json.dumps(index, sort_keys=True, separators=(",", ":")))
    report = replay(ledger_copy.contracts, ledger_copy.documents, ledger_copy.store, exports=_exports(ledger_copy))
    d = report.checks["export.hash"].first
    assert d is not None and d.round == round_id and export_hash.hex() in d.message and "changed together" in d.message
    assert d.file == str(directory)


def test_a_missing_export_or_report_is_named(ledger_env: LedgerEnv, ledger_copy: LedgerCopy) -> None:
    first, _, directory = _export_of(ledger_copy, ledger_env, 0)
    shutil.rmtree(directory)
    second = ledger_env.rounds[1]
    stored = ledger_copy.store.get_round(second.round_id)
    assert stored.validation_report_hash is not None
    (ledger_copy.settings.documents_dir / stored.validation_report_hash.hex()).unlink()
    report = replay(ledger_copy.contracts, ledger_copy.documents, ledger_copy.store, exports=_exports(ledger_copy))
    assert _failures(report) == {"export.hash", "export.report"}
    missing = report.checks["export.hash"].first
    assert missing is not None and missing.round == first and "is missing" in missing.message
    gone = report.checks["export.report"].first
    assert gone is not None and gone.round == second.round_id and "document is missing" in gone.message


def test_replay_cli_reads_the_exports_it_is_given(
    ledger_env: LedgerEnv, ledger_copy: LedgerCopy, tmp_path: Path
) -> None:
    env = {
        "CREDIT_LEDGER_HOME": str(ledger_copy.settings.home),
        "CREDIT_LEDGER_RPC_URL": ledger_env.settings.rpc_url,
        "CREDIT_LEDGER_CHAIN_ID": str(ledger_env.contracts.chain.chain_id),
        "CREDIT_LEDGER_DATABASE_URL": ledger_copy.settings.database_url,
    }
    handed_over = tmp_path / "from-the-platform"
    shutil.copytree(_exports(ledger_copy), handed_over)  # what the platform hands the auditor
    round_id, export_hash, _ = _export_of(ledger_copy, ledger_env, 1)
    _change_one_row(handed_over / export_hash.hex())
    clean = runner.invoke(audit_app, ["replay", "--json", "-"], env=env)  # default: the ledger's own archive
    assert clean.exit_code == 0, clean.output
    result = runner.invoke(audit_app, ["replay", "--exports", str(handed_over), "--json", "-"], env=env)
    assert result.exit_code == 1
    body = json.loads(result.stdout[result.stdout.index("{") :])
    failed = [c for c in body["checks"] if not c["ok"]]
    assert [c["name"] for c in failed] == ["export.hash"]
    d = failed[0]["discrepancies"][0]
    assert d["round"] == round_id and export_hash.hex() in d["message"]
    assert d["file"] == str(handed_over / export_hash.hex() / "daily.parquet")
