"""Confirmations and reorgs: the oracle calls a round final only at the configured depth.

A real anvil node in three modes: mining a block every second on its own (the
``run-round`` CLI waits for ``CREDIT_LEDGER_CONFIRMATIONS`` blocks), and mining on
demand while the test reorganises the chain under a waiting oracle with
``anvil_reorg``: once dropping the anchoring transaction (the oracle must send it
again, with the same nonce) and once replaying it into a different block (the
oracle must record the new block and count from there).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from ledger_support import LedgerEnv, make_ledger_env, run_round_cli, running_node
from web3.types import RPCEndpoint

from ledger.node import LocalNode
from ledger.roles import Role
from ledger.store import AnchorConflict, AnchorRow, NotFound, Store
from oracle.service import Oracle, RoundResult

MERCHANTS = 120


@pytest.fixture(scope="module")
def confirm_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    with running_node(tmp_path_factory.mktemp("confirm-anvil")) as node:
        yield node


@pytest.fixture(scope="module")
def confirm_env(confirm_node: LocalNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerEnv]:
    env = make_ledger_env(tmp_path_factory.mktemp("confirm-home"), confirm_node.url, merchants=MERCHANTS, rounds=0)
    yield env
    env.oracle.close()


def rpc(env: LedgerEnv, method: str, *params: object) -> object:
    response = env.contracts.chain.w3.provider.make_request(RPCEndpoint(method), list(params))
    assert "error" not in response, response
    return response.get("result")


@pytest.fixture()
def on_demand_mining(confirm_env: LedgerEnv) -> Iterator[None]:
    yield
    rpc(confirm_env, "evm_setIntervalMining", 0)
    rpc(confirm_env, "evm_setAutomine", True)


def oracle_with(env: LedgerEnv, confirmations: int, log: list[str]) -> Oracle:
    settings = env.settings.model_copy(update={"confirmations": confirmations})
    return Oracle(settings, log=log.append, accounts=env.oracle.accounts)


def oracle_nonce(env: LedgerEnv) -> int:
    return env.contracts.chain.w3.eth.get_transaction_count(env.oracle.accounts[Role.ORACLE].address)


def assert_one_canonical_anchor(env: LedgerEnv, round_id: int, confirmations: int) -> None:
    """One BatchAnchored on the canonical chain, in the block the store names, deep enough."""
    w3 = env.contracts.chain.w3
    events = env.contracts.ledger.events.BatchAnchored.get_logs(from_block=0, argument_filters={"round": round_id})
    assert len(events) == 1
    store = Store.open(env.settings.database_url)
    try:
        stored = store.get_round(round_id)
        anchor = store.get_anchor(round_id)
    finally:
        store.close()
    assert stored.status == "confirmed" and anchor.status == "confirmed"
    assert bytes(env.contracts.ledger.functions.batch(round_id).call()[0]) == stored.root
    assert bytes(events[0]["transactionHash"]) == anchor.tx_hash
    receipt = w3.eth.get_transaction_receipt(anchor.tx_hash)
    assert receipt["status"] == 1
    assert (receipt["blockNumber"], bytes(receipt["blockHash"])) == (anchor.block_number, anchor.block_hash)
    assert anchor.confirmations >= confirmations
    assert w3.eth.block_number - anchor.block_number >= anchor.confirmations


class RoundInThread:
    """``oracle.run_round`` on a thread, so the test can reorganise the chain under it."""

    def __init__(self, oracle: Oracle, env: LedgerEnv) -> None:
        self.oracle, self.env = oracle, env
        self.round_id = oracle.next_round_id()
        self.outcome: dict[str, object] = {}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.outcome["result"] = self.oracle.run_round(self.env.source, round_id=self.round_id)
        except BaseException as exc:  # noqa: BLE001 - whatever ends the thread is surfaced by finish()
            self.outcome["error"] = exc

    def first_anchor(self) -> AnchorRow:
        """Wait until the anchoring transaction is mined and recorded; its record."""
        wait_for(lambda: _anchor_status(self.oracle, self.round_id) == "mined", "the anchor to be mined")
        return self.oracle.store.get_anchor(self.round_id)

    def finish(self) -> RoundResult:
        """Mine blocks until the oracle has its confirmations and returns; its result."""
        while self.thread.is_alive():
            rpc(self.env, "evm_mine")
            self.thread.join(0.3)
        assert "error" not in self.outcome, self.outcome.get("error")
        result = self.outcome["result"]
        assert isinstance(result, RoundResult) and result.round_id == self.round_id
        return result


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_run_round_waits_for_confirmations_on_a_mining_chain(confirm_env: LedgerEnv, on_demand_mining: None) -> None:
    rpc(confirm_env, "evm_setAutomine", False)
    rpc(confirm_env, "evm_setIntervalMining", 1)  # a block every second, whether or not anyone sends
    round_id = confirm_env.oracle.next_round_id()
    done = run_round_cli(confirm_env.settings, MERCHANTS, CREDIT_LEDGER_CONFIRMATIONS="3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"round {round_id}: confirmed, " in done.stdout
    assert_one_canonical_anchor(confirm_env, round_id, 3)


def test_a_dropped_anchor_is_sent_again_with_its_nonce(confirm_env: LedgerEnv, on_demand_mining: None) -> None:
    log: list[str] = []
    oracle = oracle_with(confirm_env, 3, log)
    w3 = confirm_env.contracts.chain.w3
    nonce_before = oracle_nonce(confirm_env)
    try:
        running = RoundInThread(oracle, confirm_env)
        round_id = running.round_id
        first = running.first_anchor()
        assert confirm_env.contracts.ledger.functions.isAnchored(round_id).call()

        rpc(confirm_env, "anvil_reorg", 1, [])  # the anchoring block is replaced by an empty one
        assert not confirm_env.contracts.ledger.functions.isAnchored(round_id).call()
        assert oracle_nonce(confirm_env) == nonce_before  # the transaction is gone, nonce and all

        def resent() -> bool:
            anchor = oracle.store.get_anchor(round_id)
            return anchor.status == "mined" and anchor.block_hash != first.block_hash

        wait_for(resent, "the oracle to send the round again")
        result = running.finish()  # the oracle waits for 3 blocks on top of the new one
    finally:
        oracle.close()
    assert any("is no longer on the chain" in line for line in log), log
    assert any("re-sending with nonce" in line for line in log), log
    assert_one_canonical_anchor(confirm_env, round_id, 3)
    assert oracle_nonce(confirm_env) == nonce_before + 1
    assert w3.eth.get_transaction(result.tx_hash)["nonce"] == nonce_before


def test_an_anchor_moved_to_another_block_is_recounted_from_there(
    confirm_env: LedgerEnv, on_demand_mining: None
) -> None:
    log: list[str] = []
    oracle = oracle_with(confirm_env, 3, log)
    w3 = confirm_env.contracts.chain.w3
    nonce_before = oracle_nonce(confirm_env)
    try:
        running = RoundInThread(oracle, confirm_env)
        round_id = running.round_id
        first = running.first_anchor()
        rpc(confirm_env, "evm_mine")  # one confirmation of three, then the reorg takes it back
        raw = w3.eth.get_raw_transaction(first.tx_hash)
        rpc(confirm_env, "anvil_reorg", 2, [[raw.to_0x_hex(), 1]])  # same tx, one block later
        moved = w3.eth.get_transaction_receipt(first.tx_hash)
        assert moved["blockNumber"] == first.block_number + 1

        wait_for(
            lambda: oracle.store.get_anchor(round_id).block_hash == bytes(moved["blockHash"]),
            "the new block to be recorded",
        )
        running.finish()
    finally:
        oracle.close()
    assert any(f"to block {first.block_number + 1}" in line for line in log), log
    assert_one_canonical_anchor(confirm_env, round_id, 3)
    events = confirm_env.contracts.ledger.events.BatchAnchored.get_logs(
        from_block=0, argument_filters={"round": round_id}
    )
    assert bytes(events[0]["transactionHash"]) == first.tx_hash  # moved, not sent again
    assert oracle_nonce(confirm_env) == nonce_before + 1


def test_a_confirmed_anchor_refuses_a_reorg_record(confirm_env: LedgerEnv) -> None:
    store = Store.open(confirm_env.settings.database_url)
    try:
        confirmed = [r for r in store.rounds() if r.status == "confirmed"]
        assert confirmed
        with pytest.raises(AnchorConflict, match="deeper than the confirmation depth"):
            store.record_anchor_reorged(confirmed[0].round_id)
    finally:
        store.close()


def _anchor_status(oracle: Oracle, round_id: int) -> str | None:
    try:
        return oracle.store.get_anchor(round_id).status
    except NotFound:  # not sent yet
        return None
