"""The README's demo, end to end through the real CLI: twice, the second run reusing everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ledger_support import free_port

from ledger import batchfile
from ledger.chain import Chain
from ledger.deployment import AddressBook, load
from ledger.documents import DocumentStore
from ledger.node import LocalNode


def _cli(home: Path, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CREDIT_LEDGER_HOME=str(home), CREDIT_LEDGER_NODE_PORT=str(port), COLUMNS="200")
    env.pop("CREDIT_LEDGER_RPC_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "credit_ledger.cli", *args], env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture()
def demo_home(tmp_path: Path):
    port = free_port()
    yield tmp_path, port
    LocalNode(tmp_path / "node", port=port).stop()


def test_demo_twice_reuses_chain_and_chains_leaves(demo_home: tuple[Path, int]) -> None:
    home, port = demo_home
    first = _cli(home, port, "demo", "--merchants", "300")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "deploying on chain 31337" in first.stdout
    assert "decision verified on-chain: yes" in first.stdout.replace("latest decision verified", "decision verified")

    # Stop the node between runs: the second run must find the chain state on disk.
    assert _cli(home, port, "node", "stop").returncode == 0
    second = _cli(home, port, "demo", "--merchants", "300")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "reusing deployment" in second.stdout
    assert "round 4: anchored" in second.stdout and "round 5: anchored" in second.stdout
    assert "on-demand round 6: 3 decisions anchored" in second.stdout

    chain = Chain.connect(f"http://127.0.0.1:{port}")
    contracts = load(chain, AddressBook(home / "deployments.json"))
    assert contracts.ledger.functions.roundCount().call() == 6
    store = DocumentStore(home / "documents")
    latest: dict[bytes, bytes] = {}
    weekly_scores = []
    for r in range(1, 7):
        root, count, _model, _policy, content_hash, _at, _block = contracts.ledger.functions.batch(r).call()
        batch = batchfile.from_bytes(store.get(bytes(content_hash)))
        assert batch.root == bytes(root) and count == len(batch.leaves) == (3 if r in (3, 6) else 300)
        for leaf in batch.leaves:
            # Every leaf points at the same merchant's previous leaf: the history is a hash chain.
            assert leaf.prev_leaf_hash == latest.get(leaf.merchant_key, bytes(32))
            latest[leaf.merchant_key] = leaf.leaf_hash()
        if count == 300:
            weekly_scores.append({leaf.merchant_key: leaf.score for leaf in batch.leaves})
    # Behaviour moves week to week, so some scores change between rounds.
    assert any(weekly_scores[0][k] != weekly_scores[-1][k] for k in weekly_scores[0])
    book = json.loads((home / "deployments.json").read_text())
    assert set(book["chains"]["31337"]["addresses"]) == {
        "IdentityRegistry",
        "ModelRegistry",
        "PolicyTimelock",
        "PolicyRegistry",
        "CreditLedger",
    }


def test_cli_help_lists_commands() -> None:
    result = subprocess.run([sys.executable, "-m", "credit_ledger.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for command in ("node", "deploy", "demo"):
        assert command in result.stdout


def test_deploy_without_node_gives_clear_error(tmp_path: Path) -> None:
    env = dict(os.environ, CREDIT_LEDGER_HOME=str(tmp_path), CREDIT_LEDGER_RPC_URL=f"http://127.0.0.1:{free_port()}")
    result = subprocess.run(
        [sys.executable, "-m", "credit_ledger.cli", "deploy"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 1
    # reported once by the CLI, on stderr: code, message, hint
    assert "error[chain_unavailable]: no JSON-RPC node answers" in result.stderr
