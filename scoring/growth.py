"""Growth-plan diagnostics: four peer-relative indicators and a diagnosis report per merchant.

Everything here is computed from one platform export (:class:`scoring.synth.PlatformData`,
60 days of daily records) and the merchant's industry x region peers in that
same export.  Nothing is random and nothing depends on the clock: the same
export gives the same report, byte for byte.

Indicators (each an integer 0..100)
===================================

Each indicator combines a few *components*.  A component is a per-merchant
metric ``v`` compared with the average ``p`` of that metric over the
merchant's **industry x region peers** (merchants of the export with at least
``Policy.min_history_days`` valid days and a finite value; a group with no such
peer falls back to the average over all merchants).  The comparison is a
ratio ``r`` where ``r > 1`` means better than peers:

* ``higher`` is better:  ``r = v / p``
* ``lower`` is better:   ``r = p / v``   (``v = 0`` with ``p > 0`` is the best case)
* ``diff`` (a log-rate): ``r = exp(v - p)`` (the ratio of the two 30-day growth factors)

``r`` is clipped to ``[1/8, 8]``; a component whose ``v`` or ``p`` is missing
(e.g. no promotion days, so no promotion lift) counts as ``r = 1`` (neutral) and
is reported as missing.  With weights ``w`` (summing to 1) the indicator is::

    R = exp(sum_k w_k * ln r_k)            # weighted geometric mean of the ratios
    indicator = round(100 * R**2 / (1 + R**2))

so a merchant exactly at its peers' average scores 50, twice as good on every
component scores 80, half as good 20; the clip keeps it within 2..98.  The map
is strictly increasing in ``R`` and ``R`` is increasing in every ``higher`` /
``diff`` component and decreasing in every ``lower`` one, so (peers fixed) the
indicator is monotone in each component (weakly, after rounding and clipping).

=======================  ==========================================  ======  ======
indicator                component (metric)                          better  weight
=======================  ==========================================  ======  ======
operating_stability      order_volatility (CV of daily orders)       lower   0.4
                         active_day_ratio (days with orders)         higher  0.2
                         refund_rate (refunds / revenue)             lower   0.2
                         complaint_rate (per 1,000 orders)           lower   0.2
growth_potential         order_trend (slope of log(1+orders)/30 d)   diff    0.4
                         revenue_growth (revenue/day, last 28 days   higher  0.4
                         / the 28 days before)
                         new_customers_per_day (customers - repeat)  higher  0.2
marketing_conversion     promo_order_lift (orders per promotion day  higher  0.4
                         / per other day)
                         promo_new_customer_lift (new customers per  higher  0.3
                         promotion day / per other day)
                         repeat_purchase_rate (repeat / customers)   higher  0.3
capital_efficiency       sku_turnover (units sold / stock, monthly)  higher  0.5
                         revenue_per_sku (monthly revenue / SKUs)    higher  0.3
                         net_revenue_share (1 - refund_rate)         higher  0.2
=======================  ==========================================  ======  ======

``order_volatility``, ``active_day_ratio``, ``refund_rate``, ``complaint_rate``,
``order_trend``, ``sku_turnover``, ``repeat_purchase_rate`` and the two policy
inputs below are the scoring features of :mod:`scoring.features` (same values);
the others are computed here from the validated daily records.  Each indicator
is shown with its peer group's average indicator and the merchant's percentile
in the group.

Diagnosis items
===============

Each item has a stable ``code`` (never renamed or reused), a category, text in
Chinese and English, the numbers that triggered it, and at most one matched
product bit of :mod:`scoring.policy`.  A product is linked only when the
policy's own product rule holds on this data (so the advice never names a
product the policy would refuse on these numbers); whether it is actually
offered still depends on approval (score >= cut-off).

``SKU_PROMO_ONLY`` (sku, -> ``MARKETING_LOAN``)
    the top-5 SKUs' share of units on promotion days / on other days
    (``promo_top_sku_share_ratio``) >= ``Policy.marketing_min_promo_ratio``:
    the best sellers move only on discount.
``SKU_SLOW_MOVERS`` (sku)
    stock cover (average stock / units sold per day) >= 1.5 x the peers' cover:
    slow movers tie up stock.  The numbers include the units held beyond the
    peers' cover and the daily units per non-top SKU.
``RESTOCK_CYCLE`` (restock)
    restock cycle (valid days / inventory-update events; the number of valid
    days if there were none) against sell-through (stock cover in days): triggered when
    the cycle exceeds the cover (stock-outs between restocks) or the ratio
    cycle / cover is >= 1.5 x the peers'.
``RESTOCK_FESTIVAL`` (restock, -> ``STOCKING_FINANCE``)
    a festival peak at most ``Policy.stocking_lead_days`` (30) days after
    ``as_of`` (:func:`scoring.calendar.next_peak`) and a festival lift
    (``festival_lift``: revenue per day in 7-day festival run-ups / other days)
    >= ``Policy.stocking_min_festival_lift``.  **Last year's pattern**: the
    export holds 60 days, not a year, so "last year" is the calendar (the same
    festival's peak date last year, from :mod:`scoring.calendar`, and its
    demand ramp) together with the lift the merchant showed in the festival
    run-ups inside its window - the same signal the policy uses.  The numbers
    give the suggested extra units (``(lift - 1) x units/day x (ramp + 1)``)
    and the date to restock by (peak - ramp - one restock cycle).
``RESTOCK_FESTIVAL_FLAT`` (restock)
    a peak is that close but the merchant's festival lift is below the
    threshold (or it had no festival run-up in its window): do not overstock.
``CUSTOMER_PROFILE`` (customer)
    always: repeat vs new buyers, new buyers per day, basket (ticket, units per
    order) against peers, weekend share of orders and the peak hours.
``CUSTOMER_RETENTION_LOW`` (customer)
    repeat-purchase rate < 0.85 x the peers'.
``MARKETING_TIME`` (marketing, -> ``MARKETING_LOAN`` when ``SKU_PROMO_ONLY`` holds)
    which weekdays and hours convert: orders per weekday as an index
    (100 = the merchant's daily average), the best two weekdays, promotion
    lift, and the peak hours.

Hour of day is **derived, not observed**.  The export (``DATA_FORMAT.md``)
has daily records only and the generator cannot add an hourly split without a
new table, so each day's orders are spread over 24 hours with a fixed industry
curve (weekday and weekend variants; weekends start an hour later), shifted by
-1, 0 or +1 hour per merchant by ``sha256(merchant_id)[0] % 3 - 1``.  The
merchant's own data therefore only moves the hour profile through its weekday
/ weekend mix; items carry ``hours_derived = true`` so no reader mistakes it for
a measurement.  A real export with order timestamps would replace
:func:`hour_profile`.

Usage::

    analysis = GrowthAnalysis(data)          # one export; peers computed once
    report = analysis.report("M00000042")    # GrowthReport
    report.to_dict(lang="en")                # JSON-able (without the private id by default)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from scoring.calendar import festival_peaks, next_peak
from scoring.canonical import FIXED_SCALE
from scoring.errors import ScoringError
from scoring.features import build_features
from scoring.platform import PlatformData
from scoring.policy import MARKETING_LOAN, STOCKING_FINANCE, Policy, default_policy, product_names
from scoring.validate import ValidationResult, validate

GROWTH_VERSION = "growth-1"
LANGS = ("zh", "en")
MAX_RATIO = 8.0
PEER_KEYS = ("industry", "region")

# --------------------------------------------------------------------------- indicator specs


@dataclass(frozen=True, slots=True)
class Component:
    """One metric of an indicator: how it compares with peers and its weight."""

    metric: str
    better: str  # "higher", "lower" or "diff"
    weight: float
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    key: str
    zh: str
    en: str
    components: tuple[Component, ...]


INDICATORS: tuple[IndicatorSpec, ...] = (
    IndicatorSpec(
        "operating_stability",
        "经营稳定性",
        "Operating stability",
        (
            Component("order_volatility", "lower", 0.4, "日订单波动系数", "CV of daily orders"),
            Component("active_day_ratio", "higher", 0.2, "有订单天数占比", "Share of days with orders"),
            Component("refund_rate", "lower", 0.2, "退款率", "Refunds / revenue"),
            Component("complaint_rate", "lower", 0.2, "千单投诉数", "Complaints per 1,000 orders"),
        ),
    ),
    IndicatorSpec(
        "growth_potential",
        "增长潜力",
        "Growth potential",
        (
            Component("order_trend", "diff", 0.4, "订单趋势（每30天）", "Order trend per 30 days (log)"),
            Component(
                "revenue_growth", "higher", 0.4, "近28天/前28天日均营收", "Revenue/day, last 28 d / previous 28 d"
            ),
            Component("new_customers_per_day", "higher", 0.2, "日均新客数", "New customers per day"),
        ),
    ),
    IndicatorSpec(
        "marketing_conversion",
        "营销转化",
        "Marketing conversion",
        (
            Component("promo_order_lift", "higher", 0.4, "促销日/平日订单倍数", "Orders per promotion day / other day"),
            Component(
                "promo_new_customer_lift",
                "higher",
                0.3,
                "促销日/平日新客倍数",
                "New customers per promotion day / other day",
            ),
            Component("repeat_purchase_rate", "higher", 0.3, "回头客比例", "Repeat-purchase rate"),
        ),
    ),
    IndicatorSpec(
        "capital_efficiency",
        "资金使用效率",
        "Capital-use efficiency",
        (
            Component("sku_turnover", "higher", 0.5, "月库存周转", "Units sold per month / stock"),
            Component("revenue_per_sku", "higher", 0.3, "单SKU月营收", "Monthly revenue per SKU"),
            Component("net_revenue_share", "higher", 0.2, "净营收占比", "Revenue kept after refunds"),
        ),
    ),
)
COMPONENT_METRICS: tuple[str, ...] = tuple(dict.fromkeys(c.metric for s in INDICATORS for c in s.components))


def component_ratio(value: NDArray[np.float64], peer: NDArray[np.float64], better: str) -> NDArray[np.float64]:
    """Peer-relative ratio (> 1 = better than peers), clipped to [1/8, 8]; NaN when undefined."""
    v = np.asarray(value, dtype=np.float64)
    p = np.asarray(peer, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if better == "higher":
            r = v / p
        elif better == "lower":
            r = p / v
        elif better == "diff":
            r = np.exp(np.clip(v - p, -50.0, 50.0))
        else:
            raise ValueError(f"unknown direction {better!r}")
    r = np.where(np.isfinite(v) & np.isfinite(p), r, np.nan)
    r = np.where(np.isnan(r) & np.isfinite(v) & np.isfinite(p) & (better == "lower") & (v == 0) & (p > 0), MAX_RATIO, r)
    return np.clip(r, 1.0 / MAX_RATIO, MAX_RATIO)  # +inf -> 8, 0 -> 1/8, NaN stays NaN


def indicator_from_ratios(ratios: NDArray[np.float64], weights: NDArray[np.float64]) -> NDArray[np.int64]:
    """``round(100 R^2 / (1 + R^2))`` with ``R`` the weighted geometric mean of the ratios.

    ``ratios`` is (n, k); NaN entries count as 1 (neutral).  Returns int64 in 0..100.
    """
    r = np.asarray(ratios, dtype=np.float64)
    if r.ndim == 1:
        r = r[None, :]
    w = np.asarray(weights, dtype=np.float64)
    logs = np.where(np.isnan(r), 0.0, np.log(np.clip(r, 1.0 / MAX_RATIO, MAX_RATIO)))
    log_r: NDArray[np.float64] = logs @ (w / w.sum())
    value = 100.0 / (1.0 + np.exp(-2.0 * log_r))  # = 100 R^2 / (1 + R^2)
    return np.clip(np.floor(value + 0.5), 0, 100).astype(np.int64)


def indicator_table(metrics: pd.DataFrame, peers: pd.DataFrame) -> pd.DataFrame:
    """Every merchant's four indicators (int 0..100), given per-merchant peer averages.

    ``metrics`` and ``peers`` are aligned frames (same index) holding the
    component metrics: the merchant's values and its peer group's averages.
    """
    out = {}
    for spec in INDICATORS:
        ratios = np.column_stack(
            [
                component_ratio(metrics[c.metric].to_numpy(), peers[c.metric].to_numpy(), c.better)
                for c in spec.components
            ]
        )
        out[spec.key] = indicator_from_ratios(ratios, np.array([c.weight for c in spec.components]))
    return pd.DataFrame(out, index=metrics.index)


# --------------------------------------------------------------------------- metrics


def _div(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(a, dtype=np.float64) / np.asarray(b, dtype=np.float64)
    out[~np.isfinite(out)] = np.nan
    return out


FEATURE_METRICS = (
    "order_volatility",
    "active_day_ratio",
    "refund_rate",
    "complaint_rate",
    "order_trend",
    "sku_turnover",
    "repeat_purchase_rate",
    "monthly_revenue_cny",
    "promo_top_sku_share_ratio",
    "festival_lift",
)


def merchant_metrics(data: PlatformData, validation: ValidationResult, features: pd.DataFrame) -> pd.DataFrame:
    """One row per merchant (index ``merchant_id``): every metric the indicators and items use."""
    d = validation.daily
    index = pd.Index(data.entities["merchant_id"].astype(str), name="merchant_id")
    codes = validation.codes if validation.codes is not None else index.get_indexer(d["merchant_id"].astype(str))
    n = len(index)

    def col(name: str) -> NDArray[np.float64]:
        values: NDArray[np.float64] = d[name].to_numpy(dtype=np.float64)
        return values

    def s(x: NDArray[np.float64]) -> NDArray[np.float64]:
        # numpy's stub types bincount as intp whatever the weights; with float weights it returns float64.
        return cast("NDArray[np.float64]", np.bincount(codes, weights=x, minlength=n))

    t = (d["date"] - pd.Timestamp(data.window_start)).dt.days.to_numpy()
    window_days = (data.window_end - data.window_start).days + 1
    ones = np.ones(len(d))
    hd = s(ones)
    orders, revenue, units, stock = col("orders"), col("revenue_cny"), col("units_sold"), col("stock_units")
    customers, repeat = col("customers"), col("repeat_customers")
    new_c = np.maximum(customers - repeat, 0.0)
    promo = col("promo_day") > 0
    pd_days = s(promo.astype(np.float64))
    od_days = hd - pd_days
    last = t >= window_days - 28
    prev = (t >= window_days - 56) & ~last
    units_day = _div(s(units), hd)
    avg_stock = _div(s(stock), hd)
    top_units = col("top_sku_units")
    skus = _div(s(col("active_skus")), hd)
    inv = s(col("inventory_updates"))
    top_promo = _div(s(top_units * promo), s(units * promo))
    top_other = _div(s(top_units * ~promo), s(units * ~promo))
    out = pd.DataFrame(
        {
            "history_days": hd,
            "orders_per_day": _div(s(orders), hd),
            "revenue_growth": _div(
                _div(s(revenue * last), s(last.astype(np.float64))), _div(s(revenue * prev), s(prev.astype(np.float64)))
            ),
            "new_customers_per_day": _div(s(new_c), hd),
            "promo_days": pd_days,
            "promo_order_lift": _div(_div(s(orders * promo), pd_days), _div(s(orders * ~promo), od_days)),
            "promo_new_customer_lift": _div(_div(s(new_c * promo), pd_days), _div(s(new_c * ~promo), od_days)),
            "revenue_per_sku": _div(_div(s(revenue), hd) * 30.0, skus),
            "avg_ticket_cny": _div(s(revenue), s(orders)),
            "units_per_order": _div(s(units), s(orders)),
            "units_per_day": units_day,
            "avg_stock_units": avg_stock,
            "stock_cover_days": _div(avg_stock, units_day),
            "restock_cycle_days": np.where(inv > 0, _div(hd, inv), hd),
            "inventory_updates": inv,
            "active_skus": skus,
            "top_share_promo": top_promo,
            "top_share_other": top_other,
            "tail_units_per_sku_day": _div(_div(s(units - top_units), hd), np.maximum(skus - 5.0, 1.0)),
        },
        index=index,
    )
    out.loc[out["history_days"] == 0, "restock_cycle_days"] = np.nan
    feats = features.reindex(index)
    for name in FEATURE_METRICS:
        out[name] = feats[name].to_numpy(dtype=np.float64)
    out["net_revenue_share"] = 1.0 - out["refund_rate"]
    out["cycle_to_cover"] = _div(out["restock_cycle_days"].to_numpy(), out["stock_cover_days"].to_numpy())
    out.insert(0, "region", data.entities["region"].astype(str).to_numpy())
    out.insert(0, "industry", data.entities["industry"].astype(str).to_numpy())
    return out


def peer_averages(metrics: pd.DataFrame, min_history_days: int) -> tuple[pd.DataFrame, pd.Series]:
    """Per industry x region group: the mean of every numeric metric over eligible peers.

    Eligible: at least ``min_history_days`` valid days; each metric averages its
    finite values.  Returns (group means indexed by (industry, region) plus an
    ``("*", "*")`` overall row, peer counts per group).
    """
    numeric = [c for c in metrics.columns if c not in PEER_KEYS]
    base = metrics.loc[metrics["history_days"] >= min_history_days]
    vals = base[numeric].replace([np.inf, -np.inf], np.nan)
    groups = vals.groupby([base["industry"], base["region"]], sort=True).mean()
    counts = base.groupby(["industry", "region"], sort=True).size()
    overall = vals.mean().to_frame().T
    overall.index = pd.MultiIndex.from_tuples([("*", "*")], names=["industry", "region"])
    return pd.concat([groups, overall]), counts


def _peers_for(metrics: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    """Each merchant's peer-average row (falling back to the overall row per metric)."""
    keys = pd.MultiIndex.from_arrays([metrics["industry"], metrics["region"]])
    overall = groups.loc[("*", "*")]
    aligned = groups.reindex(keys)
    aligned = aligned.fillna(overall)
    aligned.index = metrics.index
    return aligned


# --------------------------------------------------------------------------- hours (derived)

_HOUR_CURVES: dict[str, list[float]] = {
    # 24 weights, hour 0..23: typical order-time shapes per industry (weekday).
    "community_retail": [
        0.2,
        0.1,
        0.1,
        0.1,
        0.1,
        0.3,
        1.0,
        2.5,
        3.5,
        3.0,
        2.5,
        2.5,
        2.5,
        2.0,
        2.0,
        2.0,
        3.0,
        4.5,
        5.0,
        4.5,
        3.5,
        2.0,
        1.0,
        0.5,
    ],
    "food_service": [
        0.3,
        0.2,
        0.1,
        0.1,
        0.1,
        0.2,
        0.8,
        2.0,
        2.0,
        1.2,
        1.5,
        4.5,
        6.0,
        4.0,
        1.5,
        1.0,
        1.2,
        3.0,
        5.5,
        5.0,
        3.0,
        2.0,
        1.5,
        0.8,
    ],
    "local_services": [
        0.1,
        0.1,
        0.1,
        0.1,
        0.1,
        0.1,
        0.2,
        0.5,
        1.5,
        3.0,
        4.0,
        3.5,
        2.0,
        2.5,
        3.5,
        3.5,
        3.0,
        2.5,
        2.5,
        3.0,
        3.0,
        2.0,
        0.8,
        0.3,
    ],
    "supply_chain": [
        0.1,
        0.1,
        0.1,
        0.1,
        0.1,
        0.2,
        0.5,
        1.5,
        4.0,
        5.5,
        5.0,
        3.5,
        1.5,
        2.5,
        4.5,
        4.5,
        3.5,
        2.0,
        1.0,
        0.6,
        0.4,
        0.3,
        0.2,
        0.1,
    ],
}
_DEFAULT_CURVE = "community_retail"


def _hour_shift(merchant_id: str) -> int:
    return hashlib.sha256(merchant_id.encode()).digest()[0] % 3 - 1


def hour_profile(merchant_id: str, industry: str, weekday_orders: float, weekend_orders: float) -> NDArray[np.float64]:
    """Derived (not observed) share of orders per hour 0..23; see the module docstring."""
    base = np.array(_HOUR_CURVES.get(industry, _HOUR_CURVES[_DEFAULT_CURVE]), dtype=np.float64)
    shift = _hour_shift(merchant_id)
    weekday = np.roll(base, shift)
    weekend = np.roll(base, shift + 1)
    mix = weekday / weekday.sum() * max(weekday_orders, 0.0) + weekend / weekend.sum() * max(weekend_orders, 0.0)
    total = mix.sum()
    profile: NDArray[np.float64] = mix / total if total > 0 else weekday / weekday.sum()
    return profile


# --------------------------------------------------------------------------- report types


@dataclass(frozen=True)
class ComponentResult:
    metric: str
    zh: str
    en: str
    better: str
    weight: float
    value: float | None
    peer: float | None
    ratio: float | None  # None = missing, counted as 1

    def to_dict(self, lang: str) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "name": self.zh if lang == "zh" else self.en,
            "better": self.better,
            "weight": self.weight,
            "value": self.value,
            "peer": self.peer,
            "ratio": self.ratio,
        }


@dataclass(frozen=True)
class IndicatorResult:
    key: str
    zh: str
    en: str
    value: int
    peer_average: int
    percentile: int  # share of peers (same group) with a value <= this one, in %
    components: tuple[ComponentResult, ...]

    def to_dict(self, lang: str) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.zh if lang == "zh" else self.en,
            "value": self.value,
            "peerAverage": self.peer_average,
            "percentile": self.percentile,
            "components": [c.to_dict(lang) for c in self.components],
        }


@dataclass(frozen=True)
class DiagnosisItem:
    code: str
    category: str
    numbers: dict[str, Any]
    product_mask: int
    texts: dict[str, tuple[str, str]]  # lang -> (title, text)

    def title(self, lang: str = "zh") -> str:
        return self.texts[lang][0]

    def text(self, lang: str = "zh") -> str:
        return self.texts[lang][1]

    def product(self, lang: str = "zh") -> str | None:
        names = product_names(self.product_mask, lang)
        return names[0] if names else None

    def to_dict(self, lang: str) -> dict[str, Any]:
        return {
            "code": self.code,
            "category": self.category,
            "title": self.title(lang),
            "text": self.text(lang),
            "numbers": self.numbers,
            "productMask": self.product_mask,
            "product": self.product(lang),
        }


@dataclass(frozen=True)
class DailyPoint:
    date: str
    revenue_cny: float
    orders: int


@dataclass(frozen=True)
class GrowthReport:
    """One merchant's growth plan for one export.  ``merchant_id`` is private."""

    merchant_id: str
    industry: str
    region: str
    as_of: dt.date
    window_start: dt.date
    history_days: int
    peer_count: int
    indicators: tuple[IndicatorResult, ...]
    items: tuple[DiagnosisItem, ...]
    daily: tuple[DailyPoint, ...] = field(default=())
    version: str = GROWTH_VERSION

    def item(self, code: str) -> DiagnosisItem | None:
        return next((i for i in self.items if i.code == code), None)

    @property
    def codes(self) -> list[str]:
        return [i.code for i in self.items]

    def to_dict(self, lang: str = "zh", include_merchant_id: bool = False) -> dict[str, Any]:
        """JSON-able dict (finite floats or None only); the merchant id only when asked for."""
        if lang not in LANGS:
            raise ValueError(f"lang must be one of {LANGS}")
        out: dict[str, Any] = {
            "version": self.version,
            "lang": lang,
            "asOf": self.as_of.isoformat(),
            "windowStart": self.window_start.isoformat(),
            "industry": self.industry,
            "region": self.region,
            "historyDays": self.history_days,
            "peerCount": self.peer_count,
            "indicators": [i.to_dict(lang) for i in self.indicators],
            "items": [i.to_dict(lang) for i in self.items],
            "daily": [{"date": p.date, "revenueCny": p.revenue_cny, "orders": p.orders} for p in self.daily],
        }
        if include_merchant_id:
            out["merchantId"] = self.merchant_id
        return out


# --------------------------------------------------------------------------- item texts

ITEM_CODES: dict[str, tuple[str, str, str]] = {
    # code: (category, zh title, en title) - append only, never rename
    "SKU_PROMO_ONLY": ("sku", "爆款依赖促销", "Best sellers sell only on promotion"),
    "SKU_SLOW_MOVERS": ("sku", "滞销商品占用库存", "Slow movers tie up stock"),
    "RESTOCK_CYCLE": ("restock", "补货周期与动销不匹配", "Restocking cycle lags sell-through"),
    "RESTOCK_FESTIVAL": ("restock", "节前备货", "Stock up for the coming festival"),
    "RESTOCK_FESTIVAL_FLAT": ("restock", "节日临近但需求未见提升", "Festival ahead, but no festival lift"),
    "CUSTOMER_PROFILE": ("customer", "目标客群画像", "Target customer profile"),
    "CUSTOMER_RETENTION_LOW": ("customer", "回头客偏少", "Few repeat customers"),
    "MARKETING_TIME": ("marketing", "营销时段分布", "When marketing converts"),
}
WEEKDAYS = {
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def _texts(code: str, n: dict[str, Any]) -> dict[str, tuple[str, str]]:
    _cat, tzh, ten = ITEM_CODES[code]
    if code == "SKU_PROMO_ONLY":
        zh = (
            f"前5名商品在促销日占销量{_pct(n['top_share_promo'])}，平日仅{_pct(n['top_share_other'])}"
            f"（{n['promo_top_sku_share_ratio']:.2f}倍，阈值{n['threshold']:.2f}倍）：爆款主要靠折扣带动。"
            "建议复核日常定价或做组合搭售，计划中的促销可用14天免息营销贷支持。"
        )
        en = (
            f"Your top-5 SKUs are {_pct(n['top_share_promo'])} of units on promotion days but "
            f"{_pct(n['top_share_other'])} on other days ({n['promo_top_sku_share_ratio']:.2f}x; threshold "
            f"{n['threshold']:.2f}x): they sell on discount. Review their everyday price or bundle them; fund planned "
            "promotions with the 14-day interest-free marketing loan."
        )
    elif code == "SKU_SLOW_MOVERS":
        zh = (
            f"库存可售{n['stock_cover_days']:.1f}天，同业同区域平均{n['peer_stock_cover_days']:.1f}天；"
            f"约{n['excess_stock_units']:,}件库存超出同业水平，非爆款商品日均每SKU仅售{n['tail_units_per_sku_day']:.2f}件"
            f"（同业{n['peer_tail_units_per_sku_day']:.2f}件）。建议清理或下架滞销品，减少资金占用。"
        )
        en = (
            f"Stock covers {n['stock_cover_days']:.1f} days of sales against {n['peer_stock_cover_days']:.1f} for "
            f"industry and region peers; about {n['excess_stock_units']:,} units exceed the peers' cover, and non-top SKUs "
            f"sell {n['tail_units_per_sku_day']:.2f} units per SKU per day (peers {n['peer_tail_units_per_sku_day']:.2f}). "
            "Clear or delist slow movers to free cash."
        )
    elif code == "RESTOCK_CYCLE":
        zh = (
            f"平均每{n['restock_cycle_days']:.1f}天补货/盘点一次，库存可售{n['stock_cover_days']:.1f}天"
            f"（周期/可售比{n['cycle_to_cover']:.2f}，同业{n['peer_cycle_to_cover']:.2f}）。"
            f"建议缩短为约每{n['suggested_cycle_days']:.1f}天补货一次，小批量多频次。"
        )
        en = (
            f"You restock or count stock every {n['restock_cycle_days']:.1f} days while stock covers "
            f"{n['stock_cover_days']:.1f} days (cycle/cover {n['cycle_to_cover']:.2f}, peers {n['peer_cycle_to_cover']:.2f}). "
            f"Restock about every {n['suggested_cycle_days']:.1f} days, in smaller batches."
        )
    elif code == "RESTOCK_FESTIVAL":
        zh = (
            f"{n['festival_zh']}将于{n['peak_date']}到来（{n['days_ahead']}天后；去年为{n['last_year_peak_date']}，"
            f"需求提前{n['ramp_days']}天开始上升）。您在节前的日均营收是平日的{n['festival_lift']:.2f}倍"
            f"（阈值{n['threshold']:.2f}倍）。建议在{n['restock_by']}前额外备货约{n['extra_units']:,}件，可用节前备货贷。"
        )
        en = (
            f"{n['festival_en']} peaks on {n['peak_date']} ({n['days_ahead']} days ahead; last year "
            f"{n['last_year_peak_date']}, demand ramps up {n['ramp_days']} days before). Your revenue per day in festival "
            f"run-ups is {n['festival_lift']:.2f}x other days (threshold {n['threshold']:.2f}x). Stock about "
            f"{n['extra_units']:,} extra units by {n['restock_by']}; short-cycle stocking finance fits."
        )
    elif code == "RESTOCK_FESTIVAL_FLAT":
        lift = n["festival_lift"]
        lift_zh = "窗口内无节前数据" if lift is None else f"节前日均营收仅为平日的{lift:.2f}倍"
        lift_en = "no festival run-up in your window" if lift is None else f"festival run-ups brought only {lift:.2f}x"
        zh = (
            f"{n['festival_zh']}将于{n['peak_date']}到来（{n['days_ahead']}天后），但{lift_zh}"
            f"（阈值{n['threshold']:.2f}倍）。建议按平常节奏补货，避免积压。"
        )
        en = (
            f"{n['festival_en']} peaks on {n['peak_date']} ({n['days_ahead']} days ahead), but {lift_en} "
            f"(threshold {n['threshold']:.2f}x). Restock at your usual pace; do not overstock."
        )
    elif code == "CUSTOMER_PROFILE":
        hours = "、".join(f"{h}:00" for h in n["peak_hours"])
        hours_en = ", ".join(f"{h}:00" for h in n["peak_hours"])
        zh = (
            f"回头客占{_pct(n['repeat_share'])}（同业{_pct(n['peer_repeat_share'])}），日均新客{n['new_customers_per_day']:.1f}人；"
            f"客单价{n['avg_ticket_cny']:,.0f}元（同业{n['peer_avg_ticket_cny']:,.0f}元），每单{n['units_per_order']:.1f}件"
            f"（同业{n['peer_units_per_order']:.1f}件）；周末订单占{_pct(n['weekend_share'])}；高峰时段{hours}（按行业时段曲线推算）。"
        )
        en = (
            f"Repeat buyers are {_pct(n['repeat_share'])} (peers {_pct(n['peer_repeat_share'])}), "
            f"{n['new_customers_per_day']:.1f} new buyers a day; ticket {n['avg_ticket_cny']:,.0f} CNY (peers "
            f"{n['peer_avg_ticket_cny']:,.0f}), {n['units_per_order']:.1f} units per order (peers {n['peer_units_per_order']:.1f}); "
            f"weekends bring {_pct(n['weekend_share'])} of orders; peak hours {hours_en} (derived from the industry's hour curve)."
        )
    elif code == "CUSTOMER_RETENTION_LOW":
        zh = (
            f"回头客比例{_pct(n['repeat_share'])}，低于同业同区域的{_pct(n['peer_repeat_share'])}。"
            "建议设置会员积分或复购优惠，提升老客回访。"
        )
        en = (
            f"Repeat buyers are {_pct(n['repeat_share'])}, below the peers' {_pct(n['peer_repeat_share'])}. "
            "Add a loyalty scheme or a repeat-purchase discount."
        )
    elif code == "MARKETING_TIME":
        days_zh = "、".join(WEEKDAYS["zh"][i] for i in n["best_weekdays"])
        days_en = ", ".join(WEEKDAYS["en"][i] for i in n["best_weekdays"])
        hours_zh = "、".join(f"{h}:00" for h in n["peak_hours"])
        hours = ", ".join(f"{h}:00" for h in n["peak_hours"])
        idx = n["weekday_index"]
        lift = n["promo_order_lift"]
        lift_zh = (
            "窗口内无促销日"
            if lift is None
            else f"促销日订单为平日的{lift:.2f}倍（同业{n['peer_promo_order_lift']:.2f}倍）"
        )
        lift_en = (
            "no promotion day in the window"
            if lift is None
            else f"promotion days bring {lift:.2f}x orders (peers {n['peer_promo_order_lift']:.2f}x)"
        )
        zh = (
            f"订单最多的是{days_zh}（指数{idx[n['best_weekdays'][0]]}、{idx[n['best_weekdays'][1]]}，100为日均），"
            f"高峰时段{hours_zh}（推算）；{lift_zh}。建议把推广集中在这些日子和时段。"
        )
        en = (
            f"Orders peak on {days_en} (index {idx[n['best_weekdays'][0]]} and {idx[n['best_weekdays'][1]]}; 100 = your daily "
            f"average) and at {hours} (derived); {lift_en}. Concentrate promotions on these days and hours."
        )
    else:  # pragma: no cover - the table and this function are kept together
        raise KeyError(code)
    return {"zh": (tzh, zh), "en": (ten, en)}


def _num(x: Any, digits: int = 4) -> float | None:
    """A JSON-safe rounded float (None for NaN/inf/None)."""
    if x is None:
        return None
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def _item(code: str, numbers: dict[str, Any], product_mask: int = 0) -> DiagnosisItem:
    return DiagnosisItem(code, ITEM_CODES[code][0], numbers, product_mask, _texts(code, numbers))


# --------------------------------------------------------------------------- analysis


class GrowthAnalysis:
    """Indicators and diagnoses for every merchant of one export (peers computed once).

    ``features`` (from :func:`scoring.features.build_features`) and
    ``validation`` may be passed when the caller already has them, e.g. from
    :meth:`sources.synthetic.ScoringSource.platform_data`.
    """

    def __init__(
        self,
        data: PlatformData,
        features: pd.DataFrame | None = None,
        validation: ValidationResult | None = None,
        policy: Policy | None = None,
    ) -> None:
        if data.segment != "merchant":
            raise ScoringError(f"growth diagnostics are for merchants, not {data.segment!r}")
        self.data = data
        self.policy = policy or default_policy("merchant")
        self.validation = validation if validation is not None else validate(data)
        self.features = features if features is not None else build_features(data, self.validation)
        self.metrics = merchant_metrics(data, self.validation, self.features)
        self.groups, self.counts = peer_averages(self.metrics, self.policy.min_history_days)
        self.peers = _peers_for(self.metrics, self.groups)
        self.indicators = indicator_table(self.metrics, self.peers)
        self._eligible = self.metrics["history_days"] >= self.policy.min_history_days
        codes = self.validation.codes
        if codes is None:
            codes = self.metrics.index.get_indexer(self.validation.daily["merchant_id"].astype(str))
        self._codes = np.asarray(codes)

    def __contains__(self, merchant_id: object) -> bool:
        return isinstance(merchant_id, str) and merchant_id in self.metrics.index

    # ------------------------------------------------------------- one merchant

    def report(self, merchant_id: str, with_daily: bool = True) -> GrowthReport:
        if merchant_id not in self:
            raise KeyError(f"{merchant_id} is not in this export")
        m = self.metrics.loc[merchant_id]
        p = self.peers.loc[merchant_id]
        group = (m["industry"], m["region"])
        rows = self._rows(merchant_id)
        return GrowthReport(
            merchant_id=merchant_id,
            industry=str(m["industry"]),
            region=str(m["region"]),
            as_of=self.data.window_end,
            window_start=self.data.window_start,
            history_days=int(m["history_days"]),
            peer_count=int(self.counts.get(group, 0)),
            indicators=self._indicators(merchant_id, m, p),
            items=tuple(self._items(merchant_id, m, p, rows)) if len(rows) else (),
            daily=self._daily(rows) if with_daily else (),
        )

    def _rows(self, merchant_id: str) -> pd.DataFrame:
        """The merchant's validated daily records, oldest first."""
        pos = self.metrics.index.get_loc(merchant_id)
        return self.validation.daily.loc[self._codes == pos].sort_values("date", kind="stable")

    def _indicators(self, merchant_id: str, m: pd.Series, p: pd.Series) -> tuple[IndicatorResult, ...]:
        same = (self.metrics["industry"] == m["industry"]) & (self.metrics["region"] == m["region"]) & self._eligible
        out = []
        for spec in INDICATORS:
            comps = []
            for c in spec.components:
                r = component_ratio(np.array([m[c.metric]]), np.array([p[c.metric]]), c.better)[0]
                comps.append(
                    ComponentResult(
                        c.metric, c.zh, c.en, c.better, c.weight, _num(m[c.metric]), _num(p[c.metric]), _num(r)
                    )
                )
            value = int(self.indicators.at[merchant_id, spec.key])
            peer_vals = self.indicators.loc[same, spec.key].to_numpy()
            peer_avg = int(np.floor(peer_vals.mean() + 0.5)) if len(peer_vals) else value
            pct = int(np.floor(100.0 * (peer_vals <= value).mean() + 0.5)) if len(peer_vals) else 100
            out.append(IndicatorResult(spec.key, spec.zh, spec.en, value, peer_avg, pct, tuple(comps)))
        return tuple(out)

    @staticmethod
    def _daily(rows: pd.DataFrame) -> tuple[DailyPoint, ...]:
        return tuple(
            DailyPoint(pd.Timestamp(d).date().isoformat(), round(float(r), 2), int(o))
            for d, r, o in zip(rows["date"], rows["revenue_cny"].to_numpy(dtype=np.float64), rows["orders"].to_numpy())
        )

    def _items(self, merchant_id: str, m: pd.Series, p: pd.Series, rows: pd.DataFrame) -> list[DiagnosisItem]:
        pol = self.policy
        items: list[DiagnosisItem] = []
        fin = math.isfinite

        # SKU optimisation: promotion-only best sellers (the policy's marketing-loan rule).
        ratio = float(m["promo_top_sku_share_ratio"])
        threshold = pol.marketing_min_promo_ratio / FIXED_SCALE
        promo_only = fin(ratio) and ratio >= threshold
        if promo_only:
            items.append(
                _item(
                    "SKU_PROMO_ONLY",
                    {
                        "promo_top_sku_share_ratio": _num(ratio),
                        "threshold": _num(threshold),
                        "top_share_promo": _num(m["top_share_promo"]),
                        "top_share_other": _num(m["top_share_other"]),
                        "promo_days": int(m["promo_days"]),
                    },
                    MARKETING_LOAN,
                )
            )

        # SKU optimisation: slow movers.
        cover, peer_cover = float(m["stock_cover_days"]), float(p["stock_cover_days"])
        if fin(cover) and fin(peer_cover) and peer_cover > 0 and cover >= 1.5 * peer_cover:
            excess = max(0.0, float(m["avg_stock_units"]) - peer_cover * float(m["units_per_day"]))
            items.append(
                _item(
                    "SKU_SLOW_MOVERS",
                    {
                        "stock_cover_days": _num(cover),
                        "peer_stock_cover_days": _num(peer_cover),
                        "avg_stock_units": _num(m["avg_stock_units"], 1),
                        "units_per_day": _num(m["units_per_day"], 2),
                        "excess_stock_units": round(excess),
                        "tail_units_per_sku_day": _num(m["tail_units_per_sku_day"]),
                        "peer_tail_units_per_sku_day": _num(p["tail_units_per_sku_day"]),
                    },
                )
            )

        # Restocking cycle vs sell-through.
        cycle, ctc, peer_ctc = float(m["restock_cycle_days"]), float(m["cycle_to_cover"]), float(p["cycle_to_cover"])
        if fin(cycle) and fin(ctc) and fin(peer_ctc) and (ctc > 1.0 or ctc >= 1.5 * peer_ctc):
            items.append(
                _item(
                    "RESTOCK_CYCLE",
                    {
                        "restock_cycle_days": _num(cycle),
                        "stock_cover_days": _num(cover),
                        "cycle_to_cover": _num(ctc),
                        "peer_cycle_to_cover": _num(peer_ctc),
                        "inventory_updates": int(m["inventory_updates"]),
                        "suggested_cycle_days": _num(max(min(peer_ctc, 1.0) * cover, 0.5), 1),
                    },
                )
            )

        # Festival ahead: stocking finance when the merchant's history shows festival demand.
        peak = next_peak(self.data.window_end, pol.stocking_lead_days)
        if peak is not None:
            peak_date, fest = peak
            lift = float(m["festival_lift"])
            lift_threshold = pol.stocking_min_festival_lift / FIXED_SCALE
            last_year = [
                d
                for d, f in festival_peaks(peak_date - dt.timedelta(days=400), peak_date - dt.timedelta(days=300))
                if f.key == fest.key
            ]
            base = {
                "festival": fest.key,
                "festival_zh": fest.name_zh,
                "festival_en": fest.name_en,
                "peak_date": peak_date.isoformat(),
                "days_ahead": (peak_date - self.data.window_end).days,
                "last_year_peak_date": last_year[-1].isoformat() if last_year else None,
                "ramp_days": fest.ramp_days,
                "festival_lift": _num(lift),
                "threshold": _num(lift_threshold),
            }
            if fin(lift) and lift >= lift_threshold:
                units_day = float(m["units_per_day"]) if fin(float(m["units_per_day"])) else 0.0
                extra = math.ceil(max(lift - 1.0, 0.0) * units_day * (fest.ramp_days + 1))
                lead = fest.ramp_days + (math.ceil(cycle) if fin(cycle) else 0)
                restock_by = max(peak_date - dt.timedelta(days=lead), self.data.window_end + dt.timedelta(days=1))
                base.update(
                    {
                        "units_per_day": _num(units_day, 2),
                        "extra_units": int(extra),
                        "restock_by": restock_by.isoformat(),
                    }
                )
                items.append(_item("RESTOCK_FESTIVAL", base, STOCKING_FINANCE))
            else:
                items.append(_item("RESTOCK_FESTIVAL_FLAT", base))

        # Target customer profile.
        days = rows["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
        wd = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        orders = rows["orders"].to_numpy(dtype=np.float64)
        weekend_orders = float(orders[wd >= 5].sum())
        weekday_orders = float(orders[wd < 5].sum())
        total = weekday_orders + weekend_orders
        if total <= 0:
            return items  # no orders in the window: no customer or timing signal to report
        hours = hour_profile(merchant_id, str(m["industry"]), weekday_orders, weekend_orders)
        peak_hours = sorted(int(h) for h in np.argsort(-hours, kind="stable")[:3])
        repeat, peer_repeat = float(m["repeat_purchase_rate"]), float(p["repeat_purchase_rate"])
        items.append(
            _item(
                "CUSTOMER_PROFILE",
                {
                    "repeat_share": _num(repeat) or 0.0,
                    "peer_repeat_share": _num(peer_repeat) or 0.0,
                    "new_customers_per_day": _num(m["new_customers_per_day"], 2) or 0.0,
                    "avg_ticket_cny": _num(m["avg_ticket_cny"], 2) or 0.0,
                    "peer_avg_ticket_cny": _num(p["avg_ticket_cny"], 2) or 0.0,
                    "units_per_order": _num(m["units_per_order"], 2) or 0.0,
                    "peer_units_per_order": _num(p["units_per_order"], 2) or 0.0,
                    "weekend_share": _num(weekend_orders / total if total > 0 else 0.0),
                    "peak_hours": peak_hours,
                    "hour_share": [_num(h) for h in hours],
                    "hours_derived": True,
                },
            )
        )
        if fin(repeat) and fin(peer_repeat) and repeat < 0.85 * peer_repeat:
            items.append(
                _item("CUSTOMER_RETENTION_LOW", {"repeat_share": _num(repeat), "peer_repeat_share": _num(peer_repeat)})
            )

        # Marketing time distribution: weekdays (observed) and hours (derived).
        by_day = pd.Series(orders).groupby(wd).mean().reindex(range(7))
        mean_day = float(orders.mean()) if len(orders) else 0.0
        index = [
            None if not fin(v) or mean_day <= 0 else round(100.0 * v / mean_day)
            for v in by_day.to_numpy(dtype=np.float64)
        ]
        rank_of = [-1 if v is None else v for v in index]
        ranked = sorted(range(7), key=lambda i: (-rank_of[i], i))
        if sum(v is not None for v in index) < 7:
            return items  # less than a week of records: no weekday pattern yet
        items.append(
            _item(
                "MARKETING_TIME",
                {
                    "weekday_index": index,
                    "best_weekdays": ranked[:2],
                    "peak_hours": peak_hours,
                    "hours_derived": True,
                    "promo_days": int(m["promo_days"]),
                    "promo_order_lift": _num(m["promo_order_lift"]),
                    "peer_promo_order_lift": _num(p["promo_order_lift"]),
                },
                MARKETING_LOAN if promo_only else 0,
            )
        )
        return items


__all__ = [
    "COMPONENT_METRICS",
    "GROWTH_VERSION",
    "INDICATORS",
    "ITEM_CODES",
    "ComponentResult",
    "DailyPoint",
    "DiagnosisItem",
    "GrowthAnalysis",
    "GrowthReport",
    "IndicatorResult",
    "component_ratio",
    "hour_profile",
    "indicator_from_ratios",
    "indicator_table",
    "merchant_metrics",
    "peer_averages",
]
