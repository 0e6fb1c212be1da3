"""Batch scoring: determinism in a new process, replay from feature bytes, reasons, refresh."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scoring.engine import Decision, decode_feature_bytes, rescore_feature_bytes, score_batch, score_columns
from scoring.features import build_features
from scoring.policy import default_policy
from scoring.reasons import REASONS
from scoring.refresh import compare, compare_rounds
from scoring.synth import generate_merchants, read_platform_data

DIGEST_SCRIPT = """
import hashlib, sys
from scoring.synth import read_platform_data
from scoring.features import build_features
from scoring.scorecard import load_artifact
from scoring.policy import load_policy
from scoring.engine import score_batch
data = read_platform_data(sys.argv[1])
decisions = score_batch(load_artifact(sys.argv[2]), load_policy(sys.argv[3]), build_features(data), data.as_of)
h = hashlib.sha256()
for d in decisions:
    h.update(repr((d.merchant_id, d.status, d.score, d.limit_cny, d.product_mask, d.reason_codes)).encode())
    h.update(d.feature_bytes)
print(h.hexdigest())
"""


def _digest(decisions: list[Decision]) -> str:
    h = hashlib.sha256()
    for d in decisions:
        h.update(repr((d.merchant_id, d.status, d.score, d.limit_cny, d.product_mask, d.reason_codes)).encode())
        h.update(d.feature_bytes)
    return h.hexdigest()


@pytest.fixture(scope="module")
def scoring_round(tmp_path_factory: pytest.TempPathFactory, merchant_model):
    root = tmp_path_factory.mktemp("round")
    data = generate_merchants(3_000, seed=77)
    data.write(root / "data")
    art = merchant_model.report.artifact
    pol = default_policy("merchant")
    art.save(root / "model.json")
    pol.save(root / "policy.json")
    return root, data, art, pol


def test_same_inputs_same_scores_in_a_new_process(scoring_round) -> None:
    root, _data, art, pol = scoring_round
    data = read_platform_data(root / "data")
    here = _digest(score_batch(art, pol, build_features(data), data.as_of))
    env = dict(os.environ, PYTHONHASHSEED="12345", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    out = subprocess.run(
        [sys.executable, "-c", DIGEST_SCRIPT, str(root / "data"), str(root / "model.json"), str(root / "policy.json")],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == here


def test_decisions_are_well_formed_and_replayable(scoring_round) -> None:
    _root, data, art, pol = scoring_round
    decisions = score_batch(art, pol, build_features(data), data.as_of)
    scored = [d for d in decisions if d.status == "scored"]
    assert len(scored) > 0.9 * len(decisions)
    for d in decisions:
        assert d.score == 0 or 300 <= d.score <= 900
        assert d.limit_cny == 0 or 5_000 <= d.limit_cny <= 300_000
        assert 0 <= d.product_mask < 2**32 and 0 <= d.score < 2**16
        assert len(d.reason_codes) == 4 and all(c == 0 or c in REASONS for c in d.reason_codes)
        nonzero = [c for c in d.reason_codes if c]
        assert nonzero == list(d.reason_codes[: len(nonzero)])  # zeros only at the end
    with pytest.raises(dataclasses.FrozenInstanceError):
        decisions[0].score = 1  # type: ignore[misc]
    for d in scored[:200]:
        assert rescore_feature_bytes(art, pol, d.feature_bytes, data.as_of) == (d.score, d.limit_cny, d.product_mask)
    values = decode_feature_bytes(art, scored[0].feature_bytes)
    assert set(values) == set(art.feature_names) | set(art.extra_inputs)


def test_reasons_are_the_biggest_shortfalls(scoring_round) -> None:
    _root, data, art, pol = scoring_round
    batch = score_columns(art, pol, build_features(data), data.as_of)
    best = np.array([b.best_points for b in art.bins])
    code_of = {b.reason_code: j for j, b in enumerate(art.bins)}
    for i in np.flatnonzero(batch.status == "scored")[:300]:
        short = best - batch.points[i]
        codes = [c for c in batch.reason_codes[i] if c]
        got = [short[code_of[c]] for c in codes]
        assert got == sorted(got, reverse=True)
        if len(codes) == 4:
            others = np.delete(short, [code_of[c] for c in codes])
            assert others.max(initial=0) <= min(got)


def test_score_decreases_with_hidden_risk(scoring_round) -> None:
    _root, data, art, pol = scoring_round
    batch = score_columns(art, pol, build_features(data), data.as_of)
    pd_ = data.truth["hidden_pd"].to_numpy()
    ok = batch.status == "scored"
    assert np.corrcoef(batch.score[ok], pd_[ok])[0, 1] < -0.6


def test_weekly_refresh_changes(merchant_model) -> None:
    art = merchant_model.report.artifact
    pol = default_policy("merchant")
    r0 = generate_merchants(1_500, seed=31, round_offset=0)
    r1 = generate_merchants(1_500, seed=31, round_offset=1)
    d0 = score_batch(art, pol, build_features(r0), r0.as_of)
    d1 = score_batch(art, pol, build_features(r1), r1.as_of)
    changes = compare_rounds(d0, d1)
    assert len(changes) == len(d1)
    assert any(c.score_delta != 0 for c in changes)
    assert any(c.limit_delta != 0 for c in changes)
    c = changes[0]
    assert c.score_delta == d1[0].score - d0[0].score and c.limit_delta == d1[0].limit_cny - d0[0].limit_cny
    assert set(c.reasons_added) == set(d1[0].reason_codes) - set(d0[0].reason_codes) - {0}
    first = compare(None, d1[0])
    assert first.previous_score is None and first.score_delta == d1[0].score
