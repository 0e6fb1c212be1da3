"""Merchants, anchors, disputes and pending applications (both backends)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from eth_utils import to_checksum_address

from ledger.store import (
    AnchorConflict,
    DisputeConflict,
    InvalidData,
    InvalidState,
    MerchantConflict,
    MerchantRow,
    NotFound,
    Store,
)

ADDR = "0x" + "ab" * 20
ADDR_CHECKSUM = to_checksum_address(ADDR)  # EIP-55, as the store keeps addresses


@pytest.fixture
def built_store(store: Store, built_round) -> Store:
    """Rounds 1 (built, 3 merchants) and 2 (pending)."""
    store.create_round(1, "merchant", "weekly", 1, 1)
    b = built_round(1, ["a", "b", "c"])
    store.save_built_round(1, b.rows, b.nodes, b.root, b.batch_hash, "/b/1")
    store.create_round(2, "merchant", "on_demand", 1, 1)
    return store


# -- merchants --------------------------------------------------------------------


def test_merchants_upsert_and_lookup(store: Store, keyof) -> None:
    n = store.upsert_merchants(
        [
            MerchantRow("m-1", keyof("m-1"), "merchant", "grocery", "east"),
            {"merchant_id": "f-1", "merchant_key": "0x" + keyof("f-1").hex(), "segment": "farmer"},
        ]
    )
    assert n == 2
    m = store.merchant_by_key(keyof("m-1"))
    assert (m.merchant_id, m.industry, m.region, m.account) == ("m-1", "grocery", "east", None)
    first_created = m.created_at
    assert store.merchant_by_id("f-1").merchant_key == keyof("f-1")

    # update: industry/account change, created_at stays, key is immutable
    store.upsert_merchants([MerchantRow("m-1", keyof("m-1"), "merchant", "bakery", "east", ADDR)])
    m = store.merchant_by_id("m-1")
    assert (m.industry, m.account, m.created_at) == ("bakery", ADDR_CHECKSUM, first_created)
    assert [x.merchant_id for x in store.merchants()] == ["f-1", "m-1"]
    assert [x.merchant_id for x in store.merchants(segment="farmer")] == ["f-1"]

    with pytest.raises(MerchantConflict):  # a known id with another key
        store.upsert_merchants([MerchantRow("m-1", keyof("other"), "merchant")])
    with pytest.raises(MerchantConflict):  # a known key under another id; nothing written
        store.upsert_merchants(
            [MerchantRow("new", keyof("new"), "merchant"), MerchantRow("m-2", keyof("m-1"), "merchant")]
        )
    with pytest.raises(NotFound):
        store.merchant_by_id("new")
    with pytest.raises(NotFound):
        store.merchant_by_key(keyof("nobody"))
    with pytest.raises(InvalidData):
        MerchantRow("x", keyof("x"), "bank")  # type: ignore[arg-type]
    assert store.upsert_merchants([]) == 0


# -- anchors ------------------------------------------------------------------------


def test_anchor_flow_with_replacement_and_reorg(built_store: Store) -> None:
    store = built_store
    with pytest.raises(NotFound):
        store.get_anchor(1)
    with pytest.raises(InvalidState):
        store.record_anchor_confirmed(1, 3)

    first, replacement = os.urandom(32), os.urandom(32)
    a = store.record_anchor_sent(1, first, ADDR, 7)
    assert (a.status, a.tx_hash, a.sender, a.nonce, a.confirmations) == ("sent", first, ADDR_CHECKSUM, 7, 0)
    assert store.record_anchor_sent(1, first, ADDR, 7) == a  # idempotent
    a = store.record_anchor_sent(1, replacement, ADDR, 7)  # stuck tx replaced
    assert a.tx_hash == replacement and store.get_round(1).status == "anchoring"
    with pytest.raises(InvalidState):
        store.record_anchor_confirmed(1, 1)

    block1, block2 = os.urandom(32), os.urandom(32)
    a = store.record_anchor_mined(1, 100, block1, 50_000)
    assert (a.status, a.block_number, a.block_hash, a.gas_used) == ("mined", 100, block1, 50_000)
    assert a.mined_at is not None
    assert store.record_anchor_mined(1, 100, block1, 50_000) == a
    a = store.record_anchor_mined(1, 101, block2, 50_000)  # reorg before finality
    assert (a.block_number, a.block_hash) == (101, block2)
    with pytest.raises(AnchorConflict):
        store.record_anchor_sent(1, os.urandom(32), ADDR, 8)
    assert store.record_anchor_sent(1, replacement, ADDR, 7).status == "mined"  # late duplicate

    a = store.record_anchor_confirmed(1, 12)
    assert (a.status, a.confirmations) == ("confirmed", 12) and a.confirmed_at
    assert store.record_anchor_confirmed(1, 5).confirmations == 12  # never lowered
    assert store.record_anchor_confirmed(1, 20).confirmations == 20
    assert store.get_round(1).status == "confirmed"
    with pytest.raises(AnchorConflict):
        store.record_anchor_mined(1, 102, os.urandom(32), 50_000)
    assert store.get_anchor(1) == store.record_anchor_mined(1, 101, block2, 50_000)


def test_anchor_mined_without_sent_record(built_store: Store) -> None:
    """A restarted oracle finds its transaction on chain and records it directly."""
    store = built_store
    with pytest.raises(InvalidState):
        store.record_anchor_mined(1, 5, os.urandom(32), 1)
    tx = os.urandom(32)
    a = store.record_anchor_mined(1, 5, "0x" + "11" * 32, 1, tx_hash="0x" + tx.hex())
    assert (a.tx_hash, a.status, a.sender, a.block_hash) == (tx, "mined", None, b"\x11" * 32)
    assert store.get_round(1).status == "anchored"
    with pytest.raises(InvalidState):
        store.record_anchor_sent(2, tx, None, None)  # round 2 is not built


# -- disputes -------------------------------------------------------------------------


def test_disputes(built_store: Store, keyof) -> None:
    store = built_store
    leaf = store.decision(1, keyof("b")).leaf_hash
    filed = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    d = store.add_dispute(11, 1, keyof("b"), leaf, "limit too low", filed_tx=os.urandom(32), filed_at=filed)
    assert (d.status, d.filed_at, d.resolved_at) == ("open", filed, None)
    assert store.add_dispute(11, 1, keyof("b"), leaf, "limit too low") == d  # idempotent
    with pytest.raises(DisputeConflict):
        store.add_dispute(11, 1, keyof("b"), leaf, "another reason")
    with pytest.raises(NotFound):
        store.add_dispute(12, 99, keyof("b"), leaf, "no such round")
    store.add_dispute(12, 1, keyof("c"), os.urandom(32), "wrong score")

    assert [x.dispute_id for x in store.disputes()] == [11, 12]
    assert [x.dispute_id for x in store.disputes(merchant_key=keyof("c"))] == [12]
    assert [x.dispute_id for x in store.disputes(round_id=1, status="open")] == [11, 12]

    tx = os.urandom(32)
    r = store.resolve_dispute(11, "upheld", resolved_tx=tx, note="re-scored")
    assert (r.status, r.resolved_tx, r.note) == ("upheld", tx, "re-scored") and r.resolved_at
    assert store.resolve_dispute(11, "upheld") == r
    with pytest.raises(DisputeConflict):
        store.resolve_dispute(11, "rejected")
    with pytest.raises(InvalidData):
        store.resolve_dispute(12, "open")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        store.resolve_dispute(99, "rejected")
    assert [x.dispute_id for x in store.disputes(status="open")] == [12]
    assert store.get_dispute(11) == r


def test_pending_disputes_until_the_dispute_is_recorded(built_store: Store, keyof) -> None:
    """A relayed, unmined dispute is listed per merchant until its dispute is recorded (same transaction)."""
    store = built_store
    leaf = store.decision(1, keyof("b")).leaf_hash
    tx, other_tx = os.urandom(32), os.urandom(32)
    at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    p = store.add_pending_dispute(tx, 1, keyof("b"), leaf, "limit too low", signer=ADDR, nonce=7, relayed_at=at)
    assert (p.tx_hash, p.round_id, p.signer, p.nonce, p.relayed_at) == (tx, 1, ADDR_CHECKSUM, 7, at)
    assert store.add_pending_dispute(tx, 1, keyof("b"), leaf, "limit too low", signer=ADDR, nonce=7) == p
    with pytest.raises(DisputeConflict):
        store.add_pending_dispute(tx, 1, keyof("b"), leaf, "another reason", signer=ADDR, nonce=7)
    with pytest.raises(NotFound):
        store.add_pending_dispute(other_tx, 99, keyof("b"), leaf, "no such round", signer=ADDR, nonce=8)
    with pytest.raises(InvalidData):
        store.add_pending_dispute(other_tx, 1, keyof("b"), leaf, "r", signer="not an address", nonce=8)
    store.add_pending_dispute(other_tx, 1, keyof("c"), os.urandom(32), "wrong score", signer=ADDR, nonce=8)
    assert [x.tx_hash for x in store.pending_disputes()] == [tx, other_tx]
    assert store.pending_disputes(merchant_key=keyof("b")) == [p]

    # a conflicting dispute record leaves the pending relay as it was
    store.add_dispute(11, 1, keyof("a"), leaf, "first", filed_tx=os.urandom(32))
    with pytest.raises(DisputeConflict):
        store.add_dispute(11, 1, keyof("b"), leaf, "limit too low", filed_tx=tx)
    assert store.pending_disputes(merchant_key=keyof("b")) == [p]
    # recording the dispute its transaction filed ends the pending relay
    store.add_dispute(12, 1, keyof("b"), leaf, "limit too low", filed_tx=tx)
    assert store.pending_disputes(merchant_key=keyof("b")) == []
    assert store.drop_pending_dispute(other_tx) and not store.drop_pending_dispute(other_tx)
    assert store.pending_disputes() == []


# -- pending applications ---------------------------------------------------------------


def test_pending_applications(built_store: Store) -> None:
    store = built_store
    t0 = datetime(2025, 5, 1, tzinfo=UTC)
    apps = [
        store.add_application(f"m-{i}", "merchant" if i % 3 else "farmer",
                              {"amount": 1000 * i, "items": [i, "x"]}, received_at=t0 + timedelta(minutes=i))
        for i in range(6)
    ]  # fmt: skip
    assert apps[1].payload == {"amount": 1000, "items": [1, "x"]}
    assert apps[1].received_at == t0 + timedelta(minutes=1) and apps[1].batched_round is None
    assert [a.merchant_id for a in store.pending_applications("merchant")] == ["m-1", "m-2", "m-4", "m-5"]
    assert len(store.pending_applications()) == 6

    claimed = store.claim_applications(2, "merchant", limit=3)
    assert [a.merchant_id for a in claimed] == ["m-1", "m-2", "m-4"]
    assert all(a.batched_round == 2 for a in claimed)
    assert [a.merchant_id for a in store.pending_applications("merchant")] == ["m-5"]
    assert store.applications_in_round(2) == claimed

    assert store.get_application(apps[5].id).batched_round is None  # m-5: not claimed
    with pytest.raises(NotFound):
        store.get_application(10_000)
    with pytest.raises(InvalidData):
        store.add_application("m", "merchant", {}, received_at=datetime(2025, 1, 1))  # naive
