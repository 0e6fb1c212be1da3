"""Shared fixtures: a real anvil node per test session, connected Chain, role accounts."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Iterator

import pytest

from ledger.accounts import RoleAccounts
from ledger.chain import Chain
from ledger.node import LocalNode


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def anvil_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    """A real anvil process for the whole session, on a free port, state in a temp dir."""
    node = LocalNode(tmp_path_factory.mktemp("anvil"), port=free_port())
    node.start()
    yield node
    node.stop()


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
