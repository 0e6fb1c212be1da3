"""Scorecard quality against the hidden truth, the canonical artifact, and generic training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring.errors import ArtifactError, TrainingError
from scoring.scorecard import load_artifact, train


def test_scorecard_auc_within_003_of_hidden_risk(merchant_model) -> None:
    m = merchant_model.metrics
    print(f"merchant scorecard AUC {m['scorecard_auc']:.4f} hidden-risk AUC {m['hidden_risk_auc']:.4f}")
    assert m["n_holdout"] > 5_000
    assert m["scorecard_auc"] > 0.7
    assert m["hidden_risk_auc"] - m["scorecard_auc"] < 0.03


def test_farmer_segment(farmer_model) -> None:
    art = farmer_model.report.artifact
    m = farmer_model.metrics
    print(f"farmer scorecard AUC {m['scorecard_auc']:.4f} hidden-risk AUC {m['hidden_risk_auc']:.4f}")
    assert art.segment == "farmer" and art.version.startswith("farmer")
    assert m["hidden_risk_auc"] - m["scorecard_auc"] < 0.04
    assert all(300 <= b.reason_code < 500 for b in art.bins)
    assert "annual_output_value_cny" in art.extra_inputs


def test_artifact_is_canonical_and_hashable(merchant_model, tmp_path: Path) -> None:
    art = merchant_model.report.artifact
    raw = art.to_json_bytes()
    assert raw == json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
    assert len(art.content_hash()) == 32 and len(art.feature_schema_hash()) == 32
    path = art.save(tmp_path / "m.json")
    back = load_artifact(path)
    assert back.content_hash() == art.content_hash()
    assert back.feature_schema_hash() == art.feature_schema_hash()
    # points are integers, bins monotone, every feature's worst bin is 0
    for b in art.bins:
        assert all(isinstance(p, int) for p in b.points)
        assert min(min(b.points), b.missing_points) == 0
        diffs = np.diff(b.points)
        assert (diffs >= 0).all() or (diffs <= 0).all()
    tampered = json.loads(raw)
    tampered["base_points"] += 1
    (tmp_path / "t.json").write_text(json.dumps(tampered, indent=1))
    with pytest.raises(ArtifactError):
        load_artifact(tmp_path / "t.json")


def test_generic_frame() -> None:
    rng = np.random.default_rng(0)
    n = 6_000
    z = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "utilisation": 0.5 + 0.2 * z + 0.1 * rng.normal(size=n),
            "months_on_book": np.exp(3 - 0.3 * z + 0.3 * rng.normal(size=n)),
            "noise": rng.normal(size=n),
            "bad": (rng.random(n) < 1 / (1 + np.exp(-(-2.5 + 1.2 * z)))).astype(int),
        }
    )
    art = train(frame, "bad", ["utilisation", "months_on_book", "noise"])
    assert art.segment == "generic"
    assert {b.name for b in art.bins} >= {"utilisation", "months_on_book"}
    assert all(b.reason_code >= 60000 for b in art.bins)
    s = art.score_frame(frame)
    assert s.min() >= 300 and s.max() <= 900
    with pytest.raises(TrainingError):
        train(frame.assign(bad=2), "bad", ["utilisation"])
