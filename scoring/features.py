"""Behaviour features over the 60-day window, and their peer-relative versions.

:func:`build_features` turns a validated platform export into one row per
merchant (or farmer), indexed by ``merchant_id``.  Every feature is rounded to
6 decimals, the fixed-point scale of :mod:`scoring.canonical`, so the value in
the frame is exactly the value committed to in ``Decision.feature_bytes``.

Merchant features (the lender named the first seven):

* ``transaction_count`` - orders per 60 days (rate over valid days x 60)
* ``order_volatility`` - coefficient of variation of daily orders
* ``sku_turnover`` - units sold per month / average stock
* ``repeat_purchase_rate`` - repeat customers / customers
* ``inventory_update_freq`` - inventory update events per week
* ``review_score`` - average stars; ``review_trend`` - stars per 30 days
  (review-weighted least-squares slope)
* ``refund_rate``, ``complaint_rate`` (per 1,000 orders), ``order_trend``
  (slope of log(1 + orders) per 30 days), ``active_day_ratio``

Policy inputs (not model features, but committed to as well):
``monthly_revenue_cny`` (turnover), ``promo_top_sku_share_ratio`` (share of
the top SKUs in units on promotion days / on other days: the marketing-loan
signal) and ``festival_lift`` (revenue per day in festival run-ups / other
days: the stocking-finance signal).

Each peer feature ``<name>_vs_peers`` compares the merchant with the average of
its industry x region group (farmers: main crop x region) - a ratio for
levels, a difference for scores and trends.  The peer averages are computed
once at training time and stored in the model artifact (:class:`PeerAverages`),
so replay uses the same ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from scoring.calendar import festival_peaks
from scoring.canonical import FIXED_MISSING, from_fixed, to_fixed
from scoring.errors import ValidationError
from scoring.platform import PlatformData
from scoring.validate import ValidationResult, validate

FEATURE_CODE_VERSION = "features-1"
PEER_SUFFIX = "_vs_peers"


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """A feature's name, meaning and how it is compared with peers (``ratio``/``diff``/None)."""

    name: str
    description: str
    peer: str | None


MERCHANT_FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("transaction_count", "orders per 60 days", "ratio"),
    FeatureSpec("order_volatility", "coefficient of variation of daily orders", "ratio"),
    FeatureSpec("sku_turnover", "units sold per month / average stock", "ratio"),
    FeatureSpec("repeat_purchase_rate", "repeat customers / customers", "ratio"),
    FeatureSpec("inventory_update_freq", "inventory update events per week", "ratio"),
    FeatureSpec("review_score", "average review stars (1-5)", "diff"),
    FeatureSpec("review_trend", "change in review stars per 30 days", "diff"),
    FeatureSpec("refund_rate", "refunds / revenue", "ratio"),
    FeatureSpec("complaint_rate", "complaints per 1,000 orders", "ratio"),
    FeatureSpec("order_trend", "slope of log(1+orders) per 30 days", None),
    FeatureSpec("active_day_ratio", "days with orders / days with records", None),
)
MERCHANT_POLICY_INPUTS: tuple[str, ...] = ("monthly_revenue_cny", "promo_top_sku_share_ratio", "festival_lift")

FARMER_FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("planted_area_mu", "planted area in mu", "ratio"),
    FeatureSpec("output_value_per_mu", "last year's output value per mu", "ratio"),
    FeatureSpec("output_growth", "last year's output value / the year before - 1", "diff"),
    FeatureSpec("output_volatility", "coefficient of variation of 3 years' output value", "ratio"),
    FeatureSpec("order_count", "buyer orders per 60 days", "ratio"),
    FeatureSpec("order_volatility", "coefficient of variation of weekly order value", "ratio"),
    FeatureSpec("coop_trade_freq", "co-operative trades per 30 days", "ratio"),
    FeatureSpec("ndvi_mean", "mean vegetation index (NDVI) on clear satellite passes", "diff"),
    FeatureSpec("machinery_hours_per_mu", "machinery hours per mu per 30 days", "ratio"),
    FeatureSpec("crop_count", "number of crops grown", None),
)
FARMER_POLICY_INPUTS: tuple[str, ...] = (
    "annual_output_value_cny",
    "coop_member",
    "coop_trade_freq",
    "machinery_hours_per_mu",
)

SEGMENT_FEATURES: dict[str, tuple[FeatureSpec, ...]] = {"merchant": MERCHANT_FEATURES, "farmer": FARMER_FEATURES}
SEGMENT_POLICY_INPUTS: dict[str, tuple[str, ...]] = {"merchant": MERCHANT_POLICY_INPUTS, "farmer": FARMER_POLICY_INPUTS}
SEGMENT_PEER_KEYS: dict[str, tuple[str, str]] = {"merchant": ("industry", "region"), "farmer": ("main_crop", "region")}
HISTORY_COLUMNS: tuple[str, ...] = ("history_days", "gap_days", "rejected_records", "repaired_records")


def model_feature_names(segment: str) -> list[str]:
    """Raw features followed by their peer-relative versions: the default model inputs."""
    specs = SEGMENT_FEATURES[segment]
    return [s.name for s in specs] + [s.name + PEER_SUFFIX for s in specs if s.peer]


@dataclass(frozen=True)
class PeerAverages:
    """Per-group feature averages in fixed-point micro-units, plus an all-entities fallback.

    ``groups`` maps ``"<key1>|<key2>"`` to ``{feature: micro-units}``; a group
    unseen at training time falls back to ``overall``.
    """

    keys: tuple[str, ...]
    groups: dict[str, dict[str, int]]
    overall: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"keys": list(self.keys), "groups": self.groups, "overall": self.overall}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PeerAverages:
        return cls(tuple(d["keys"]), {k: dict(v) for k, v in d["groups"].items()}, dict(d["overall"]))


# --------------------------------------------------------------------------- helpers


def _sum(codes: NDArray[np.int64], x: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    # numpy's stub types bincount as intp whatever the weights; with float weights it returns float64.
    return cast("NDArray[np.float64]", np.bincount(codes, weights=x, minlength=n))


def _div(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = a / b
    out[~np.isfinite(out)] = np.nan
    return out


def _slope(
    codes: NDArray[np.int64], t: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64], n: int
) -> NDArray[np.float64]:
    """Weighted least-squares slope of y on t per entity (NaN when undefined)."""
    sw = _sum(codes, w, n)
    st = _sum(codes, w * t, n)
    stt = _sum(codes, w * t * t, n)
    sy = _sum(codes, w * y, n)
    sty = _sum(codes, w * t * y, n)
    den = sw * stt - st * st
    out = _div(sw * sty - st * sy, den)
    out[den <= 1e-9 * np.maximum(sw * stt, 1.0)] = np.nan
    return out


def _festival_days(start: dt.date, end: dt.date) -> NDArray[np.bool_]:
    """Flags for days within the 7-day run-up to a festival peak (inclusive)."""
    days = (end - start).days + 1
    flags = np.zeros(days, dtype=bool)
    for peak, _fest in festival_peaks(start, end + dt.timedelta(days=7)):
        for k in range(8):
            j = (peak - dt.timedelta(days=k) - start).days
            if 0 <= j < days:
                flags[j] = True
    return flags


def _quantise(frame: pd.DataFrame, cols: list[str]) -> None:
    for c in cols:
        frame[c] = from_fixed(to_fixed(frame[c].to_numpy(dtype=np.float64)))


# --------------------------------------------------------------------------- builders


def build_features(data: PlatformData, validation: ValidationResult | None = None) -> pd.DataFrame:
    """One row per entity of ``data`` (index ``merchant_id``): raw features, policy inputs,
    peer keys and history statistics.  Peer-relative columns are added by
    :func:`add_peer_features` with the model's :class:`PeerAverages`.
    """
    result = validation if validation is not None else validate(data)
    if data.segment == "merchant":
        frame = _merchant_features(data, result)
    elif data.segment == "farmer":
        frame = _farmer_features(data, result)
    else:
        raise ValidationError(f"unknown segment {data.segment!r}")
    for c in HISTORY_COLUMNS:
        frame[c] = result.entity_stats[c].reindex(frame.index).fillna(0).astype(np.int64).to_numpy()
    frame.attrs["segment"] = data.segment
    frame.attrs["as_of"] = data.as_of.isoformat()
    return frame


def _codes(data: PlatformData, result: ValidationResult) -> tuple[pd.Index, NDArray[np.int64], NDArray[np.float64]]:
    daily = result.daily
    index = pd.Index(data.entities["merchant_id"].astype(str), name="merchant_id")
    codes = result.codes if result.codes is not None else index.get_indexer(daily["merchant_id"].astype(str))
    t = ((daily["date"] - pd.Timestamp(data.window_start)).dt.days).to_numpy(dtype=np.float64)
    return index, codes, t


def _merchant_features(data: PlatformData, result: ValidationResult) -> pd.DataFrame:
    d = result.daily
    index, codes, t = _codes(data, result)
    n = len(index)
    f = {c: d[c].to_numpy(dtype=np.float64) for c in d.columns if c not in ("merchant_id", "date")}
    ones = np.ones(len(d))
    hd = _sum(codes, ones, n)
    o = f["orders"]
    so = _sum(codes, o, n)
    mean_o = _div(so, hd)
    var_o = np.maximum(_div(_sum(codes, o * o, n), hd) - mean_o**2, 0.0)
    promo = f["promo_day"] > 0
    fest = _festival_days(data.window_start, data.window_end)[t.astype(np.int64)]
    rev = f["revenue_cny"]
    top_p = _sum(codes, f["top_sku_units"] * promo, n)
    units_p = _sum(codes, f["units_sold"] * promo, n)
    top_o = _sum(codes, f["top_sku_units"] * ~promo, n)
    units_o = _sum(codes, f["units_sold"] * ~promo, n)
    fest_days = _sum(codes, fest.astype(np.float64), n)
    out = pd.DataFrame(
        {
            "transaction_count": mean_o * 60.0,
            "order_volatility": _div(np.sqrt(var_o), mean_o),
            "sku_turnover": _div(_sum(codes, f["units_sold"], n), _sum(codes, f["stock_units"], n)) * 30.0,
            "repeat_purchase_rate": _div(_sum(codes, f["repeat_customers"], n), _sum(codes, f["customers"], n)),
            "inventory_update_freq": _div(_sum(codes, f["inventory_updates"], n), hd) * 7.0,
            "review_score": _div(_sum(codes, f["review_stars_sum"], n), _sum(codes, f["review_count"], n)),
            "review_trend": _slope(
                codes, t, _div(f["review_stars_sum"], np.maximum(f["review_count"], 1.0)), f["review_count"], n
            )
            * 30.0,
            "refund_rate": _div(_sum(codes, f["refunds_cny"], n), _sum(codes, rev, n)),
            "complaint_rate": _div(_sum(codes, f["complaints"], n), so) * 1000.0,
            "order_trend": _slope(codes, t, np.log1p(o), ones, n) * 30.0,
            "active_day_ratio": _div(_sum(codes, (o > 0).astype(np.float64), n), hd),
            "monthly_revenue_cny": _div(_sum(codes, rev, n), hd) * 30.0,
            "promo_top_sku_share_ratio": _div(_div(top_p, units_p), _div(top_o, units_o)),
            "festival_lift": _div(
                _div(_sum(codes, rev * fest, n), fest_days),
                _div(_sum(codes, rev * ~fest, n), hd - fest_days),
            ),
        },
        index=index,
    )
    _quantise(out, list(out.columns))
    out.insert(0, "region", data.entities["region"].astype(str).to_numpy())
    out.insert(0, "industry", data.entities["industry"].astype(str).to_numpy())
    return out


def _farmer_features(data: PlatformData, result: ValidationResult) -> pd.DataFrame:
    d = result.daily
    e = data.entities
    index, codes, t = _codes(data, result)
    n = len(index)
    hd = _sum(codes, np.ones(len(d)), n)
    area = e["planted_area_mu"].to_numpy(dtype=np.float64)
    y = e[["output_value_y1", "output_value_y2", "output_value_y3"]].to_numpy(dtype=np.float64)
    weeks = int(t.max() // 7 + 1) if len(t) else 1
    wk = codes * weeks + (t // 7).astype(np.int64)
    value = d["order_value_cny"].to_numpy(dtype=np.float64)
    weekly = np.bincount(wk, weights=value, minlength=n * weeks).reshape(n, weeks)
    seen = np.bincount(wk, minlength=n * weeks).reshape(n, weeks) > 0
    wcount = seen.sum(axis=1).astype(np.float64)
    wmean = _div((weekly * seen).sum(axis=1), wcount)
    wvar = np.maximum(_div(((weekly - wmean[:, None]) ** 2 * seen).sum(axis=1), wcount), 0.0)
    ndvi = d["ndvi"].to_numpy(dtype=np.float64)
    obs = np.isfinite(ndvi)
    out = pd.DataFrame(
        {
            "planted_area_mu": area,
            "output_value_per_mu": _div(y[:, 2], area),
            "output_growth": _div(y[:, 2], y[:, 1]) - 1.0,
            "output_volatility": _div(y.std(axis=1), y.mean(axis=1)),
            "order_count": _div(_sum(codes, d["orders"].to_numpy(dtype=np.float64), n), hd) * 60.0,
            "order_volatility": _div(np.sqrt(wvar), wmean),
            "coop_trade_freq": _div(_sum(codes, d["coop_trades"].to_numpy(dtype=np.float64), n), hd) * 30.0,
            "ndvi_mean": _div(_sum(codes[obs], ndvi[obs], n), _sum(codes[obs], np.ones(int(obs.sum())), n)),
            "machinery_hours_per_mu": _div(
                _div(_sum(codes, d["machinery_hours"].to_numpy(dtype=np.float64), n), hd) * 30.0, area
            ),
            "crop_count": e["crop_count"].to_numpy(dtype=np.float64),
            "annual_output_value_cny": y[:, 2],
            "coop_member": e["coop_member"].astype(bool).to_numpy().astype(np.float64),
        },
        index=index,
    )
    _quantise(out, list(out.columns))
    out.insert(0, "region", e["region"].astype(str).to_numpy())
    out.insert(0, "main_crop", e["main_crop"].astype(str).to_numpy())
    return out


# --------------------------------------------------------------------------- peers


def compute_peers(frame: pd.DataFrame, segment: str, min_history_days: int = 1) -> PeerAverages:
    """Average of each peer-compared feature per group (ignoring NaN), in micro-units."""
    keys = SEGMENT_PEER_KEYS[segment]
    specs = [s for s in SEGMENT_FEATURES[segment] if s.peer]
    ok = frame["history_days"] >= min_history_days if "history_days" in frame else slice(None)
    base = frame.loc[ok]
    groups: dict[str, dict[str, int]] = {}
    for gkey, sub in base.groupby(list(keys), sort=True):
        label = "|".join(str(k) for k in gkey)
        groups[label] = {s.name: int(to_fixed(sub[s.name].mean())[0]) for s in specs}
    overall = {s.name: int(to_fixed(base[s.name].mean())[0]) for s in specs}
    return PeerAverages(tuple(keys), groups, overall)


def add_peer_features(frame: pd.DataFrame, peers: PeerAverages, segment: str) -> pd.DataFrame:
    """Return ``frame`` with ``<name>_vs_peers`` columns computed from fixed-point values.

    The arithmetic runs on integers (diff) or one correctly rounded IEEE
    division (ratio), then is re-quantised, so it is identical on every CPU.
    """
    out = frame.copy()
    label = out[peers.keys[0]].astype(str)
    for key in peers.keys[1:]:
        label = label + "|" + out[key].astype(str)
    # Factorise once: a handful of groups, looked up per group rather than per row.
    group_codes, group_labels = pd.factorize(label.to_numpy(dtype=object))
    for spec in SEGMENT_FEATURES[segment]:
        if not spec.peer:
            continue
        default = peers.overall.get(spec.name, FIXED_MISSING)
        table = {g: v.get(spec.name, default) for g, v in peers.groups.items()}
        peer = np.array([table.get(g, default) for g in group_labels], dtype=np.int64)
        peer_of = peer[group_codes] if len(group_codes) else np.empty(0, dtype=np.int64)
        raw = to_fixed(out[spec.name].to_numpy(dtype=np.float64))
        bad = (raw == FIXED_MISSING) | (peer_of == FIXED_MISSING)
        if spec.peer == "ratio":
            bad |= peer_of == 0
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = to_fixed(raw.astype(np.float64) / np.where(bad, 1, peer_of).astype(np.float64))
        else:
            rel = raw - peer_of
        rel[bad] = FIXED_MISSING
        out[spec.name + PEER_SUFFIX] = from_fixed(rel)
    return out
