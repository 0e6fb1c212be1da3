"""The audit replay on a real ledger: clean passes, and each kind of tampering is named precisely."""

from __future__ import annotations

import json

import sqlalchemy as sa
from ledger_support import LedgerCopy, LedgerEnv

from audit.replay import replay
from audit.report import AuditReport
from ledger.store.schema import decisions


def _only_failures(report: AuditReport) -> set[str]:
    return set(report.failed_checks())


def test_clean_replay_passes(ledger_env: LedgerEnv, ledger_copy: LedgerCopy) -> None:
    report = replay(ledger_copy.contracts, ledger_copy.documents, ledger_copy.store)
    assert report.ok, report.to_json()
    rounds = [r.round_id for r in ledger_env.rounds]
    assert report.rounds == rounds
    n = sum(r.decisions for r in ledger_env.rounds)
    checks = report.checks
    assert checks["store.leaf"].checked == n
    assert checks["inputs.commitment"].checked == n
    assert checks["rescore"].checked == n
    assert checks["hash_chain"].checked == n
    assert checks["batch.document"].checked == len(rounds)
    assert checks["model.document"].checked >= 1 and checks["policy.document"].checked >= 1
    assert report.events.get("CreditLedger.BatchAnchored") == len(rounds)
    # round 2 really links to round 1 (not all-zero prev hashes)
    second = list(ledger_copy.store.decisions_in_round(rounds[1]))
    assert any(d.prev_leaf_hash != bytes(32) for d in second)
    # the JSON form is stable and hashable
    assert json.loads(report.to_bytes())["ok"] is True
    assert len(report.report_hash()) == 32


def test_tampered_store_leaf_is_named(ledger_env: LedgerEnv, ledger_copy: LedgerCopy) -> None:
    r = ledger_env.rounds[0].round_id
    victim = next(iter(ledger_copy.store.decisions_in_round(r)))
    with ledger_copy.store.engine.begin() as conn:
        conn.execute(
            sa.update(decisions)
            .where(decisions.c.round_id == r, decisions.c.leaf_index == victim.leaf_index)
            .values(score=victim.score + 7)
        )
    report = replay(ledger_copy.contracts, ledger_copy.documents, ledger_copy.store)
    assert not report.ok
    assert _only_failures(report) == {"store.leaf"}
    d = report.checks["store.leaf"].first
    assert d is not None and report.checks["store.leaf"].failed == 1
    assert (d.round, d.merchant_key, d.field) == (r, "0x" + victim.merchant_key.hex(), "score")
    assert (d.expected, d.found) == (victim.score, victim.score + 7)
    assert d.file and d.file.endswith(ledger_env.rounds[0].batch_hash.hex())


def test_tampered_batch_file_is_named(ledger_env: LedgerEnv, ledger_copy: LedgerCopy) -> None:
    result = ledger_env.rounds[1]
    path = ledger_copy.settings.documents_dir / result.batch_hash.hex()
    doc = json.loads(path.read_bytes())
    doc["values"][3]["value"][2] = str(int(doc["values"][3]["value"][2]) + 1)  # one score, one leaf
    path.write_bytes(json.dumps(doc, separators=(",", ":")).encode())
    report = replay(ledger_copy.contracts, ledger_copy.documents, ledger_copy.store)
    assert _only_failures(report) == {"batch.document"}
    d = report.checks["batch.document"].first
    assert d is not None
    assert d.round == result.round_id and d.field == "sha256"
    assert d.expected == "0x" + result.batch_hash.hex() and d.found != d.expected
    assert d.file == str(path)
    # the store's leaves rebuild the anchored root, so the rest of the round is still audited
    assert report.checks["rescore"].checked == sum(r.decisions for r in ledger_env.rounds)


def test_tampered_input_is_named(ledger_env: LedgerEnv, ledger_copy: LedgerCopy) -> None:
    r = ledger_env.rounds[1].round_id
    victim = list(ledger_copy.store.decisions_in_round(r))[5]
    assert victim.feature_bytes is not None
    changed = bytearray(victim.feature_bytes)
    changed[-1] ^= 0x01
    with ledger_copy.store.engine.begin() as conn:
        conn.execute(
            sa.update(decisions)
            .where(decisions.c.round_id == r, decisions.c.leaf_index == victim.leaf_index)
            .values(feature_bytes=bytes(changed))
        )
    report = replay(ledger_copy.contracts, ledger_copy.documents, ledger_copy.store)
    assert _only_failures(report) == {"inputs.commitment"}
    d = report.checks["inputs.commitment"].first
    assert d is not None and report.checks["inputs.commitment"].failed == 1
    assert (d.round, d.merchant_key, d.field) == (r, "0x" + victim.merchant_key.hex(), "feature_commitment")
    assert d.expected == "0x" + victim.feature_commitment.hex()


def test_tampered_policy_document_is_named(ledger_env: LedgerEnv, ledger_copy: LedgerCopy) -> None:
    contracts = ledger_copy.contracts
    version = ledger_env.rounds[0]  # any round: all use the active policy
    stored = ledger_copy.store.get_round(version.round_id)
    params_hash = bytes(contracts.policies.functions.policy(stored.policy_version).call()[2])
    path = ledger_copy.settings.documents_dir / params_hash.hex()
    policy = json.loads(path.read_bytes())
    policy["cutoff_score"] = int(policy["cutoff_score"]) - 50  # a looser policy, quietly swapped in
    path.write_bytes(json.dumps(policy, sort_keys=True, separators=(",", ":")).encode())
    report = replay(contracts, ledger_copy.documents, ledger_copy.store)
    assert _only_failures(report) == {"policy.document"}
    d = report.checks["policy.document"].first
    assert d is not None and d.field == "sha256" and d.file == str(path)
    assert d.expected == "0x" + params_hash.hex()
    # nothing was re-scored against an unverified policy, and the report says so
    assert report.checks["rescore"].checked == 0
    assert any("not available" in note for note in report.checks["rescore"].notes)
