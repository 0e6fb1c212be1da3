"""Shared test helpers (a module, not a conftest, so test files can import it by name)."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from web3.types import RPCEndpoint

from ledger.accounts import RoleAccounts
from ledger.chain import Chain
from ledger.documents import DirectoryDocuments
from ledger.node import LocalNode

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from ledger.config import Settings
    from ledger.deployment import LedgerContracts
    from ledger.store import Store
    from oracle.service import Oracle, RoundResult
    from sources.synthetic import ScoringSource


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_node(data_dir: Path) -> Iterator[LocalNode]:
    """A real anvil process on a free port with its state in ``data_dir``, stopped on exit."""
    node = LocalNode(data_dir, port=free_port())
    node.start()
    try:
        yield node
    finally:
        node.stop()


@contextmanager
def mining_paused(chain: Chain) -> Iterator[None]:
    """The node accepts transactions but mines none until the block ends (anvil ``evm_setAutomine``).

    Use it only on a node of the test's own (``manual_mining_env``): on exit the pool is
    mined in one block and mining on arrival resumes.
    """
    chain.w3.provider.make_request(RPCEndpoint("evm_setAutomine"), [False])
    try:
        yield
    finally:
        chain.w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        chain.w3.provider.make_request(RPCEndpoint("evm_setAutomine"), [True])


def oracle_cli_environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that points a ``credit-ledger`` subprocess at a test ledger's settings."""
    return dict(
        os.environ,
        CREDIT_LEDGER_HOME=str(settings.home),
        CREDIT_LEDGER_RPC_URL=settings.rpc_url,
        CREDIT_LEDGER_CHAIN_ID="31337",
        CREDIT_LEDGER_DATABASE_URL=settings.database_url,
        COLUMNS="200",
        **extra,
    )


def run_round_cli(settings: Settings, merchants: int, **extra: str) -> subprocess.CompletedProcess[str]:
    """``credit-ledger oracle run-round`` as a real process against a test ledger (``extra``: more env)."""
    return subprocess.run(
        [sys.executable, "-m", "credit_ledger.cli", "oracle", "run-round", "--merchants", str(merchants)],
        env=oracle_cli_environment(settings, **extra),
        capture_output=True,
        text=True,
        timeout=300,
    )


class LedgerEnv:
    """A deployed ledger with anchored weekly rounds, on its own anvil node and SQLite store."""

    def __init__(
        self,
        settings: Settings,
        contracts: LedgerContracts,
        oracle: Oracle,
        source: ScoringSource,
        rounds: list[RoundResult],
    ) -> None:
        self.settings = settings
        self.contracts = contracts
        self.oracle = oracle
        self.store = oracle.store
        self.source = source
        self.rounds = rounds
        self.bound: list[tuple[str, bytes, str]] = []

    def merchant_account(self, i: int) -> LocalAccount:
        """The development account bound to the i-th demo merchant (i < 5)."""
        from ledger.accounts import FIRST_DEV_MERCHANT_INDEX, dev_account

        return dev_account(FIRST_DEV_MERCHANT_INDEX + i)

    def merchant_key(self, i: int) -> bytes:
        return self.bound[i][1]

    def merchant_id(self, i: int) -> str:
        return self.bound[i][0]


@dataclasses.dataclass
class LedgerCopy:
    """A private copy of a :class:`LedgerEnv`'s home (store and documents) on the same node and contracts."""

    settings: Settings
    store: Store
    contracts: LedgerContracts

    @property
    def documents(self) -> DirectoryDocuments:
        return DirectoryDocuments(self.settings.documents_dir)


def make_ledger_env(
    home: Path, rpc_url: str, merchants: int = 200, rounds: int = 2, database_url: str | None = None
) -> LedgerEnv:
    """Deploy, publish the scoring model and policy, anchor ``rounds`` weekly rounds, bind 5 merchants."""
    from credit_ledger.demo import publish_source
    from ledger.config import Settings
    from ledger.deployment import AddressBook, deploy
    from ledger.documents import DocumentStore
    from oracle.service import Oracle
    from sources.synthetic import ScoringSource

    settings = Settings(
        home=home,
        rpc_url=rpc_url,
        chain_id=31337,
        node_port=0,
        keys_file=None,
        database_url=database_url or f"sqlite:///{home / 'ledger.db'}",
        policy_delay_seconds=60,
        embedded_node=False,
    )
    accounts = RoleAccounts.development()
    chain = Chain.connect(rpc_url)
    contracts, _ = deploy(chain, accounts, AddressBook(settings.address_book_path), settings.policy_delay_seconds)
    source = ScoringSource.prepare(home, merchants)
    publish_source(contracts, accounts, source, DocumentStore(settings.documents_dir), lambda _m: None)
    oracle = Oracle(settings, log=lambda _m: None, accounts=accounts)
    results = [oracle.run_round(source) for _ in range(rounds)]
    env = LedgerEnv(settings, contracts, oracle, source, results)
    if results:
        ids = [r.merchant_id for r in oracle.store.decisions_in_round(results[-1].round_id)][:5]
        env.bound = oracle.bind_demo_merchants(ids)
    return env
