"""Model validation measures: ROC AUC, KS, calibration by score band, PSI.

Scores here follow the scorecard convention: *higher score = lower risk*.
AUC and KS are therefore computed on the negated score against the default
flag, so a good model reports AUC well above 0.5.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray


def auc(y: ArrayLike, risk: ArrayLike) -> float:
    """ROC AUC of a risk measure (higher = riskier) against binary outcomes."""
    from sklearn.metrics import roc_auc_score  # slow to import; only training and reports need it

    return float(roc_auc_score(np.asarray(y), np.asarray(risk, dtype=np.float64)))


def ks(y: ArrayLike, risk: ArrayLike) -> float:
    """Kolmogorov-Smirnov statistic: max gap between the bads' and goods' risk CDFs."""
    y = np.asarray(y).astype(bool)
    r = np.asarray(risk, dtype=np.float64)
    order = np.argsort(r, kind="stable")
    ys = y[order]
    cum_bad = np.cumsum(ys) / max(1, ys.sum())
    cum_good = np.cumsum(~ys) / max(1, (~ys).sum())
    # Evaluate only at the last index of each tied value.
    rs = r[order]
    last = np.r_[rs[1:] != rs[:-1], True]
    return float(np.max(np.abs(cum_bad - cum_good)[last]))


def calibration_by_band(
    scores: NDArray[np.int64], y: NDArray[np.int64], predicted_pd: NDArray[np.float64], edges: list[int]
) -> pd.DataFrame:
    """Per score band: count, observed default rate, mean predicted PD."""
    bands = pd.cut(np.asarray(scores), bins=edges, right=False)
    frame = pd.DataFrame({"band": bands, "y": np.asarray(y, dtype=np.float64), "pd": predicted_pd})
    out = frame.groupby("band", observed=False).agg(
        count=("y", "size"), observed_rate=("y", "mean"), predicted_pd=("pd", "mean")
    )
    return out.reset_index().assign(band=lambda f: f["band"].astype(str))


def psi(expected: ArrayLike, actual: ArrayLike, edges: list[float]) -> float:
    """Population stability index between two score distributions on fixed band edges."""
    e = np.histogram(np.asarray(expected), bins=edges)[0].astype(np.float64)
    a = np.histogram(np.asarray(actual), bins=edges)[0].astype(np.float64)
    # A small floor keeps empty bands from giving infinities (standard practice).
    e = np.maximum(e / max(e.sum(), 1.0), 1e-6)
    a = np.maximum(a / max(a.sum(), 1.0), 1e-6)
    return float(np.sum((a - e) * np.log(a / e)))
