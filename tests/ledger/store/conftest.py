"""Fixtures for the off-chain store: every test runs on SQLite (temp file) and PostgreSQL.

PostgreSQL: the session's server (``postgres_url`` in tests/conftest.py, see
tests/pg_support.py), a fresh schema per test, dropped afterwards, so tests are
isolated and may run in parallel. The PostgreSQL case is marked ``postgres`` and
only it requests the server: the SQLite case runs without one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger.store import Store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.URL]:
    """A URL to an empty database of each backend."""
    if request.param == "sqlite":
        yield sa.URL.create("sqlite", database=str(tmp_path / "ledger.db"))
    else:
        yield request.getfixturevalue("postgres_url")


@pytest.fixture
def store(store_url: sa.URL) -> Iterator[Store]:
    """A migrated store, small chunks so that multi-chunk paths are exercised."""
    s = Store.open(store_url, chunk_size=7)
    try:
        yield s
    finally:
        s.close()


# -- building rounds ----------------------------------------------------------

import hashlib  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from ledger.leaf import ZERO_HASH, DecisionLeaf  # noqa: E402
from ledger.merkle import MerkleTree  # noqa: E402
from ledger.store import DecisionRow  # noqa: E402


def key_of(name: str) -> bytes:
    """A deterministic 32-byte merchant key for a test merchant name."""
    return hashlib.sha256(b"merchant-key:" + name.encode()).digest()


@dataclass
class BuiltRound:
    round_id: int
    rows: list[DecisionRow]
    tree: MerkleTree

    @property
    def nodes(self) -> bytes:
        return b"".join(self.tree.nodes)

    @property
    def root(self) -> bytes:
        return self.tree.root

    @property
    def batch_hash(self) -> bytes:
        return hashlib.sha256(b"batch" + self.root).digest()


def build_round(
    round_id: int,
    merchant_ids: Sequence[str],
    *,
    prev: dict[bytes, bytes] | None = None,
    model_version: int = 1,
    policy_version: int = 1,
    score_base: int = 500,
) -> BuiltRound:
    """Real leaves and a real tree for ``merchant_ids`` in this input order.

    ``prev`` maps merchant key -> previous leaf hash (hash chain) and is
    updated with this round's leaf hashes.
    """
    prev = {} if prev is None else prev
    leaves = []
    for i, mid in enumerate(merchant_ids):
        key = key_of(mid)
        leaves.append(
            DecisionLeaf(
                merchant_key=key,
                round=round_id,
                score=score_base + i,
                limit_cny=5_000 + 1_000 * i,
                product_mask=i % 8,
                reason_codes=(i % 5, 7, 11, round_id % 13),
                model_version=model_version,
                policy_version=policy_version,
                feature_commitment=hashlib.sha256(f"{mid}:{round_id}".encode()).digest(),
                prev_leaf_hash=prev.get(key, ZERO_HASH),
            )
        )
    hashes = [leaf.leaf_hash() for leaf in leaves]
    tree = MerkleTree.build(hashes)
    rows = [
        DecisionRow.from_leaf(
            leaf,
            leaf_index=i,
            tree_index=tree.tree_index(i),
            merchant_id=mid,
            leaf_hash=hashes[i],
            feature_salt=hashlib.sha256(f"salt:{mid}:{round_id}".encode()).digest(),
            feature_bytes=f'{{"merchant":"{mid}","round":{round_id}}}'.encode(),
        )
        for i, (leaf, mid) in enumerate(zip(leaves, merchant_ids))
    ]
    for leaf, h in zip(leaves, hashes):
        prev[leaf.merchant_key] = h
    return BuiltRound(round_id, rows, tree)


@pytest.fixture
def built_round() -> Callable[..., BuiltRound]:
    """:func:`build_round` as a fixture (tests dirs have no ``__init__.py`` to import from)."""
    return build_round


@pytest.fixture
def keyof() -> Callable[[str], bytes]:
    return key_of
