"""Shared fixtures: a real anvil node per test session, connected Chain, role accounts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_support import LedgerEnv, make_ledger_env, running_node

from ledger.accounts import RoleAccounts
from ledger.chain import Chain
from ledger.node import LocalNode


@pytest.fixture(scope="session")
def anvil_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    """A real anvil process for the whole session, on a free port, state in a temp dir."""
    with running_node(tmp_path_factory.mktemp("anvil")) as node:
        yield node


@pytest.fixture(scope="session")
def chain(anvil_node: LocalNode) -> Chain:
    return Chain.connect(anvil_node.url, expected_chain_id=anvil_node.chain_id)


@pytest.fixture(scope="session")
def accounts() -> RoleAccounts:
    """The development account of each role (admin, oracle, model admin, ...)."""
    return RoleAccounts.development()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def ledger_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    """An anvil node of its own for ledger_env (the contract tests move the shared one's clock)."""
    with running_node(tmp_path_factory.mktemp("ledger-anvil")) as node:
        yield node


@pytest.fixture(scope="session")
def ledger_env(ledger_node: LocalNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerEnv]:
    """Contracts deployed, scoring model and policy active, two weekly rounds of 200 merchants anchored."""
    env = make_ledger_env(tmp_path_factory.mktemp("ledger-home"), ledger_node.url)
    yield env
    env.oracle.close()
