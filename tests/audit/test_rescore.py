"""The vectorised re-score agrees with the scoring package's own per-row replay, and with the leaves."""

from __future__ import annotations

import datetime as dt

import numpy as np
from ledger_support import LedgerEnv

from audit.replay import AnchorRecord, _check_hash_chains, _RoundState
from audit.report import AuditReport
from audit.rescore import rescore_rows
from ledger.leaf import ZERO_HASH, DecisionLeaf
from scoring import rescore_feature_bytes


def test_rescore_rows_matches_rescore_feature_bytes(ledger_env: LedgerEnv) -> None:
    source = ledger_env.source
    r = ledger_env.rounds[0].round_id
    rows = list(ledger_env.store.decisions_in_round(r))
    data, _features = source.platform_data(0)  # the first weekly round scores week 0
    as_of = dt.date.fromisoformat(data.as_of.isoformat())
    got = rescore_rows(source.artifact, source.policy, [d.feature_bytes for d in rows], as_of)
    assert got.schema_ok.all()
    scored = 0
    for i, d in enumerate(rows):
        assert got.row(i) == {
            "score": d.score,
            "limit_cny": d.limit_cny,
            "product_mask": d.product_mask,
            "reason_codes": d.reason_codes,
        }
        if d.status == "scored":
            scored += 1
            assert rescore_feature_bytes(source.artifact, source.policy, d.feature_bytes, as_of) == (
                int(got.score[i]),
                int(got.limit_cny[i]),
                int(got.product_mask[i]),
            )
    assert scored > len(rows) // 2
    # a foreign schema is flagged, not mis-scored
    bad = rescore_rows(source.artifact, source.policy, [b"\x00" * 40], as_of)
    assert not bad.schema_ok[0] and isinstance(bad.score, np.ndarray)


def _leaf(key: bytes, round_: int, prev: bytes) -> DecisionLeaf:
    return DecisionLeaf(key, round_, 600, 10_000, 1, (0, 0, 0, 0), 1, 1, b"\x01" * 32, prev)


def test_hash_chain_break_is_named() -> None:
    a, b = b"\xaa" * 32, b"\xbb" * 32
    r1 = [_leaf(a, 1, ZERO_HASH), _leaf(b, 1, ZERO_HASH)]
    # round 2: a links correctly, b claims a first decision (a leaf left out of its history)
    r2 = [_leaf(a, 2, r1[0].leaf_hash()), _leaf(b, 2, ZERO_HASH)]
    anchor = lambda r: AnchorRecord(r, b"\x00" * 32, 2, 1, 1, b"\x00" * 32, 0, b"")  # noqa: E731
    states = {1: _RoundState(anchor(1), leaves=r1, file="f1"), 2: _RoundState(anchor(2), leaves=r2, file="f2")}
    report = AuditReport(1, {}, 0, 0)
    _check_hash_chains(states, {1, 2}, report)
    check = report.checks["hash_chain"]
    assert (check.checked, check.failed) == (4, 1)
    d = check.first
    assert d is not None and (d.round, d.merchant_key, d.field, d.file) == (2, "0x" + b.hex(), "prev_leaf_hash", "f2")
    assert d.expected == "0x" + r1[1].leaf_hash().hex() and d.found == "0x" + ZERO_HASH.hex()
