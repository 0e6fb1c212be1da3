"""Fixtures for the audit tests: a private copy of the session ledger per tamper case.

Tampering happens off-chain only (store rows, files in the documents directory), so a
copy of the ledger home (SQLite file + WAL, documents, address book) against the same
node is an independent ledger for the replay; the session ``ledger_env`` stays clean.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_support import LedgerCopy, LedgerEnv

from ledger.store import Store


@pytest.fixture
def ledger_copy(ledger_env: LedgerEnv, tmp_path: Path) -> Iterator[LedgerCopy]:
    """The session ledger's home copied to ``tmp_path``; tamper with it freely."""
    src = ledger_env.settings.home
    home = tmp_path / "home"
    # The SQLite backup API gives a consistent copy even while the oracle's engine is open.
    shutil.copytree(src, home, ignore=shutil.ignore_patterns("ledger.db*", "node"))
    import sqlite3

    with sqlite3.connect(src / "ledger.db") as source, sqlite3.connect(home / "ledger.db") as target:
        source.backup(target)
    settings = ledger_env.settings.model_copy(update={"home": home, "database_url": f"sqlite:///{home / 'ledger.db'}"})
    store = Store.open(settings.database_url)
    try:
        yield LedgerCopy(settings, store, ledger_env.contracts)
    finally:
        store.close()
