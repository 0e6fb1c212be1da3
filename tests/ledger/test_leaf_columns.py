"""The oracle's column-oriented round build against the per-object definitions, byte for byte."""

from __future__ import annotations

import json
import os
import random

import pytest

from ledger import batchfile
from ledger.identity import Pseudonymizer, feature_commitment, feature_commitments
from ledger.leaf import DecisionLeaf, LeafColumns, LeafError, encode, encode_columns, leaf_hash
from oracle.service import RoundStages
from sources.records import DecisionColumns, ScoredDecision, ScoredRound


def _leaves(n: int, seed: int = 1, round_id: int = 9) -> list[DecisionLeaf]:
    rng = random.Random(seed)
    rb = lambda: rng.randbytes(32)  # noqa: E731
    edge = [0, 65535]
    return [
        DecisionLeaf(
            rb(),
            round_id,
            rng.choice(edge + [rng.randint(0, 65535)]),
            rng.choice([0, 2**32 - 1, rng.randint(0, 2**32 - 1)]),
            rng.randint(0, 7),
            tuple(rng.randint(0, 65535) for _ in range(4)),
            3,
            2**32 - 1,
            rb(),
            bytes(32) if i % 3 == 0 else rb(),
        )
        for i in range(n)
    ]


def test_leaf_columns_match_per_leaf_functions() -> None:
    leaves = _leaves(300)
    cols = LeafColumns.from_leaves(leaves)
    assert encode_columns(cols) == cols.encodings() == [encode(lf) for lf in leaves]
    assert cols.hashes() == [leaf_hash(lf) for lf in leaves]
    assert cols.values_json() == [json.dumps(lf.to_values(), separators=(",", ":")) for lf in leaves]
    assert list(cols) == leaves and cols[7] == leaves[7] and len(cols) == 300


def test_leaf_columns_validate() -> None:
    cols = LeafColumns.from_leaves(_leaves(5))
    fields = {
        f: getattr(cols, f)
        for f in (
            "merchant_key",
            "round",
            "score",
            "limit_cny",
            "product_mask",
            "reason_codes",
            "model_version",
            "policy_version",
            "feature_commitment",
            "prev_leaf_hash",
        )
    }
    bad = [
        {"merchant_key": [b"x" * 31] + list(cols.merchant_key[1:])},
        {"score": [65536] + list(cols.score[1:])},
        {"limit_cny": [-1] + list(cols.limit_cny[1:])},
        {"product_mask": [1.0] + list(cols.product_mask[1:])},
        {"reason_codes": (list(cols.reason_codes[0][:4]),) + tuple(cols.reason_codes[1:])},
        {"round": 2**64},
    ]
    for change in bad:
        with pytest.raises(LeafError):
            LeafColumns(**{**fields, **change})


@pytest.mark.parametrize(
    ("n", "chunk_leaves"), [(1, 50_000), (2, 50_000), (3, 50_000), (300, 50_000), (300, 7), (301, 1), (14, 7)]
)
def test_batch_file_bytes_identical_to_json_dumps(n: int, chunk_leaves: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batchfile, "CHUNK_LEAVES", chunk_leaves)  # streamed in pieces of this many leaves
    leaves = _leaves(n, seed=n)
    from_list = batchfile.build_batch(leaves, "farmer", 31337, as_of="2026-03-01")
    from_cols = batchfile.build_batch(LeafColumns.from_leaves(leaves), "farmer", 31337, as_of="2026-03-01")
    reference = batchfile.to_bytes_reference(from_list)
    assert batchfile.to_bytes(from_cols) == reference
    assert batchfile.to_bytes(from_list) == reference
    assert batchfile.to_bytes_reference(from_cols) == reference
    parsed = batchfile.from_bytes(reference)
    assert parsed.root == from_cols.root and parsed.leaves == leaves


def test_identity_batches_equal_per_merchant() -> None:
    p = Pseudonymizer(os.urandom(32))
    ids = [f"M{i:07d}" for i in range(200)] + ["商户-ü"]
    assert p.merchant_keys(ids) == [p.merchant_key(m) for m in ids]
    assert p.feature_salts(ids, 12) == [p.feature_salt(m, 12) for m in ids]
    salts = p.feature_salts(ids, 3)
    fbs = [m.encode() * 3 for m in ids]
    assert feature_commitments(salts, fbs) == [feature_commitment(s, f) for s, f in zip(salts, fbs)]


def test_scored_round_columns_and_decisions_convert() -> None:
    decisions = [
        ScoredDecision(f"M{i}", 500 + i, 1000 * i, i % 8, (1, 2, 3, i), b"f%d" % i, "scored", "shop", None)
        for i in range(5)
    ]
    cols = ScoredRound("2026-01-01", decisions=decisions).columns
    assert cols.reason_codes[3] == [0, 1, 2, 3, 4] and len(cols) == 5
    assert ScoredRound("2026-01-01", columns=cols).decisions == decisions
    with pytest.raises(ValueError):
        DecisionColumns(["a"], [1], [1], [1], ([1], [1], [1], [1]), [b""], ["scored"], [None], [])


def test_round_stages_log_large_rounds_only() -> None:
    lines: list[str] = []
    small = RoundStages(lines.append, 4, console=False)
    with small.stage("scoring"):
        small.decisions = 300
    with small.stage("tree"):
        pass
    assert lines == []
    big = RoundStages(lines.append, 5, console=False)
    with big.stage("scoring"):
        big.decisions = 6000
    with big.stage("batch file"):
        pass
    assert [line.split(" seconds=")[0] for line in lines] == ["round=5 stage=scoring", "round=5 stage=batch_file"]
    assert all(line.endswith(" decisions=6000") for line in lines)
