"""The oracle's prev-leaf lookup (``merchant_heads`` plus probes) equals its definition on any history."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger.store.bulk
from ledger.store import Store

MERCHANTS = [f"m{i}" for i in range(12)]

# A history: per round, which merchants got a decision (weekly rounds with skips and
# newcomers, small on-demand rounds in between).
histories = st.lists(st.lists(st.sampled_from(MERCHANTS), min_size=1, max_size=12, unique=True), min_size=1, max_size=7)


def expected_heads(store: Store, keyof: Callable[[str], bytes], before: int) -> dict[bytes, bytes]:
    """The definition, straight from every stored decision: newest round below ``before`` per merchant."""
    newest: dict[bytes, tuple[int, bytes]] = {}
    for name in MERCHANTS:
        for row in store.decisions_for_merchant(keyof(name)):
            if row.round_id < before and row.round_id > newest.get(row.merchant_key, (-1, b""))[0]:
                newest[row.merchant_key] = (row.round_id, row.leaf_hash)
    return {k: h for k, (_r, h) in newest.items()}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    history=histories,
    asked=st.lists(st.sampled_from(MERCHANTS + ["never"]), unique=True, max_size=13),
    data=st.data(),
)
@pytest.mark.parametrize("scan_min", [1, 10**9], ids=["scan", "probe"])
def test_heads_lookup_matches_the_definition(
    store: Store,
    built_round: Callable[..., Any],
    keyof: Callable[[str], bytes],
    scan_min: int,
    history: list[list[str]],
    asked: list[str],
    data: st.DataObject,
) -> None:
    base = 1 + 100 * len(store.rounds())  # hypothesis reuses the store: keep round ids fresh
    prev: dict[bytes, bytes] = {}
    built = [built_round(base + offset, merchants, prev=prev) for offset, merchants in enumerate(history)]
    # rounds may be stored out of order (an on-demand round finishing before a weekly one)
    for r in data.draw(st.permutations(built), label="store order"):
        store.create_round(r.round_id, "merchant", "weekly", 1, 1)
        store.save_built_round(r.round_id, r.rows, r.nodes, r.root, r.batch_hash, f"/tmp/{r.round_id}")
    keys = [keyof(m) for m in asked]
    with pytest.MonkeyPatch.context() as mp:  # the heads are scanned (many keys) or probed (few)
        mp.setattr(ledger.store.bulk, "MERCHANT_SCAN_MIN", scan_min)
        for before in range(base, base + len(history) + 1):
            expected = expected_heads(store, keyof, before)
            assert store.latest_leaf_hashes(before) == expected
            assert store.latest_leaf_hashes(before, keys) == {k: expected[k] for k in keys if k in expected}
