"""Rounds, the all-or-nothing batch save, decisions and proofs (both backends)."""

from __future__ import annotations

import dataclasses
import itertools
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger.store.rounds as store_module
from ledger.merkle import verify
from ledger.store import (
    DecisionRow,
    InvalidData,
    InvalidState,
    NotFound,
    RoundConflict,
    Store,
)


def _counts(store: Store, round_id: int) -> tuple[int, bool, str]:
    decisions = sum(1 for _ in store.decisions_in_round(round_id))
    try:
        store.tree_nodes(round_id)
        has_tree = True
    except NotFound:
        has_tree = False
    return decisions, has_tree, store.get_round(round_id).status


# -- rounds -------------------------------------------------------------------


def test_round_lifecycle(store: Store, built_round) -> None:
    created = store.create_round(7, "merchant", "weekly", 3, 2)
    assert (created.status, created.decision_count, created.root) == ("pending", 0, None)
    assert created.created_at.tzinfo is not None

    built = built_round(7, [f"m{i}" for i in range(5)], model_version=3, policy_version=2)
    assert store.save_built_round(7, built.rows, built.nodes, built.root, built.batch_hash, "/b/7.json")
    r = store.get_round(7)
    assert (r.status, r.decision_count, r.root, r.batch_hash, r.batch_path) == (
        "built",
        5,
        built.root,
        built.batch_hash,
        "/b/7.json",
    )
    assert r.built_at is not None and r.anchored_at is None

    tx, block = os.urandom(32), os.urandom(32)
    store.record_anchor_sent(7, tx, "0x" + "ab" * 20, 4)
    assert store.get_round(7).status == "anchoring"
    store.record_anchor_mined(7, 123, block, 88_000)
    r = store.get_round(7)
    assert r.status == "anchored" and r.anchored_at is not None
    store.record_anchor_confirmed(7, 12)
    assert store.get_round(7).status == "confirmed"
    # a crashed oracle re-running the save after anchoring: still a no-op
    assert not store.save_built_round(7, built.rows, built.nodes, built.root, built.batch_hash, "/b/7.json")
    assert store.get_round(7).status == "confirmed"


def test_create_round_idempotent_and_conflicts(store: Store) -> None:
    first = store.create_round(1, "merchant", "weekly", 1, 1)
    assert store.create_round(1, "merchant", "weekly", 1, 1) == first
    with pytest.raises(RoundConflict, match="policy_version"):
        store.create_round(1, "merchant", "weekly", 1, 2)
    with pytest.raises(RoundConflict):
        store.create_round(1, "farmer", "weekly", 1, 1)
    with pytest.raises(InvalidData):
        store.create_round(2, "merchant", "monthly", 1, 1)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        store.get_round(2)


def test_round_listing_and_latest(store: Store) -> None:
    assert store.latest_round() is None
    for rid, seg, kind in [(3, "farmer", "weekly"), (1, "merchant", "weekly"), (2, "merchant", "on_demand")]:
        store.create_round(rid, seg, kind, 1, 1)
    assert [r.round_id for r in store.rounds()] == [1, 2, 3]
    assert [r.round_id for r in store.rounds(segment="merchant", descending=True)] == [2, 1]
    assert [r.round_id for r in store.rounds(kind="on_demand")] == [2]
    assert [r.round_id for r in store.rounds(status=["pending"], limit=2)] == [1, 2]
    assert store.latest_round().round_id == 3
    assert store.latest_round("merchant").round_id == 2
    assert store.latest_round(status="built") is None


# -- the batch save -------------------------------------------------------------


def test_save_is_all_or_nothing_on_constraint_violation(store: Store, built_round) -> None:
    store.create_round(1, "merchant", "weekly", 1, 1)
    built = built_round(1, [f"m{i}" for i in range(30)])
    rows = list(built.rows)
    # a duplicate leaf_index near the end: earlier chunks (chunk_size=7) are
    # already in the database when the primary key rejects it
    rows[25] = dataclasses.replace(rows[25], leaf_index=3)
    with pytest.raises(InvalidData, match="constraint"):
        store.save_built_round(1, rows, built.nodes, built.root, built.batch_hash, "/b")
    assert _counts(store, 1) == (0, False, "pending")
    assert store.get_round(1).root is None
    # the fixed batch then goes through
    assert store.save_built_round(1, built.rows, built.nodes, built.root, built.batch_hash, "/b")
    assert _counts(store, 1) == (30, True, "built")


def test_save_is_all_or_nothing_on_crash(store: Store, built_round, monkeypatch) -> None:
    store.create_round(1, "merchant", "weekly", 1, 1)
    built = built_round(1, [f"m{i}" for i in range(40)])
    real = store_module.decision_tuple
    calls = itertools.count()

    def crashing(d: DecisionRow):
        if next(calls) == 33:  # mid-way, several chunks/rows already sent
            raise RuntimeError("simulated crash")
        return real(d)

    monkeypatch.setattr(store_module, "decision_tuple", crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        store.save_built_round(1, built.rows, built.nodes, built.root, built.batch_hash, "/b")
    monkeypatch.setattr(store_module, "decision_tuple", real)
    assert _counts(store, 1) == (0, False, "pending")
    # restart: the re-run writes everything, the next re-run is a no-op
    assert store.save_built_round(1, built.rows, built.nodes, built.root, built.batch_hash, "/b")
    assert not store.save_built_round(1, built.rows, built.nodes, built.root, built.batch_hash, "/b")
    assert _counts(store, 1) == (40, True, "built")


def test_save_conflicts_and_checks(store: Store, built_round) -> None:
    built = built_round(1, ["a", "b", "c"])
    with pytest.raises(NotFound):
        store.save_built_round(1, built.rows, built.nodes, built.root, built.batch_hash, "/b")
    store.create_round(1, "merchant", "weekly", 1, 1)

    bad_cases = {
        "nodes": (built.rows, built.nodes[:-32], built.root),
        "root": (built.rows, built.nodes, os.urandom(32)),
        "leaf_hash": (
            [dataclasses.replace(built.rows[0], leaf_hash=os.urandom(32)), *built.rows[1:]],
            built.nodes,
            built.root,
        ),
        "round_id": ([dataclasses.replace(r, round_id=2) for r in built.rows], built.nodes, built.root),
        "model": ([dataclasses.replace(r, model_version=9) for r in built.rows], built.nodes, built.root),
        "leaf_index": ([dataclasses.replace(built.rows[0], leaf_index=3), *built.rows[1:]], built.nodes, built.root),
        "empty": ([], b"", built.root),
    }
    for label, (rows, nodes, root) in bad_cases.items():
        with pytest.raises(InvalidData):
            store.save_built_round(1, rows, nodes, root, built.batch_hash, "/b")
        assert _counts(store, 1) == (0, False, "pending"), label

    assert store.save_built_round(1, built.rows, built.nodes, built.root, built.batch_hash, "/b")
    other = built_round(1, ["a", "b", "d"])
    with pytest.raises(RoundConflict, match="root"):
        store.save_built_round(1, other.rows, other.nodes, other.root, other.batch_hash, "/b")
    # hex at the edges
    assert not store.save_built_round(
        1, built.rows, built.nodes, "0x" + built.root.hex(), "0x" + built.batch_hash.hex(), "/b"
    )


def test_anchor_requires_built_round(store: Store) -> None:
    store.create_round(1, "merchant", "weekly", 1, 1)
    with pytest.raises(InvalidState):
        store.record_anchor_sent(1, os.urandom(32), None, None)
    with pytest.raises(NotFound):
        store.record_anchor_sent(2, os.urandom(32), None, None)


# -- decisions ------------------------------------------------------------------


def test_decisions_round_trip(store: Store, built_round, keyof) -> None:
    store.create_round(4, "farmer", "on_demand", 1, 1)
    built = built_round(4, ["z", "y", "x", "w"])
    store.save_built_round(4, built.rows, built.nodes, built.root, built.batch_hash, "/b")

    streamed = list(store.decisions_in_round(4))
    assert streamed == built.rows  # leaf_index order, every field including private ones
    for row in streamed:
        assert row.to_leaf().leaf_hash() == row.leaf_hash
        assert row.feature_salt and row.feature_bytes
    assert store.decision(4, keyof("x")) == built.rows[2]
    assert store.decision(4, "0x" + keyof("x").hex()) == built.rows[2]
    assert store.decisions_for_merchant(keyof("y")) == [built.rows[1]]
    assert store.latest_leaf_hashes(5, [keyof("y"), keyof("nobody")]) == {keyof("y"): built.rows[1].leaf_hash}
    with pytest.raises(NotFound):
        store.decision(4, keyof("nobody"))
    with pytest.raises(NotFound):
        store.decision(5, keyof("x"))
    assert list(store.decisions_in_round(5)) == []


def test_merchant_history_in_round_order(store: Store, built_round, keyof) -> None:
    prev: dict[bytes, bytes] = {}
    # rounds written out of order; "shared" is in all of them, others come and go
    built = {}
    for rid in (1, 2, 3):
        built[rid] = built_round(
            rid, ["shared", f"only{rid}", "x"] if rid != 2 else [f"only{rid}", "shared"], prev=prev
        )
    for rid in (3, 1, 2):
        store.create_round(rid, "merchant", "weekly", 1, 1)
        b = built[rid]
        store.save_built_round(rid, b.rows, b.nodes, b.root, b.batch_hash, f"/b/{rid}")

    history = store.decisions_for_merchant(keyof("shared"))
    assert [d.round_id for d in history] == [1, 2, 3]
    # the hash chain is intact and starts at zero
    assert history[0].prev_leaf_hash == bytes(32)
    for earlier, later in itertools.pairwise(history):
        assert later.prev_leaf_hash == earlier.leaf_hash
    assert [d.round_id for d in store.decisions_for_merchant(keyof("x"))] == [1, 3]
    assert store.decisions_for_merchant(keyof("nobody")) == []


def test_stored_proofs_match_merkle_tree(store: Store, built_round) -> None:
    names = [f"m{i}" for i in range(37)]
    store.create_round(1, "merchant", "weekly", 1, 1)
    built = built_round(1, names)
    store.save_built_round(1, built.rows, built.nodes, built.root, built.batch_hash, "/b")
    assert store.tree_nodes(1) == built.nodes
    for i, row in enumerate(built.rows):
        proof = store.proof(1, row.merchant_key)
        assert proof == built.tree.proof(i)
        assert verify(built.root, row.leaf_hash, proof)
    with pytest.raises(NotFound):
        store.proof(1, os.urandom(32))


_round_ids = itertools.count(100)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(min_value=1, max_value=40), data=st.data())
def test_stored_proofs_property(store: Store, built_round, n: int, data) -> None:
    rid = next(_round_ids)
    store.create_round(rid, "merchant", "weekly", 1, 1)
    built = built_round(rid, [f"p{rid}-{i}" for i in range(n)])
    store.save_built_round(rid, built.rows, built.nodes, built.root, built.batch_hash, "/b")
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    assert store.proof(rid, built.rows[i].merchant_key) == built.tree.proof(i)


def test_decision_row_validation_and_hex(keyof) -> None:
    key = keyof("a")
    row = DecisionRow(
        1, 0, 0, "0x" + key.hex(), "a", 500, 5000, 1, [1, 2, 3, 4], 1, 1,
        bytearray(32), bytes(32), bytes(32),
    )  # fmt: skip
    assert row.merchant_key == key and row.reason_codes == (1, 2, 3, 4)
    assert type(row.feature_commitment) is bytes
    with pytest.raises(InvalidData):
        dataclasses.replace(row, merchant_key=b"short")
    with pytest.raises(InvalidData):
        dataclasses.replace(row, reason_codes=(1, 2, 3))


def test_save_without_copy_path(store_url, built_round) -> None:
    """PostgreSQL's executemany path (use_copy=False) behaves like COPY, incl. rollback."""
    with Store.open(store_url, chunk_size=4, use_copy=False) as store:
        store.create_round(1, "merchant", "weekly", 1, 1)
        built = built_round(1, [f"m{i}" for i in range(11)])
        bad = list(built.rows)
        bad[9] = dataclasses.replace(bad[9], leaf_index=0)
        with pytest.raises(InvalidData):
            store.save_built_round(1, bad, built.nodes, built.root, built.batch_hash, "/b")
        assert _counts(store, 1) == (0, False, "pending")
        assert store.save_built_round(1, built.rows, built.nodes, built.root, built.batch_hash, "/b")
        assert list(store.decisions_in_round(1)) == built.rows
