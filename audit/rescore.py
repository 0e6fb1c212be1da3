"""Re-scoring committed feature bytes, a whole round at once.

The leaf commits to ``feature_bytes`` (schema hash + one int64 micro-unit value per
model feature and per extra input, see :mod:`scoring.engine`). From those bytes, the
model artifact and the policy the leaf names, and the round's as-of date, an auditor
recomputes the whole decision: status (rejected / insufficient history / scored),
score, limit, product mask and the four reason codes.

:func:`scoring.rescore_feature_bytes` does this for one scored row; here the same
building blocks (``points_matrix``, ``score_from_points``, ``reasons_from_points``,
``Policy.limits``, ``Policy.products``) run over a matrix of all rows, because a
round may hold a million decisions, and the history-based statuses that the engine
applies are replayed too (``history_days`` is one of the committed extra inputs).
A test checks the two agree row by row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from foundation.errors import EXIT_INPUT, CreditLedgerError
from scoring.canonical import FIXED_MISSING, FIXED_SCALE
from scoring.engine import reasons_from_points
from scoring.policy import Policy
from scoring.reasons import INSUFFICIENT_HISTORY, NO_VALID_RECORDS
from scoring.scorecard import ModelArtifact

HISTORY_INPUT = "history_days"


class RescoreError(CreditLedgerError, ValueError):
    """The artifact and policy cannot replay these inputs (segment or schema mismatch)."""

    code = "rescore_mismatch"
    hint = "re-score with the artifact and policy versions the round was anchored with, for the same segment"
    exit_code = EXIT_INPUT


@dataclass(frozen=True)
class Rescored:
    """Expected decision fields per row; ``schema_ok[i]`` False means row i was not rescored."""

    score: np.ndarray
    limit_cny: np.ndarray
    product_mask: np.ndarray
    reason_codes: np.ndarray  # (n, 4)
    schema_ok: np.ndarray  # bool (n,)

    def row(self, i: int) -> dict[str, object]:
        return {
            "score": int(self.score[i]),
            "limit_cny": int(self.limit_cny[i]),
            "product_mask": int(self.product_mask[i]),
            "reason_codes": tuple(int(c) for c in self.reason_codes[i]),
        }


def rescore_rows(artifact: ModelArtifact, policy: Policy, feature_bytes: Sequence[bytes], as_of: dt.date) -> Rescored:
    """The decisions ``artifact`` and ``policy`` make from each row's committed bytes."""
    if artifact.segment != policy.segment:
        raise RescoreError(f"model is for {artifact.segment!r}, policy for {policy.segment!r}")
    names = [*artifact.feature_names, *artifact.extra_inputs]
    width = 32 + 8 * len(names)
    prefix = artifact.feature_schema_hash()
    n = len(feature_bytes)
    schema_ok = np.array([len(b) == width and b[:32] == prefix for b in feature_bytes], dtype=bool)
    # Rows with a foreign schema are replaced by all-missing values so the matrix
    # stays rectangular; their results are masked out by ``schema_ok``.
    filler = bytes(8 * len(names)) if names else b""
    raw = b"".join(b[32:] if ok else filler for b, ok in zip(feature_bytes, schema_ok))
    matrix = (
        np.frombuffer(raw, dtype=">i8").astype(np.int64).reshape(n, len(names)) if names else np.zeros((n, 0), np.int64)
    )
    k = len(artifact.feature_names)
    points = artifact.points_matrix(matrix[:, :k])
    scores = artifact.score_from_points(points)
    reasons = reasons_from_points(artifact, points)
    columns = {name: matrix[:, i] for i, name in enumerate(names)}

    if HISTORY_INPUT in columns:
        fixed = columns[HISTORY_INPUT]
        history = np.where(fixed == FIXED_MISSING, 0, fixed // FIXED_SCALE)
    else:  # the engine treats a frame without history as fully historied
        history = np.full(n, 10**6, dtype=np.int64)
    rejected = history == 0
    short = (history < policy.min_history_days) & ~rejected
    scored = ~(rejected | short)
    scores = np.where(scored, scores, 0)
    reasons[short] = [INSUFFICIENT_HISTORY, 0, 0, 0]
    reasons[rejected] = [NO_VALID_RECORDS, 0, 0, 0]
    if policy.turnover_input not in columns:
        raise RescoreError(f"the model does not commit to the policy's turnover input {policy.turnover_input!r}")
    limits = np.where(scored, policy.limits(scores, columns[policy.turnover_input]), 0)
    products = policy.products(limits > 0, scores, columns, as_of)
    return Rescored(
        score=scores.astype(np.int64),
        limit_cny=limits.astype(np.int64),
        product_mask=np.asarray(products, dtype=np.int64),
        reason_codes=reasons.astype(np.int64),
        schema_ok=schema_ok,
    )
