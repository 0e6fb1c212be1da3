"""Batch scoring: features + artifact + policy -> one Decision per merchant, vectorised.

Nothing here calls a model per row: features are quantised to int64
micro-units, bins found with ``searchsorted``, integer points summed per row,
reasons picked with a stable ``argsort`` of each row's shortfall against the
best bins, limits and products computed with integer numpy arithmetic.

Decision fields (see :class:`Decision`):

* ``score`` - integer 300..900 (higher = safer; 600 = odds 20:1, 50 points to
  double the odds); **0 when not scored** (insufficient history, rejected).
* ``limit_cny`` - whole CNY, within the policy bounds (merchants 5,000..300,000);
  **0 when declined** (score below the cut-off) or not scored.
* ``product_mask`` - bits from :mod:`scoring.policy` (uint32).
* ``reason_codes`` - four uint16 codes from :mod:`scoring.reasons`, worst first,
  0 = no reason.  Unscored rows carry the status code (900/901) first.
* ``feature_bytes`` - the commitment input: ``feature_schema_hash (32 bytes)``
  followed by one big-endian int64 per model feature and then per extra input
  (``artifact.extra_inputs``), each the value in micro-units (x 10**6,
  half-even), ``-2**63`` for missing.  An auditor with the inputs rebuilds
  these bytes with :func:`build_features` and recomputes the score and limit
  from them alone (:func:`decode_feature_bytes`, :func:`rescore_feature_bytes`).
"""

from __future__ import annotations

import datetime as dt
import gc
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from scoring.canonical import FIXED_MISSING, to_fixed
from scoring.errors import ArtifactError, PolicyError
from scoring.features import add_peer_features
from scoring.policy import Policy
from scoring.reasons import INSUFFICIENT_HISTORY, NO_VALID_RECORDS
from scoring.scorecard import ModelArtifact

STATUS_SCORED = "scored"
STATUS_INSUFFICIENT = "insufficient_history"
STATUS_REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Decision:
    """One merchant's decision in one round (see module docstring for units)."""

    merchant_id: str
    segment: str
    status: str
    status_reason: str
    score: int
    limit_cny: int
    product_mask: int
    reason_codes: tuple[int, int, int, int]
    feature_bytes: bytes
    model_version: str
    policy_version: str
    as_of: str

    @property
    def approved(self) -> bool:
        return self.limit_cny > 0


@dataclass
class DecisionBatch:
    """Column-oriented decisions (fast path for the oracle); ``decisions()`` makes objects."""

    merchant_id: NDArray[np.object_]  # str
    segment: str
    status: NDArray[np.object_]  # str
    status_reason: NDArray[np.object_]  # str
    score: NDArray[np.int64]
    limit_cny: NDArray[np.int64]
    product_mask: NDArray[np.int64]
    reason_codes: NDArray[np.int64]  # (n, 4)
    feature_bytes: list[bytes]
    points: NDArray[np.int64]  # (n, k) integer points per model feature
    model_version: str
    policy_version: str
    as_of: str

    def __len__(self) -> int:
        return len(self.merchant_id)

    def decisions(self) -> list[Decision]:
        rc = self.reason_codes.tolist()
        # Creating a million small objects triggers repeated full GC passes that
        # find nothing to free; pausing the collector halves the time.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._make_decisions(rc)
        finally:
            if was_enabled:
                gc.enable()

    def _make_decisions(self, rc: list[list[int]]) -> list[Decision]:
        return [
            Decision(
                m, self.segment, st, sr, sc, lim, pm, tuple(r), fb, self.model_version, self.policy_version, self.as_of
            )
            for m, st, sr, sc, lim, pm, r, fb in zip(
                self.merchant_id.tolist(),
                self.status.tolist(),
                self.status_reason.tolist(),
                self.score.tolist(),
                self.limit_cny.tolist(),
                self.product_mask.tolist(),
                rc,
                self.feature_bytes,
            )
        ]

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "merchant_id": self.merchant_id,
                "segment": self.segment,
                "status": self.status,
                "status_reason": self.status_reason,
                "score": self.score.astype(np.int32),
                "limit_cny": self.limit_cny,
                "product_mask": self.product_mask.astype(np.int64),
                **{f"reason_{i + 1}": self.reason_codes[:, i].astype(np.int32) for i in range(4)},
                "feature_bytes": self.feature_bytes,
                "model_version": self.model_version,
                "policy_version": self.policy_version,
                "as_of": self.as_of,
            }
        )


def _fixed_inputs(artifact: ModelArtifact, frame: pd.DataFrame) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    names = artifact.feature_names
    extras = artifact.extra_inputs
    missing = [c for c in [*names, *extras] if c not in frame.columns]
    if missing:
        raise ArtifactError(f"features frame lacks columns the artifact needs: {missing}")
    model = np.column_stack([to_fixed(frame[c].to_numpy(dtype=np.float64)) for c in names])
    extra = (
        np.column_stack([to_fixed(frame[c].to_numpy(dtype=np.float64)) for c in extras])
        if extras
        else np.empty((len(frame), 0), dtype=np.int64)
    )
    return model, extra


def _encode(schema_hash: bytes, matrix: NDArray[np.int64]) -> list[bytes]:
    width = matrix.shape[1] * 8
    raw = np.ascontiguousarray(matrix.astype(">i8")).tobytes()
    return (
        [schema_hash + raw[i : i + width] for i in range(0, len(raw), width)] if width else [schema_hash] * len(matrix)
    )


def reasons_from_points(artifact: ModelArtifact, points: NDArray[np.int64]) -> NDArray[np.int64]:
    """Top-four reason codes per row: features losing most points vs their best bin."""
    best = np.array([b.best_points for b in artifact.bins], dtype=np.int64)
    codes = np.array([b.reason_code for b in artifact.bins], dtype=np.int64)
    shortfall = best[None, :] - points
    # Stable sort on the negated shortfall: ties go to the earlier feature, deterministically.
    order = np.argsort(-shortfall, axis=1, kind="stable")[:, :4]
    picked = np.take_along_axis(shortfall, order, axis=1)
    out = np.where(picked > 0, codes[order], 0)
    if out.shape[1] < 4:
        out = np.pad(out, ((0, 0), (0, 4 - out.shape[1])))
    return out


def score_columns(
    artifact: ModelArtifact, policy: Policy, features_df: pd.DataFrame, as_of: dt.date | str
) -> DecisionBatch:
    """Score every row of ``features_df`` (from :func:`scoring.features.build_features`)."""
    if artifact.segment != policy.segment:
        raise PolicyError(f"artifact is for {artifact.segment!r}, policy for {policy.segment!r}")
    as_of_date = dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    frame = features_df
    if artifact.peers is not None:
        frame = add_peer_features(features_df, artifact.peers, artifact.segment)
    model, extra = _fixed_inputs(artifact, frame)
    n = len(frame)
    points = artifact.points_matrix(model)
    scores = artifact.score_from_points(points)
    reasons = reasons_from_points(artifact, points)

    history = frame["history_days"].to_numpy(dtype=np.int64) if "history_days" in frame else np.full(n, 10**6)
    rejected = history == 0
    short = (history < policy.min_history_days) & ~rejected
    scored = ~(rejected | short)
    scores = np.where(scored, scores, 0)
    status = np.where(rejected, STATUS_REJECTED, np.where(short, STATUS_INSUFFICIENT, STATUS_SCORED)).astype(object)
    status_reason = np.where(rejected, "no_valid_records", np.where(short, "insufficient_history", "")).astype(object)
    reasons[short] = [INSUFFICIENT_HISTORY, 0, 0, 0]
    reasons[rejected] = [NO_VALID_RECORDS, 0, 0, 0]

    inputs = {c: extra[:, i] for i, c in enumerate(artifact.extra_inputs)}
    inputs.update({c: model[:, i] for i, c in enumerate(artifact.feature_names)})
    if policy.turnover_input not in inputs:
        raise ArtifactError(f"artifact does not commit to the policy's turnover input {policy.turnover_input!r}")
    limits = np.where(scored, policy.limits(scores, inputs[policy.turnover_input]), 0)
    approved = limits > 0
    declined = scored & ~approved
    status_reason = np.where(declined, "below_cutoff", status_reason).astype(object)
    products = policy.products(approved, scores, inputs, as_of_date)

    fbytes = _encode(artifact.feature_schema_hash(), np.concatenate([model, extra], axis=1))
    return DecisionBatch(
        merchant_id=np.asarray(frame.index.astype(str), dtype=object),
        segment=artifact.segment,
        status=status,
        status_reason=status_reason,
        score=scores.astype(np.int64),
        limit_cny=limits.astype(np.int64),
        product_mask=products.astype(np.int64),
        reason_codes=reasons.astype(np.int64),
        feature_bytes=fbytes,
        points=points,
        model_version=artifact.version,
        policy_version=policy.version,
        as_of=as_of_date.isoformat(),
    )


def score_batch(
    artifact: ModelArtifact, policy: Policy, features_df: pd.DataFrame, as_of: dt.date | str
) -> list[Decision]:
    """Score a batch and return one frozen :class:`Decision` per row."""
    return score_columns(artifact, policy, features_df, as_of).decisions()


def decode_feature_bytes(artifact: ModelArtifact, data: bytes) -> dict[str, int]:
    """The committed micro-unit values by name (checks the schema hash prefix)."""
    names = [*artifact.feature_names, *artifact.extra_inputs]
    if len(data) != 32 + 8 * len(names) or data[:32] != artifact.feature_schema_hash():
        raise ArtifactError("feature bytes do not match this artifact's feature schema")
    values = np.frombuffer(data[32:], dtype=">i8").astype(np.int64)
    return dict(zip(names, (int(v) for v in values)))


def rescore_feature_bytes(artifact: ModelArtifact, policy: Policy, data: bytes, as_of: dt.date) -> tuple[int, int, int]:
    """An auditor's replay from the commitment alone: (score, limit, product_mask) of a scored row."""
    vals = decode_feature_bytes(artifact, data)
    model = np.array([[vals[n] for n in artifact.feature_names]], dtype=np.int64)
    score = artifact.score_from_points(artifact.points_matrix(model))
    limit = policy.limits(score, np.array([vals.get(policy.turnover_input, FIXED_MISSING)]))
    inputs = {k: np.array([v]) for k, v in vals.items()}
    mask = policy.products(limit > 0, score, inputs, as_of)
    return int(score[0]), int(limit[0]), int(mask[0])
