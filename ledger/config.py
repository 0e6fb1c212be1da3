"""Settings: where the ledger keeps its files and which chain and database it talks to.

Every setting has a sensible embedded default (a local anvil node, a SQLite file in
the data directory) and can be overridden by an environment variable, so that moving
to a consortium chain or PostgreSQL is a setting, not a rewrite.

| variable                        | default                                   |
|---------------------------------|-------------------------------------------|
| ``CREDIT_LEDGER_HOME``          | ``./.credit-ledger``                      |
| ``CREDIT_LEDGER_RPC_URL``       | the embedded node, ``http://127.0.0.1:8545`` |
| ``CREDIT_LEDGER_NODE_PORT``     | ``8545`` (embedded node only)             |
| ``CREDIT_LEDGER_CHAIN_ID``      | ``31337`` (embedded node); else asked of the node and checked |
| ``CREDIT_LEDGER_KEYS_FILE``     | unset: the local node's well-known development accounts |
| ``CREDIT_LEDGER_DATABASE_URL``  | ``sqlite:///$CREDIT_LEDGER_HOME/ledger.db`` |
| ``CREDIT_LEDGER_POLICY_DELAY``  | ``3600`` seconds between proposing and applying a policy |
| ``CREDIT_LEDGER_CONFIRMATIONS`` | ``0``: blocks mined on top of an anchoring transaction's block before the oracle calls its round final |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

#: The repository root: the compiler shim, contracts and node_modules live here.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_NODE_PORT = 8545
DEFAULT_CHAIN_ID = 31337
DEFAULT_POLICY_DELAY_SECONDS = 3600


class ConfigError(ValueError):
    """A setting is malformed or names something that does not exist."""


def _int_env(name: str, default: int | None) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw, 0)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r} is not an integer") from exc


@dataclass(frozen=True)
class Settings:
    """Resolved settings for one process. Build with :meth:`from_env`."""

    home: Path
    rpc_url: str
    chain_id: int | None
    node_port: int
    keys_file: Path | None
    database_url: str
    policy_delay_seconds: int
    embedded_node: bool = field(default=True)
    #: Blocks on top of the anchoring block before a round is ``confirmed``. A local
    #: node that mines on demand needs 0; a chain with reorgs wants its finality depth.
    confirmations: int = field(default=0)

    @classmethod
    def from_env(cls, home: Path | str | None = None) -> Settings:
        home_path = Path(home or os.environ.get("CREDIT_LEDGER_HOME") or Path.cwd() / ".credit-ledger").resolve()
        port = _int_env("CREDIT_LEDGER_NODE_PORT", DEFAULT_NODE_PORT)
        assert port is not None
        rpc_url = os.environ.get("CREDIT_LEDGER_RPC_URL") or ""
        embedded = rpc_url == ""
        if embedded:
            rpc_url = f"http://127.0.0.1:{port}"
        chain_id = _int_env("CREDIT_LEDGER_CHAIN_ID", DEFAULT_CHAIN_ID if embedded else None)
        keys = os.environ.get("CREDIT_LEDGER_KEYS_FILE")
        keys_file = Path(keys).resolve() if keys else None
        if keys_file is not None and not keys_file.is_file():
            raise ConfigError(f"CREDIT_LEDGER_KEYS_FILE={keys} does not exist")
        database_url = os.environ.get("CREDIT_LEDGER_DATABASE_URL") or f"sqlite:///{home_path / 'ledger.db'}"
        delay = _int_env("CREDIT_LEDGER_POLICY_DELAY", DEFAULT_POLICY_DELAY_SECONDS)
        assert delay is not None
        if delay < 0:
            raise ConfigError("CREDIT_LEDGER_POLICY_DELAY must be >= 0")
        confirmations = _int_env("CREDIT_LEDGER_CONFIRMATIONS", 0)
        assert confirmations is not None
        if confirmations < 0:
            raise ConfigError("CREDIT_LEDGER_CONFIRMATIONS must be >= 0")
        return cls(
            home=home_path,
            rpc_url=rpc_url,
            chain_id=chain_id,
            node_port=port,
            keys_file=keys_file,
            database_url=database_url,
            policy_delay_seconds=delay,
            embedded_node=embedded,
            confirmations=confirmations,
        )

    @property
    def node_dir(self) -> Path:
        """Where the embedded node keeps its state, pid and log."""
        return self.home / "node"

    @property
    def address_book_path(self) -> Path:
        return self.home / "deployments.json"

    @property
    def documents_dir(self) -> Path:
        """Full model artifacts, policy documents and batch files, by content hash."""
        return self.home / "documents"
