"""The oracle's prev-leaf lookup: the keyed fast path equals the full GROUP BY on any history."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.store import Store

MERCHANTS = [f"m{i}" for i in range(12)]

# A history: per round, which merchants got a decision (weekly rounds with skips and
# newcomers, small on-demand rounds in between).
histories = st.lists(st.lists(st.sampled_from(MERCHANTS), min_size=1, max_size=12, unique=True), min_size=1, max_size=7)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories, asked=st.lists(st.sampled_from(MERCHANTS + ["never"]), unique=True, max_size=13))
def test_keyed_lookup_matches_group_by(store: Store, built_round, keyof, history, asked) -> None:  # type: ignore[no-untyped-def]
    base = 1 + 100 * len(store.rounds())  # hypothesis reuses the store: keep round ids fresh
    prev: dict[bytes, bytes] = {}
    for offset, merchants in enumerate(history):
        r = built_round(base + offset, merchants, prev=prev)
        store.create_round(r.round_id, "merchant", "weekly", 1, 1)
        store.save_built_round(r.round_id, r.rows, r.nodes, r.root, r.batch_hash, f"/tmp/{r.round_id}")
    keys = [keyof(m) for m in asked]
    for before in range(base, base + len(history) + 1):
        full = store.latest_leaf_hashes(before)
        keyed = store.latest_leaf_hashes(before, keys)
        expected = {k: full[k] for k in keys if k in full}
        assert keyed == expected
