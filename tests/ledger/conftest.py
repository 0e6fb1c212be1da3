"""Fixtures of the ledger core's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.store import Store


@pytest.fixture
def fresh_store(tmp_path: Path) -> Iterator[Store]:
    """An empty, migrated SQLite store of its own (the indexer's tables included)."""
    store = Store.open(tmp_path / "index.db")
    try:
        yield store
    finally:
        store.close()
