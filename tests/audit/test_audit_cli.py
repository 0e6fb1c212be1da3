"""``credit-ledger audit replay`` and ``credit-ledger events``: exit codes, JSON report, --record."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import sqlalchemy as sa
from ledger_support import LedgerCopy, LedgerEnv
from typer.testing import CliRunner

from credit_ledger.audit_cmd import audit_app
from credit_ledger.events_cmd import events_app
from ledger.store.schema import decisions

runner = CliRunner()


def _env(copy: LedgerCopy, ledger_env: LedgerEnv) -> dict[str, str]:
    return {
        "CREDIT_LEDGER_HOME": str(copy.settings.home),
        "CREDIT_LEDGER_RPC_URL": ledger_env.settings.rpc_url,
        "CREDIT_LEDGER_CHAIN_ID": str(ledger_env.contracts.chain.chain_id),
        "CREDIT_LEDGER_DATABASE_URL": copy.settings.database_url,
    }


def test_replay_cli_passes_writes_json_and_records(
    ledger_env: LedgerEnv, ledger_copy: LedgerCopy, tmp_path: Path
) -> None:
    out = tmp_path / "report.json"
    ledger = ledger_env.contracts.ledger.functions
    before = ledger.auditCount().call()
    result = runner.invoke(audit_app, ["replay", "--json", str(out), "--record"], env=_env(ledger_copy, ledger_env))
    assert result.exit_code == 0, result.output
    assert "PASSED" in result.output and "recorded audit" in result.output
    data = out.read_bytes()
    assert json.loads(data)["ok"] is True
    assert ledger.auditCount().call() == before + 1
    _auditor, lo, hi, _at, report_hash, uri = ledger.audit(before).call()
    assert (lo, hi) == (ledger_env.rounds[0].round_id, ledger_env.rounds[-1].round_id)
    assert bytes(report_hash) == hashlib.sha256(data).digest() and uri == f"sha256:{hashlib.sha256(data).hexdigest()}"
    assert (ledger_copy.settings.documents_dir / hashlib.sha256(data).hexdigest()).read_bytes() == data


def test_replay_cli_fails_on_discrepancy(ledger_env: LedgerEnv, ledger_copy: LedgerCopy) -> None:
    r = ledger_env.rounds[1].round_id
    with ledger_copy.store.engine.begin() as conn:
        conn.execute(
            sa.update(decisions).where(decisions.c.round_id == r, decisions.c.leaf_index == 0).values(limit_cny=999_000)
        )
    result = runner.invoke(audit_app, ["replay", "--json", "-"], env=_env(ledger_copy, ledger_env))
    assert result.exit_code == 1
    report = json.loads(result.stdout[result.stdout.index("{") :])
    failed = [c for c in report["checks"] if not c["ok"]]
    assert [c["name"] for c in failed] == ["store.leaf"]
    assert failed[0]["discrepancies"][0]["field"] == "limit_cny" and failed[0]["discrepancies"][0]["found"] == 999_000


def test_replay_cli_cannot_run_without_a_node(ledger_copy: LedgerCopy, ledger_env: LedgerEnv) -> None:
    env = {**_env(ledger_copy, ledger_env), "CREDIT_LEDGER_RPC_URL": "http://127.0.0.1:9"}
    result = runner.invoke(audit_app, ["replay"], env=env)
    assert result.exit_code == 2 and "no JSON-RPC node" in result.output


def test_events_cli_sync_and_query(ledger_env: LedgerEnv, ledger_copy: LedgerCopy) -> None:
    env = _env(ledger_copy, ledger_env)
    synced = runner.invoke(events_app, ["sync"], env=env)
    assert synced.exit_code == 0, synced.output
    result = runner.invoke(events_app, ["query", "--event", "BatchAnchored", "--format", "json", "--no-sync"], env=env)
    assert result.exit_code == 0, result.output
    events = json.loads(result.stdout)["events"]
    assert [e["args"]["round"] for e in events] == [r.round_id for r in ledger_env.rounds]
    bad = runner.invoke(events_app, ["query", "--from-block", "9", "--to-block", "1"], env=env)
    assert bad.exit_code == 2
