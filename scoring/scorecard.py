"""Scorecard training and the canonical model artifact.

Training entry point (generic): :func:`train` takes *any* tabular frame with a
binary target column (1 = default/bad, 0 = good) and a list of numeric
feature columns, so the same pipeline runs on other credit data than ours::

    art = train(frame, target="bad", features=["age", "utilisation"], segment="generic")
    art.save("model.json")

Pipeline: monotonic optimal binning per feature (optbinning
``BinningProcess``, WoE trend chosen per feature), logistic regression on the
WoE values (scikit-learn), features whose coefficient comes out with the
wrong sign are dropped and the model refitted, then points are scaled by
points-to-double-odds and rounded to integers per bin.

Score scale: ``score = base_points + sum(points of the feature's bin)``,
clipped to [300, 900].  600 points means good:bad odds of 20:1 (PD about
4.8 %); every 50 points doubles the odds.  Higher is better.  Each feature's
worst bin is worth 0 points, so a feature's points read as "how much this
behaviour earns"; its best bin is the reference for reason codes.

Why integers: floating-point model outputs differ in the last bits between
CPUs and BLAS code paths; integer points per bin do not.  Features are
quantised to fixed-point micro-units and bin edges are stored as the same
integers, so bin lookup is an exact integer comparison and the replayed value
is the integer score, explainable point by point.

The artifact is canonical JSON (:mod:`scoring.canonical`); its sha256 is what
the on-chain ModelRegistry records, and the sha256 of its feature schema is
the registry's feature-schema hash.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from scoring import metrics
from scoring.canonical import FIXED_MISSING, canonical_json_bytes, from_fixed, sha256, to_fixed
from scoring.errors import ArtifactError, TrainingError
from scoring.features import PeerAverages
from scoring.reasons import reason_code_for

if TYPE_CHECKING:  # optbinning and scikit-learn take seconds to import; only training needs them
    from optbinning import BinningProcess

ARTIFACT_FORMAT = "credit-ledger-scorecard/1"
SCORE_MIN, SCORE_MAX = 300, 900
BASE_SCORE, BASE_ODDS, PDO = 600, 20, 50
SCORE_BANDS = [300, 450, 500, 550, 600, 650, 700, 901]


@dataclass(frozen=True)
class FeatureBins:
    """One feature's bins: integer edges (micro-units), integer points, reason code.

    Bin ``k`` covers ``[splits[k-1], splits[k])``; a missing value takes
    ``missing_points``.
    """

    name: str
    splits: tuple[int, ...]
    points: tuple[int, ...]
    missing_points: int
    reason_code: int
    description: str = ""
    bad_rates: tuple[float, ...] = ()
    counts: tuple[int, ...] = ()

    @property
    def best_points(self) -> int:
        return max(max(self.points), self.missing_points)

    def bin_labels(self) -> list[str]:
        edges = [float(v) for v in from_fixed(np.array(self.splits, dtype=np.int64))] if self.splits else []
        lo = ["-inf", *[f"{e:g}" for e in edges]]
        hi = [*[f"{e:g}" for e in edges], "inf"]
        return [f"[{a}, {b})" for a, b in zip(lo, hi)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "splits": list(self.splits),
            "points": list(self.points),
            "missing_points": self.missing_points,
            "reason_code": self.reason_code,
            "description": self.description,
            "bad_rates": [round(float(r), 6) for r in self.bad_rates],
            "counts": list(self.counts),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureBins:
        return cls(
            d["name"],
            tuple(int(s) for s in d["splits"]),
            tuple(int(p) for p in d["points"]),
            int(d["missing_points"]),
            int(d["reason_code"]),
            d.get("description", ""),
            tuple(float(r) for r in d.get("bad_rates", ())),
            tuple(int(c) for c in d.get("counts", ())),
        )


@dataclass(frozen=True)
class ModelArtifact:
    """A trained scorecard: everything needed to replay a score, nothing else.

    ``extra_inputs`` are the non-model values (policy inputs) that are
    committed to in ``feature_bytes`` alongside the model features.
    """

    segment: str
    version: str
    target: str
    base_points: int
    bins: tuple[FeatureBins, ...]
    scale: dict[str, int]
    feature_schema: dict[str, Any]
    peers: PeerAverages | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_names(self) -> list[str]:
        return [b.name for b in self.bins]

    @property
    def extra_inputs(self) -> list[str]:
        return list(self.feature_schema.get("extra_inputs", []))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": ARTIFACT_FORMAT,
            "segment": self.segment,
            "version": self.version,
            "target": self.target,
            "base_points": self.base_points,
            "bins": [b.to_dict() for b in self.bins],
            "scale": dict(self.scale),
            "feature_schema": self.feature_schema,
            "peers": self.peers.to_dict() if self.peers else None,
            "metrics": self.metrics,
        }

    def to_json_bytes(self) -> bytes:
        """Canonical JSON: sorted keys, no whitespace, ints where possible."""
        return canonical_json_bytes(self.to_dict())

    def content_hash(self) -> bytes:
        """sha256 of :meth:`to_json_bytes` (32 bytes): the ModelRegistry artifact hash."""
        return sha256(self.to_json_bytes())

    def feature_schema_hash(self) -> bytes:
        """sha256 of the canonical feature-schema JSON (32 bytes)."""
        return sha256(canonical_json_bytes(self.feature_schema))

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(self.to_json_bytes())
        return p

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelArtifact:
        if d.get("format") != ARTIFACT_FORMAT:
            raise ArtifactError(f"unknown artifact format {d.get('format')!r}")
        try:
            return cls(
                segment=d["segment"],
                version=d["version"],
                target=d["target"],
                base_points=int(d["base_points"]),
                bins=tuple(FeatureBins.from_dict(b) for b in d["bins"]),
                scale={k: int(v) for k, v in d["scale"].items()},
                feature_schema=d["feature_schema"],
                peers=PeerAverages.from_dict(d["peers"]) if d.get("peers") else None,
                metrics=d.get("metrics", {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"malformed artifact: {exc}") from exc

    # ---------------------------------------------------------------- scoring

    def points_matrix(self, fixed: NDArray[np.int64]) -> NDArray[np.int64]:
        """Integer points per (row, feature) from an (n, k) int64 micro-unit matrix."""
        if fixed.ndim != 2 or fixed.shape[1] != len(self.bins):
            raise ArtifactError(f"expected {len(self.bins)} feature columns, got shape {fixed.shape}")
        out = np.empty(fixed.shape, dtype=np.int64)
        for j, b in enumerate(self.bins):
            col = fixed[:, j]
            table = np.array(b.points, dtype=np.int64)
            idx = np.searchsorted(np.array(b.splits, dtype=np.int64), col, side="right")
            pts = table[idx]
            pts[col == FIXED_MISSING] = b.missing_points
            out[:, j] = pts
        return out

    def score_from_points(self, points: NDArray[np.int64]) -> NDArray[np.int64]:
        total: NDArray[np.int64] = self.base_points + points.sum(axis=1)
        return np.clip(total, self.scale["min"], self.scale["max"]).astype(np.int64)

    def score_frame(self, frame: pd.DataFrame) -> NDArray[np.int64]:
        """Integer scores for a frame holding the model's feature columns (float values)."""
        fixed = np.column_stack([to_fixed(frame[n].to_numpy(dtype=np.float64)) for n in self.feature_names])
        return self.score_from_points(self.points_matrix(fixed))

    def pd_from_score(self, score: NDArray[np.integer[Any]]) -> NDArray[np.float64]:
        """The PD the scale assigns to a score (for calibration reports only)."""
        odds = self.scale["base_odds"] * np.power(
            2.0, (np.asarray(score, dtype=np.float64) - self.scale["base_score"]) / self.scale["pdo"]
        )
        return 1.0 / (1.0 + odds)


def load_artifact(path: str | Path) -> ModelArtifact:
    """Read an artifact file; the bytes must already be canonical (so the hash is stable)."""
    import json

    raw = Path(path).read_bytes()
    try:
        art = ModelArtifact.from_dict(json.loads(raw))
    except ValueError as exc:
        raise ArtifactError(f"{path}: not JSON: {exc}") from exc
    if art.to_json_bytes() != raw:
        raise ArtifactError(f"{path}: artifact bytes are not canonical (edited by hand?)")
    return art


# --------------------------------------------------------------------------- training


@dataclass
class TrainReport:
    """What :func:`train` measured: held-out metrics, challenger, timings."""

    artifact: ModelArtifact
    metrics: dict[str, Any]
    calibration: pd.DataFrame | None = None
    dropped_features: list[str] = field(default_factory=list)


def _check_frame(frame: pd.DataFrame, target: str, features: list[str]) -> NDArray[np.int64]:
    missing = [c for c in [target, *features] if c not in frame.columns]
    if missing:
        raise TrainingError(f"frame lacks columns {missing}")
    raw = frame[target].to_numpy()
    if pd.isna(raw).any() or not set(np.unique(raw)).issubset({0, 1}):
        raise TrainingError(f"target {target!r} must be binary 0/1 without missing values")
    y: NDArray[np.int64] = raw.astype(np.int64)
    if y.sum() < 10 or (1 - y).sum() < 10:
        raise TrainingError("need at least 10 goods and 10 bads to train")
    return y


def _fit_binning(
    x: pd.DataFrame, y: NDArray[np.int64], features: list[str], min_bin_size: float, max_n_bins: int
) -> BinningProcess:
    from optbinning import BinningProcess

    params = {f: {"monotonic_trend": "auto_asc_desc"} for f in features}
    bp = BinningProcess(features, max_n_bins=max_n_bins, min_bin_size=min_bin_size, binning_fit_params=params, n_jobs=1)
    # Fit on fixed-point-rounded values: the same numbers scoring will see.
    bp.fit(x, y)
    return bp


def train(
    frame: pd.DataFrame,
    target: str,
    features: list[str],
    *,
    segment: str = "generic",
    version: str | None = None,
    peers: PeerAverages | None = None,
    descriptions: dict[str, str] | None = None,
    extra_inputs: list[str] | None = None,
    schema_extra: dict[str, Any] | None = None,
    holdout: pd.DataFrame | None = None,
    min_bin_size: float = 0.03,
    max_n_bins: int = 8,
    regularisation_c: float = 1.0,
) -> ModelArtifact:
    """Train a scorecard on ``frame`` (binary ``target``, numeric ``features``).

    ``holdout`` (same columns) is scored after training and its AUC, KS and
    calibration stored in the artifact's ``metrics``.  Returns the artifact;
    use :func:`train_with_report` for the metrics as a report.
    """
    return train_with_report(
        frame,
        target,
        features,
        segment=segment,
        version=version,
        peers=peers,
        descriptions=descriptions,
        extra_inputs=extra_inputs,
        schema_extra=schema_extra,
        holdout=holdout,
        min_bin_size=min_bin_size,
        max_n_bins=max_n_bins,
        regularisation_c=regularisation_c,
    ).artifact


def train_with_report(
    frame: pd.DataFrame,
    target: str,
    features: list[str],
    *,
    segment: str = "generic",
    version: str | None = None,
    peers: PeerAverages | None = None,
    descriptions: dict[str, str] | None = None,
    extra_inputs: list[str] | None = None,
    schema_extra: dict[str, Any] | None = None,
    holdout: pd.DataFrame | None = None,
    min_bin_size: float = 0.03,
    max_n_bins: int = 8,
    regularisation_c: float = 1.0,
) -> TrainReport:
    """:func:`train`, returning a :class:`TrainReport` with metrics and calibration."""
    t0 = time.perf_counter()
    features = list(dict.fromkeys(features))
    y = _check_frame(frame, target, features)
    # Quantise exactly as scoring will, so bin edges see the committed values.
    x = pd.DataFrame({f: from_fixed(to_fixed(frame[f].to_numpy(dtype=np.float64))) for f in features})
    bp = _fit_binning(x, y, features, min_bin_size, max_n_bins)
    woe = bp.transform(x, metric="woe").to_numpy(dtype=np.float64)
    active = list(range(len(features)))
    dropped: list[str] = []
    # Drop features whose coefficient has the wrong sign (higher WoE must mean
    # lower risk): collinear features otherwise get counter-intuitive points.
    for _ in range(len(features)):
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=regularisation_c, max_iter=2000)
        lr.fit(woe[:, active], y)
        wrong = [active[i] for i, c in enumerate(lr.coef_[0]) if c >= 0]
        if not wrong:
            break
        dropped += [features[i] for i in wrong]
        active = [i for i in active if i not in wrong]
        if not active:
            raise TrainingError("no feature carries signal in the expected direction")

    factor = PDO / np.log(2.0)
    offset = BASE_SCORE - factor * np.log(BASE_ODDS)
    base = offset - factor * float(lr.intercept_[0])
    bins: list[FeatureBins] = []
    descriptions = descriptions or {}
    for pos, (j, beta) in enumerate(zip(active, lr.coef_[0])):
        name = features[j]
        ob = bp.get_binned_variable(name)
        table = ob.binning_table.build(show_digits=8)
        n_regular = len(ob.splits) + 1
        # Table rows: regular bins, then Special, then Missing, then a totals row.
        woe_all = table["WoE"].iloc[: n_regular + 2].to_numpy(dtype=np.float64)
        woe_regular, woe_missing = woe_all[:n_regular], float(woe_all[n_regular + 1])
        raw_pts = -factor * beta * np.r_[woe_regular, woe_missing]
        shift = raw_pts.min()  # worst bin = 0 points
        base += shift
        pts = np.rint(raw_pts - shift).astype(np.int64)
        splits = to_fixed(np.asarray(ob.splits, dtype=np.float64))
        event = table["Event rate"].iloc[:n_regular].to_numpy(dtype=np.float64)
        counts = table["Count"].iloc[:n_regular].to_numpy()
        bins.append(
            FeatureBins(
                name=name,
                splits=tuple(int(s) for s in splits),
                points=tuple(int(p) for p in pts[:n_regular]),
                missing_points=int(pts[-1]),
                reason_code=reason_code_for(segment, name, pos),
                description=descriptions.get(name, ""),
                bad_rates=tuple(float(np.nan_to_num(e)) for e in event),
                counts=tuple(int(c) for c in counts),
            )
        )
    schema: dict[str, Any] = {
        "segment": segment,
        "features": [{"name": b.name, "encoding": "fixed6"} for b in bins],
        # Policy inputs already committed as model features are not repeated.
        "extra_inputs": [e for e in dict.fromkeys(extra_inputs or []) if e not in {b.name for b in bins}],
        "feature_bytes": "sha256(schema) || int64 big-endian micro-units per feature then extra input; missing = -2**63",
    }
    schema.update(schema_extra or {})
    train_seconds = time.perf_counter() - t0
    art = ModelArtifact(
        segment=segment,
        version=version or f"{segment}-scorecard-v1",
        target=target,
        base_points=int(np.rint(base)),
        bins=tuple(bins),
        scale={"pdo": PDO, "base_score": BASE_SCORE, "base_odds": BASE_ODDS, "min": SCORE_MIN, "max": SCORE_MAX},
        feature_schema=schema,
        peers=peers,
    )
    report_metrics: dict[str, Any] = {
        "n_train": len(y),
        "bad_rate_train": round(float(y.mean()), 6),
        "train_auc": round(metrics.auc(y, -art.score_frame(x)), 6),
        "features_offered": len(features),
        "features_used": len(bins),
    }
    calibration = None
    if holdout is not None:
        yh = _check_frame(holdout, target, [])
        sh = art.score_frame(holdout)
        report_metrics.update(
            n_holdout=len(yh),
            holdout_auc=round(metrics.auc(yh, -sh), 6),
            holdout_ks=round(metrics.ks(yh, -sh), 6),
        )
        calibration = metrics.calibration_by_band(sh, yh, art.pd_from_score(sh), SCORE_BANDS)
        report_metrics["calibration"] = [
            {
                "band": r.band,
                "count": int(r.count),
                "observed": round(float(np.nan_to_num(r.observed_rate)), 6),
                "predicted": round(float(np.nan_to_num(r.predicted_pd)), 6),
            }
            for r in calibration.itertuples()
        ]
    art = dataclasses.replace(art, metrics=report_metrics)
    return TrainReport(art, dict(report_metrics, train_seconds=round(train_seconds, 3)), calibration, dropped)
