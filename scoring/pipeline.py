"""The platform pipeline: export -> features -> training frame -> scorecard + challenger.

:func:`train_segment` is what ``credit-ledger score train`` runs on generated
(or mapped real) data: it builds features, computes the peer averages that go
into the artifact, splits merchants into train and hold-out, trains the
scorecard with :func:`scoring.scorecard.train_with_report`, trains a
gradient-boosting challenger on the same features, and - when the export
carries ground truth - reports the AUC of the hidden risk on the same hold-out
(the best any model could do).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from scoring import metrics
from scoring.errors import TrainingError
from scoring.features import (
    FEATURE_CODE_VERSION,
    SEGMENT_FEATURES,
    SEGMENT_PEER_KEYS,
    SEGMENT_POLICY_INPUTS,
    PeerAverages,
    add_peer_features,
    build_features,
    compute_peers,
    model_feature_names,
)
from scoring.platform import PlatformData
from scoring.policy import default_policy
from scoring.scorecard import TrainReport, train_with_report

TARGET = "defaulted"


@dataclass
class SegmentTrainResult:
    """A trained artifact and everything measured while training it."""

    report: TrainReport
    metrics: dict[str, Any] = field(default_factory=dict)


def training_frame(data: PlatformData, min_history_days: int) -> tuple[pd.DataFrame, PeerAverages]:
    """Features with peer columns and the target, for entities with enough history."""
    if data.truth is None:
        raise TrainingError("training needs outcomes: the export has no truth.parquet")
    feats = build_features(data)
    peers = compute_peers(feats, data.segment, min_history_days)
    frame = add_peer_features(feats, peers, data.segment)
    truth = data.truth.set_index(data.truth["merchant_id"].astype(str))
    frame = frame.join(truth[[TARGET, "hidden_pd"]], how="inner")
    frame = frame[frame["history_days"] >= min_history_days]
    return frame, peers


def split_mask(n: int, holdout_share: float, seed: int) -> NDArray[np.bool_]:
    """True for hold-out rows: a seeded random split (reproducible)."""
    return np.random.default_rng(seed).random(n) < holdout_share


def train_segment(
    data: PlatformData,
    *,
    version: str | None = None,
    holdout_share: float = 0.3,
    challenger: bool = True,
    min_history_days: int | None = None,
    seed: int = 0,
) -> SegmentTrainResult:
    """Train the segment's scorecard (and challenger) on an export with outcomes."""
    seg = data.segment
    min_days = min_history_days if min_history_days is not None else default_policy(seg).min_history_days
    t0 = time.perf_counter()
    frame, peers = training_frame(data, min_days)
    t_features = time.perf_counter() - t0
    hold = split_mask(len(frame), holdout_share, seed)
    train_df, hold_df = frame[~hold], frame[hold]
    features = model_feature_names(seg)
    descriptions = {s.name: s.description for s in SEGMENT_FEATURES[seg]}
    descriptions.update(
        {
            s.name + "_vs_peers": f"{s.description}, relative to {' x '.join(SEGMENT_PEER_KEYS[seg])} peers"
            for s in SEGMENT_FEATURES[seg]
            if s.peer
        }
    )
    t1 = time.perf_counter()
    report = train_with_report(
        train_df,
        TARGET,
        features,
        segment=seg,
        version=version or f"{seg}-scorecard-v1",
        peers=peers,
        descriptions=descriptions,
        extra_inputs=[*SEGMENT_POLICY_INPUTS[seg], "history_days"],
        schema_extra={
            "feature_code": FEATURE_CODE_VERSION,
            "peer_keys": list(SEGMENT_PEER_KEYS[seg]),
            "window_days": 60,
        },
        holdout=hold_df,
    )
    out: dict[str, Any] = {
        "segment": seg,
        "n_entities": len(data.entities),
        "n_train": len(train_df),
        "n_holdout": len(hold_df),
        "feature_seconds": round(t_features, 3),
        "train_seconds": round(time.perf_counter() - t1, 3),
        "scorecard_auc": report.metrics.get("holdout_auc"),
        "scorecard_ks": report.metrics.get("holdout_ks"),
        "hidden_risk_auc": round(metrics.auc(hold_df[TARGET], hold_df["hidden_pd"]), 6),
        "features_used": len(report.artifact.bins),
    }
    if challenger:
        t2 = time.perf_counter()
        from sklearn.ensemble import HistGradientBoostingClassifier

        gbm = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, early_stopping=True, random_state=seed)
        gbm.fit(train_df[features], train_df[TARGET])
        risk = gbm.predict_proba(hold_df[features])[:, 1]
        out["challenger_auc"] = round(metrics.auc(hold_df[TARGET], risk), 6)
        out["challenger_ks"] = round(metrics.ks(hold_df[TARGET], risk), 6)
        out["challenger_seconds"] = round(time.perf_counter() - t2, 3)
    return SegmentTrainResult(report, out)
