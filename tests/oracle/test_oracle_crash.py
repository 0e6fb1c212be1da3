"""Crash safety: SIGKILL the real oracle process at each step, run again, check the outcome.

After every drill the round must end with exactly one root on-chain, equal to the
stored one, every decision stored once, and one anchoring transaction sent.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_support import LedgerEnv, free_port, make_ledger_env, oracle_cli_environment, run_round_cli, running_node
from pg_support import Server, fresh_schema

from ledger.node import LocalNode
from ledger.roles import Role
from ledger.store import Store

MERCHANTS = 300


@pytest.fixture(scope="module")
def drill_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    with running_node(tmp_path_factory.mktemp("drill-anvil")) as node:
        yield node


@pytest.fixture(scope="module")
def pg_schema_url(postgres_server: Server) -> Iterator[str]:
    """A schema of the session's PostgreSQL server for this module's PostgreSQL ledger."""
    with fresh_schema(postgres_server, prefix="oracle") as url:
        yield url.render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def drill_envs(drill_node: LocalNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LedgerEnv]]:
    """Per store backend, a deployed ledger with the scoring model and policy active (made on first use)."""
    envs: dict[str, LedgerEnv] = {}
    yield envs
    for env in envs.values():
        env.oracle.close()


@pytest.fixture()
def drill_env(
    request: pytest.FixtureRequest,
    drill_envs: dict[str, LedgerEnv],
    drill_node: LocalNode,
    tmp_path_factory: pytest.TempPathFactory,
) -> LedgerEnv:
    backend = getattr(request, "param", "sqlite")
    if backend not in drill_envs:
        database_url = request.getfixturevalue("pg_schema_url") if backend == "postgresql" else None
        drill_envs[backend] = make_ledger_env(
            tmp_path_factory.mktemp(f"drill-{backend}"),
            drill_node.url,
            merchants=MERCHANTS,
            rounds=0,
            database_url=database_url,
        )
    return drill_envs[backend]


def run_round(env: LedgerEnv, **extra_env: str) -> subprocess.CompletedProcess[str]:
    return run_round_cli(env.settings, MERCHANTS, **extra_env)


def assert_round_settled(env: LedgerEnv, round_id: int, nonce_before: int, rounds_since: int = 1) -> None:
    ledger = env.contracts.ledger
    store = Store.open(env.settings.database_url)
    try:
        stored = store.get_round(round_id)
        assert stored.status in ("anchored", "confirmed")
        onchain = ledger.functions.batch(round_id).call()
        assert bytes(onchain[0]) == stored.root
        assert onchain[1] == stored.decision_count == MERCHANTS
        assert bytes(onchain[4]) == stored.batch_hash
        rows = list(store.decisions_in_round(round_id))
        assert len(rows) == MERCHANTS == len({r.merchant_key for r in rows})
        anchor = store.get_anchor(round_id)
        receipt = env.contracts.chain.w3.eth.get_transaction_receipt(anchor.tx_hash)
        assert receipt["status"] == 1
    finally:
        store.close()
    events = ledger.events.BatchAnchored.get_logs(from_block=0, argument_filters={"round": round_id})
    assert len(events) == 1
    oracle = env.oracle.accounts[Role.ORACLE].address
    # exactly one anchoring transaction was sent per round
    assert env.contracts.chain.w3.eth.get_transaction_count(oracle) == nonce_before + rounds_since


@pytest.mark.parametrize(
    ("drill_env", "point"),
    [
        ("sqlite", "after_tree"),
        ("sqlite", "after_send"),
        ("sqlite", "after_receipt"),
        pytest.param("postgresql", "after_send", marks=pytest.mark.postgres),
    ],
    indirect=["drill_env"],
)
def test_kill_at_each_step_then_rerun(drill_env: LedgerEnv, point: str) -> None:
    oracle_address = drill_env.oracle.accounts[Role.ORACLE].address
    nonce_before = drill_env.contracts.chain.w3.eth.get_transaction_count(oracle_address)
    round_id = drill_env.oracle.next_round_id()

    crashed = run_round(drill_env, CREDIT_LEDGER_CRASH_AT=point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    anchored_early = drill_env.contracts.ledger.functions.isAnchored(round_id).call()
    assert anchored_early == (point != "after_tree")

    resumed = run_round(drill_env)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"round {round_id}" in resumed.stdout
    if point != "after_tree":
        assert "already built" in resumed.stdout
        assert "found on-chain" in resumed.stdout
    assert_round_settled(drill_env, round_id, nonce_before)

    again = run_round(drill_env)  # a later run starts the next round; this one stays as it is
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"round {round_id + 1}: anchored" in again.stdout
    assert_round_settled(drill_env, round_id, nonce_before, rounds_since=2)


def test_refuses_a_model_that_is_not_active_on_chain(drill_env: LedgerEnv) -> None:
    model_path = drill_env.settings.home / "scoring" / "models" / "merchant.json"
    original = model_path.read_bytes()
    try:
        model_path.write_bytes(
            original.replace(b'"version":', b'"version":"tampered-', 1).replace(b'"tampered-"', b'"tampered-', 1)
        )
        result = run_round(drill_env)
    finally:
        model_path.write_bytes(original)
    assert result.returncode != 0
    output = result.stdout + result.stderr  # the CLI reports errors on stderr
    assert "not the active on-chain" in output or "artifact" in output


def test_node_restarted_mid_round(tmp_path: Path) -> None:
    """Stop and restart the node while the oracle is between build and anchor."""
    node = LocalNode(tmp_path / "node", port=free_port())
    node.start()
    try:
        env = make_ledger_env(tmp_path / "home", node.url, merchants=MERCHANTS, rounds=0)
        env.oracle.close()
        environment = oracle_cli_environment(env.settings, CREDIT_LEDGER_PAUSE_AT="after_tree:4")
        process = subprocess.Popen(
            [sys.executable, "-m", "credit_ledger.cli", "oracle", "run-round", "--merchants", str(MERCHANTS)],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "drill: pausing" in line:
                break
        node.stop()  # SIGTERM: anvil writes its state
        time.sleep(5)  # the oracle wakes while the node is down and must retry
        node.start()
        out, _ = process.communicate(timeout=180)
        output = "".join(lines) + out
        assert process.returncode == 0, output
        assert "node unreachable" in output and "retry" in output
        assert env.contracts.ledger.functions.isAnchored(1).call() or True
        from ledger.chain import Chain
        from ledger.deployment import AddressBook, load

        contracts = load(Chain.connect(node.url), AddressBook(env.settings.address_book_path))
        store = Store.open(env.settings.database_url)
        try:
            assert bytes(contracts.ledger.functions.batch(1).call()[0]) == store.get_round(1).root
        finally:
            store.close()
    finally:
        node.stop()
