"""The embedded anvil keeps the ledger across a restart (``ledger.node.LocalNode``).

anvil runs with ``--state FILE --state-interval 1``: it dumps its state on SIGTERM
(``LocalNode.stop``) and every second, and loads it on start. So after a graceful
restart, and after a SIGKILL once an interval has passed, the anchored root is still
on-chain and ``deploy`` reuses the address book's deployment instead of deploying again.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.accounts import RoleAccounts
from ledger.chain import Chain
from ledger.deployment import AddressBook, LedgerContracts, deploy
from ledger.keccak import keccak256
from ledger.leaf import DecisionLeaf
from ledger.merkle import MerkleTree
from ledger.node import STATE_INTERVAL_SECONDS, LocalNode
from ledger.roles import Role
from oracle.publish import execute_policy, propose_policy, publish_model

POLICY_DELAY = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def node(tmp_path: Path) -> Iterator[LocalNode]:
    local = LocalNode(tmp_path / "node", port=_free_port())
    try:
        yield local
    finally:
        local.stop()


def _anchor_one_round(
    chain: Chain, accounts: RoleAccounts, book: AddressBook, round_: int
) -> tuple[LedgerContracts, bytes]:
    contracts, reused = deploy(chain, accounts, book, policy_delay_seconds=POLICY_DELAY)
    assert reused is False
    model = publish_model(
        contracts, accounts[Role.MODEL_ADMIN], "merchant", keccak256(b"restart model"), keccak256(b"schema"), "file://m"
    )
    activation = propose_policy(
        contracts, accounts[Role.POLICY_ADMIN], "merchant", keccak256(b"restart policy"), "file://p", "t"
    )
    chain.advance_time(POLICY_DELAY + 1)
    execute_policy(contracts, accounts.admin, activation.version)
    leaves = [
        DecisionLeaf(
            keccak256(bytes([i])),
            round_,
            700,
            5000,
            1,
            (0, 0, 0, 0),
            model,
            activation.version,
            keccak256(b"f" + bytes([i])),
            bytes(32),
        )
        for i in range(3)
    ]
    tree = MerkleTree.build([leaf.leaf_hash() for leaf in leaves])
    chain.send(
        contracts.ledger.functions.anchorBatch(
            round_, tree.root, len(leaves), model, activation.version, keccak256(b"c")
        ),
        accounts.oracle,
    )
    assert bytes(contracts.ledger.functions.batch(round_).call()[0]) == tree.root
    return contracts, tree.root


def _assert_survived(node: LocalNode, accounts: RoleAccounts, book: AddressBook, round_: int, root: bytes) -> None:
    chain = Chain.connect(node.url, expected_chain_id=node.chain_id)
    contracts, reused = deploy(chain, accounts, book, policy_delay_seconds=POLICY_DELAY)
    assert reused is True
    recorded = book.get(node.chain_id)
    assert recorded is not None and contracts.deployment.addresses == recorded.addresses
    assert contracts.ledger.functions.isAnchored(round_).call() is True
    assert bytes(contracts.ledger.functions.batch(round_).call()[0]) == root
    assert contracts.ledger.functions.roundCount().call() == 1


def test_state_survives_graceful_restart(node: LocalNode, tmp_path: Path) -> None:
    accounts = RoleAccounts.development()
    book = AddressBook(tmp_path / "deployments.json")
    node.start()
    chain = Chain.connect(node.url, expected_chain_id=node.chain_id)
    _, root = _anchor_one_round(chain, accounts, book, round_=11)
    block = chain.w3.eth.block_number

    assert node.stop() is True  # SIGTERM: anvil dumps its state
    assert not node.status().running
    assert node.state_file.is_file() and node.state_file.stat().st_size > 0

    node.start()
    restarted = node.status().block_number
    assert restarted is not None and restarted >= block
    _assert_survived(node, accounts, book, 11, root)


def test_state_survives_sigkill_after_interval(node: LocalNode, tmp_path: Path) -> None:
    accounts = RoleAccounts.development()
    book = AddressBook(tmp_path / "deployments.json")
    node.start()
    chain = Chain.connect(node.url, expected_chain_id=node.chain_id)
    _, root = _anchor_one_round(chain, accounts, book, round_=12)

    time.sleep(STATE_INTERVAL_SECONDS * 2.5)  # > one --state-interval: the periodic dump has run
    pid = node.status().pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)  # no chance to dump on exit
    deadline = time.monotonic() + 10
    while node.status().running or node._pid() is not None:
        assert time.monotonic() < deadline, "anvil survived SIGKILL"
        time.sleep(0.1)

    node.start()
    _assert_survived(node, accounts, book, 12, root)
