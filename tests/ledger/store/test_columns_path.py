"""The oracle's column paths of the store: upsert_merchant_columns and save_built_round_columns."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import pytest
import sqlalchemy as sa

from ledger.store import DECISION_COLUMN_NAMES, DecisionRow, InvalidData, MerchantConflict, MerchantRow, Store


def _columns(rows: Iterable[DecisionRow]) -> dict[str, list[object]]:
    """DecisionRows as the column mapping save_built_round_columns takes."""
    skip = {"round_id", "leaf_index", "model_version", "policy_version"}
    out: dict[str, list[object]] = {name: [] for name in DECISION_COLUMN_NAMES if name not in skip}
    for d in rows:
        for name in out:
            if name.startswith("reason"):
                out[name].append(d.reason_codes[int(name[-1]) - 1])
            else:
                out[name].append(getattr(d, name))
    return out


def test_columns_save_equals_row_save(store_url: sa.URL, built_round: Callable[..., Any]) -> None:
    ids = [f"m{i}" for i in range(25)]
    a = Store.open(store_url)
    try:
        a.create_round(1, "merchant", "weekly", 1, 1)
        built = built_round(1, ids)
        assert a.save_built_round_columns(1, _columns(built.rows), built.nodes, built.root, built.batch_hash, "/b")
        assert not a.save_built_round_columns(1, _columns(built.rows), built.nodes, built.root, built.batch_hash, "/b")
        assert not a.save_built_round(1, built.rows, built.nodes, built.root, built.batch_hash, "/b")
        assert list(a.decisions_in_round(1)) == list(built.rows)
        assert a.get_round(1).status == "built" and a.get_round(1).decision_count == 25
        assert a.proof(1, built.rows[3].merchant_key) == built.tree.proof(3)
    finally:
        a.close()


def test_columns_save_checks(store: Store, built_round: Callable[..., Any]) -> None:
    store.create_round(1, "merchant", "weekly", 1, 1)
    built = built_round(1, [f"m{i}" for i in range(9)])
    good = _columns(built.rows)
    cases = {
        "leaf_hash": lambda c: c["leaf_hash"].__setitem__(2, os.urandom(32)),
        "tree_index": lambda c: c["tree_index"].__setitem__(1, c["tree_index"][0]),
        "short": lambda c: c["score"].pop(),
        "bytes32": lambda c: c["merchant_key"].__setitem__(0, b"short"),
        "int": lambda c: c["score"].__setitem__(0, 1.5),
    }
    for name, spoil in cases.items():
        bad = {k: list(v) for k, v in good.items()}
        spoil(bad)
        with pytest.raises(InvalidData):
            store.save_built_round_columns(1, bad, built.nodes, built.root, built.batch_hash, "/b")
        assert store.get_round(1).status == "pending", name
    with pytest.raises(InvalidData):
        store.save_built_round_columns(
            1, {k: v for k, v in good.items() if k != "status"}, built.nodes, built.root, built.batch_hash, "/b"
        )
    assert store.save_built_round_columns(1, good, built.nodes, built.root, built.batch_hash, "/b")


def test_upsert_columns_skips_unchanged_and_updates_changed(store: Store, keyof: Callable[[str], bytes]) -> None:
    ids = [f"m{i}" for i in range(30)]
    keys = [keyof(m) for m in ids]
    assert store.upsert_merchant_columns("merchant", ids, keys, ["shop"] * 30, ["east"] * 30) == 30
    store.upsert_merchants([MerchantRow("m3", keyof("m3"), "merchant", "shop", "east", "0x" + "ab" * 20)])
    before = {m.merchant_id: m for m in store.merchants()}
    industries = ["shop"] * 30
    industries[5] = "bakery"
    assert store.upsert_merchant_columns("merchant", ids, keys, industries, ["east"] * 30) == 30
    after = {m.merchant_id: m for m in store.merchants()}
    assert after["m5"].industry == "bakery" and after["m5"].updated_at >= before["m5"].updated_at
    assert after["m5"].created_at == before["m5"].created_at
    assert after["m3"].account == before["m3"].account  # a column upsert never unbinds an account
    assert {k: v for k, v in after.items() if k != "m5"} == {k: v for k, v in before.items() if k != "m5"}
    with pytest.raises(MerchantConflict):  # a known id with another key: nothing written
        store.upsert_merchant_columns(
            "merchant", ["new", "m1"], [keyof("new"), keyof("other")], [None, None], [None, None]
        )
    with pytest.raises(MerchantConflict):  # a known key under another id
        store.upsert_merchant_columns("merchant", ["new"], [keyof("m1")], [None], [None])
    assert "new" not in {m.merchant_id for m in store.merchants()}


def test_upsert_columns_large_batch_scans(
    store: Store, keyof: Callable[[str], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ledger.store.bulk as store_module

    monkeypatch.setattr(store_module, "MERCHANT_SCAN_MIN", 10)
    store.upsert_merchants([MerchantRow("other", keyof("other"), "farmer")])
    ids = [f"m{i}" for i in range(40)]
    keys = [keyof(m) for m in ids]
    store.upsert_merchant_columns("merchant", ids[:20], keys[:20], [None] * 20, [None] * 20)
    store.upsert_merchant_columns("merchant", ids, keys, ["x"] * 40, [None] * 40)
    got = {m.merchant_id: m.industry for m in store.merchants(segment="merchant")}
    assert got == {m: "x" for m in ids}
    with pytest.raises(MerchantConflict):
        store.upsert_merchant_columns("merchant", ids, keys[::-1], [None] * 40, [None] * 40)


def test_upsert_columns_above_the_scan_threshold_keeps_the_row_checks(
    store: Store, keyof: Callable[[str], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the scan threshold (one scan of the table, not probes): unchanged merchants
    are left alone, new and changed ones written, a conflict refused with nothing written."""
    import ledger.store.bulk as store_module

    monkeypatch.setattr(store_module, "MERCHANT_SCAN_MIN", 10)
    ids = [f"m{i}" for i in range(40)]
    keys = [keyof(m) for m in ids]
    regions = ["east"] * 40
    store.upsert_merchant_columns("merchant", ids, keys, ["shop"] * 40, regions)
    store.upsert_merchants([MerchantRow("m7", keyof("m7"), "merchant", "shop", "east", "0x" + "cd" * 20)])
    before = {m.merchant_id: m for m in store.merchants()}

    assert store.upsert_merchant_columns("merchant", ids, keys, ["shop"] * 40, regions) == 40  # nothing changed
    assert {m.merchant_id: m for m in store.merchants()} == before

    industries = ["shop"] * 40 + [None]
    industries[9] = "bakery"
    assert (
        store.upsert_merchant_columns("merchant", ids + ["new"], keys + [keyof("new")], industries, regions + [None])
        == 41
    )
    after = {m.merchant_id: m for m in store.merchants()}
    assert after["m9"].industry == "bakery" and after["new"].segment == "merchant"
    assert after["m7"].account == before["m7"].account
    assert {k: v for k, v in after.items() if k not in ("m9", "new")} == {k: v for k, v in before.items() if k != "m9"}

    swapped = keys[:]
    swapped[3] = keyof("stranger")  # one known merchant under another key: refused, nothing written
    with pytest.raises(MerchantConflict, match="'m3' is bound"):
        store.upsert_merchant_columns("merchant", ids, swapped, ["other"] * 40, regions)
    assert {m.merchant_id: m for m in store.merchants()} == after
