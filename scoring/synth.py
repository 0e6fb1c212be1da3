"""Synthetic platform data with a known ground truth (merchants and farmers).

No real platform data can ship, so this module generates a realistic export:
per merchant, ``days`` of daily operations (orders, revenue, refunds,
customers and repeat customers, units sold, stock, top-SKU sales, inventory
update events, reviews and complaints, promotion days), shaped by industry,
region, weekday, festival peaks and promotion spikes.  Farmers get their own
tables (crop mix, planted area, output-value history, buyer orders,
co-operative trades, a remote-sensing vegetation index and machinery hours).

Ground truth: every entity has a hidden risk ``z`` that drives both its
behaviour and whether it defaults in the period after the window.  The hidden
default probability is written to a separate ``truth`` table, which scoring
never reads; it exists so tests can measure model quality against the best any
model could do.

Determinism and weekly rounds.  Every random number is a Philox uniform keyed
by ``(seed, stream, counter)`` and consumed at a fixed rate per entity, so
entity ``i``'s values do not depend on ``n``, and a calendar day's values do
not depend on which window it falls in.  ``round_offset=r`` shifts the window
by ``7*r`` days: the next round shares 53 days with this one, adds a new week,
and each entity's behaviour drifts slowly (a per-entity sinusoid on the risk
that drives behaviour), while the hidden default probability stays fixed for
the same seed and id.

The export format (Parquet or CSV, :mod:`scoring.export`) is documented in ``scoring/DATA_FORMAT.md``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.special import expit, ndtri

from scoring.calendar import festival_peaks
from scoring.export import read_platform_data as read_platform_data  # re-exported: callers read exports here
from scoring.platform import PlatformData as PlatformData  # re-exported: the generator makes them

GENERATOR_VERSION = "synth-1"
DEFAULT_START = dt.date(2025, 4, 1)

INDUSTRIES: tuple[str, ...] = ("community_retail", "food_service", "local_services", "supply_chain")
REGIONS: tuple[str, ...] = ("yangtze_river_delta", "pearl_river_delta", "beijing_tianjin_hebei", "other")
CROPS: tuple[str, ...] = ("grain", "vegetables", "fruit", "cash_crops")
FARM_REGIONS: tuple[str, ...] = ("north_china_plain", "northeast", "yangtze_basin", "southwest")

# Random-number streams (never renumber: that would change every dataset).
_S_STATIC, _S_DAILY, _S_DEFAULT, _S_FARM_STATIC, _S_FARM_DAILY, _S_FARM_DEFAULT, _S_DEFECTS = range(1, 8)

# Hidden default model: P(default next period) = expit(_PD_A + _PD_B * z), z ~ N(0, 1).
_PD_A, _PD_B = -3.0, 1.3
# Amplitude of the slow drift in the risk that drives behaviour (not the PD).
_DRIFT_AMP = 0.15
# Days either side of the trend anchor over which per-merchant trends keep going.
_TREND_SPAN = 120.0


# --------------------------------------------------------------------------- randomness


def _uniforms(seed: int, stream: int, counter: int, n: int, k: int) -> NDArray[np.float64]:
    """An (n, k) array of uniforms in the open interval (0, 1), keyed by (seed, stream, counter).

    Row i consumes exactly k 64-bit draws, so it does not depend on n.
    """
    if not 0 <= seed < 2**63:
        raise ValueError("seed must be a non-negative 63-bit integer")
    key = (seed << 64) | (stream << 40) | (counter & ((1 << 40) - 1))
    u = np.random.Generator(np.random.Philox(key=key)).random((n, k))
    return u + 2.0**-54  # random() yields k/2**53; shift off 0 so ndtri stays finite


def _normal(u: NDArray[np.float64]) -> NDArray[np.float64]:
    z: NDArray[np.float64] = ndtri(u)  # scipy is untyped here
    return z


def _stoch_round(x: NDArray[np.floating[Any] | np.integer[Any]], u: NDArray[np.float64]) -> NDArray[np.int64]:
    """Unbiased integer rounding of non-negative reals (a cheap Poisson stand-in)."""
    floored: NDArray[np.float64] = np.floor(np.maximum(x, 0.0) + u)
    return floored.astype(np.int64)


def _dates(start: dt.date, days: int) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(days)]


def _festival_bumps(dates: list[dt.date], lead_shift: int) -> dict[str, NDArray[np.float64]]:
    """Per festival kind, a (days,) demand bump in [0, 1] peaking on festival days."""
    out = {kind: np.zeros(len(dates)) for kind in ("food", "ecommerce", "holiday")}
    lo = dates[0] - dt.timedelta(days=40)
    hi = dates[-1] + dt.timedelta(days=40)
    for peak, fest in festival_peaks(lo, hi):
        peak = peak - dt.timedelta(days=lead_shift)
        for j, day in enumerate(dates):
            delta = (peak - day).days
            if 0 <= delta <= fest.ramp_days:
                bump = 1.0 - delta / (fest.ramp_days + 1)
            elif -2 <= delta < 0:
                bump = 0.3  # short tail after the peak
            else:
                continue
            out[fest.kind][j] = max(out[fest.kind][j], bump)
    return out


def _ecommerce_promo_days(dates: list[dt.date]) -> NDArray[np.bool_]:
    """Platform-wide promotion days: a shopping festival and the two days before it."""
    flags = np.zeros(len(dates), dtype=bool)
    for peak, fest in festival_peaks(dates[0], dates[-1] + dt.timedelta(days=2)):
        if fest.kind != "ecommerce":
            continue
        for j, day in enumerate(dates):
            if 0 <= (peak - day).days <= 2:
                flags[j] = True
    return flags


def _window(start_date: dt.date, round_offset: int, days: int) -> tuple[dt.date, list[dt.date]]:
    if days < 1:
        raise ValueError("days must be positive")
    if round_offset < 0:
        raise ValueError("round_offset must be >= 0")
    start = start_date + dt.timedelta(days=7 * round_offset)
    return start, _dates(start, days)


def _ids(prefix: str, n: int) -> NDArray[np.object_]:
    return np.array([f"{prefix}{i:08d}" for i in range(n)], dtype=object)


def _to_long(
    ids: NDArray[np.object_], dates: list[dt.date], cols: dict[str, NDArray[Any]], present: NDArray[np.bool_]
) -> pd.DataFrame:
    """(days, n) column arrays -> merchant-major long frame, dropping rows before onboarding."""
    days, n = present.shape
    keep = present.T.ravel()
    codes = np.repeat(np.arange(n, dtype=np.int32), days)[keep]
    day_arr = np.array(dates, dtype="datetime64[D]").astype("datetime64[s]")
    frame: dict[str, Any] = {
        "merchant_id": pd.Categorical.from_codes(codes, categories=pd.Index(ids, dtype=object)),
        "date": np.tile(day_arr, n)[keep],
    }
    for name, arr in cols.items():
        frame[name] = arr.T.ravel()[keep]
    return pd.DataFrame(frame)


def _history_start(u: NDArray[np.float64], days: int, new_share: float) -> NDArray[np.int64]:
    """Day index at which each entity's history starts (most have the full window)."""
    new = u[:, 0] < new_share
    first = np.zeros(u.shape[0], dtype=np.int64)
    first[new] = np.floor(u[new, 1] * (days - 3)).astype(np.int64)  # 3..days of history
    return first


# --------------------------------------------------------------------------- merchants

_IND_BASE_ORDERS = np.array([40.0, 70.0, 14.0, 6.0])
_IND_TICKET = np.array([45.0, 60.0, 150.0, 2200.0])
_IND_ITEMS = np.array([3.0, 2.0, 1.0, 25.0])
_IND_VOL = np.array([1.0, 1.15, 1.3, 1.5])  # natural volatility differs by industry
_IND_REPEAT = np.array([0.45, 0.35, 0.30, 0.60])
_IND_TURNOVER = np.array([0.12, 0.30, 0.05, 0.08])  # units sold per day / stock
_IND_INV_RATE = np.array([1.5, 1.0, 0.3, 2.0])  # inventory update events per day
_IND_SKUS = np.array([300.0, 60.0, 15.0, 120.0])
_IND_PROB = np.array([0.40, 0.30, 0.18, 0.12])
_REG_LEVEL = np.array([1.2, 1.15, 1.05, 0.8])
_REG_SEASON = np.array([1.0, 1.1, 0.9, 0.8])
_REG_PROB = np.array([0.35, 0.25, 0.15, 0.25])
# Festival amplitude per industry x kind (food, ecommerce, holiday).
_FEST_AMP = np.array([[0.8, 0.6, 0.3], [1.0, 0.1, 0.6], [0.2, 0.1, 0.5], [0.7, 0.8, 0.1]])
_WEEKDAY = np.array(
    [
        [1.0, 1.0, 1.0, 1.0, 1.1, 1.25, 1.2],
        [0.9, 0.9, 0.95, 1.0, 1.15, 1.3, 1.2],
        [0.85, 0.85, 0.9, 0.95, 1.1, 1.35, 1.3],
        [1.1, 1.1, 1.1, 1.1, 1.05, 0.7, 0.5],
    ]
)
_WEEKDAY = _WEEKDAY / _WEEKDAY.mean(axis=1, keepdims=True)


def _categorical_draw(u: NDArray[np.float64], probs: NDArray[np.float64]) -> NDArray[np.intp]:
    return np.searchsorted(np.cumsum(probs) / probs.sum(), u, side="right").clip(0, len(probs) - 1)


def generate_merchants(
    n: int,
    seed: int,
    days: int = 60,
    start_date: dt.date = DEFAULT_START,
    round_offset: int = 0,
    new_merchant_share: float = 0.02,
) -> PlatformData:
    """Generate ``n`` merchants' daily operations for one window (see module docstring).

    ``start_date`` is the first day of round 0; round ``r`` covers
    ``start_date + 7r`` for ``days`` days.  About ``new_merchant_share`` of the
    merchants joined during the window and have a short history.
    """
    if n < 1:
        raise ValueError("n must be positive")
    start, dates = _window(start_date, round_offset, days)
    ids = _ids("M", n)

    s = _uniforms(seed, _S_STATIC, 0, n, 24)
    g = _normal(s)
    ind = _categorical_draw(s[:, 0], _IND_PROB)
    reg = _categorical_draw(s[:, 1], _REG_PROB)
    z = g[:, 2]  # hidden risk (higher = riskier)
    hidden_pd = expit(_PD_A + _PD_B * z)

    # Static behaviour traits: each a noisy function of the hidden risk.
    base_orders = _IND_BASE_ORDERS[ind] * _REG_LEVEL[reg] * np.exp(0.7 * g[:, 3] - 0.15 * z)
    cv = 0.25 * _IND_VOL[ind] * np.exp(0.35 * z + 0.15 * g[:, 4])
    trend_static = -0.0035 * z + 0.002 * g[:, 5]  # log-orders per day
    repeat = expit(np.log(_IND_REPEAT[ind] / (1 - _IND_REPEAT[ind])) - 0.5 * z + 0.22 * g[:, 6])
    turnover = _IND_TURNOVER[ind] * np.exp(-0.4 * z + 0.2 * g[:, 7])
    inv_rate = _IND_INV_RATE[ind] * np.exp(-0.5 * z + 0.25 * g[:, 8])
    review_mean = np.clip(4.45 - 0.25 * z + 0.12 * g[:, 9], 1.0, 5.0)
    review_slope = -0.004 * z + 0.003 * g[:, 10]  # stars per day
    complaint_rate = 0.004 * np.exp(0.6 * z + 0.3 * g[:, 11])
    refund_rate = 0.03 * np.exp(0.5 * z + 0.3 * g[:, 12])
    promo_rate = 0.07 * np.exp(0.4 * g[:, 13])
    promo_lift = 1.3 + 1.2 * s[:, 14]
    fest_sens = np.exp(0.5 * g[:, 15])
    ticket = _IND_TICKET[ind] * np.exp(0.4 * g[:, 16])
    skus = np.maximum(3.0, _IND_SKUS[ind] * np.exp(0.5 * g[:, 17]))
    # Some merchants' best sellers only move when discounted (marketing-loan target).
    promo_dependent = s[:, 18] < 0.18
    top_share_normal = 0.15 + 0.25 * s[:, 19]
    top_share_promo = np.where(
        promo_dependent, np.minimum(0.9, top_share_normal * (2.5 + 2.0 * s[:, 20])), top_share_normal
    )
    top_share_off = np.where(promo_dependent, top_share_normal * 0.4, top_share_normal)
    drift_period = 120.0 + 240.0 * s[:, 21]
    drift_phase = 2 * np.pi * s[:, 22]
    first_day = _history_start(_uniforms(seed, _S_STATIC, 1, n, 2), days, new_merchant_share)

    # Calendar effects, per day.
    bumps = _festival_bumps(dates, 0)
    bumps_early = _festival_bumps(dates, 14)  # supply chain stocks up two weeks ahead
    kinds = ("food", "ecommerce", "holiday")
    season_ind = np.ones((len(dates), 4))
    for k_ind in range(4):
        src = bumps_early if INDUSTRIES[k_ind] == "supply_chain" else bumps
        for k_kind, kind in enumerate(kinds):
            season_ind[:, k_ind] += _FEST_AMP[k_ind, k_kind] * src[kind]
    platform_promo = _ecommerce_promo_days(dates)
    weekday = np.array([d.weekday() for d in dates])
    ordinals = np.array([d.toordinal() for d in dates], dtype=np.float64)
    # Trends are anchored to the middle of round 0's window (not this window), so a
    # calendar day looks the same from every round; clipped so they stay bounded.
    anchor = float((start_date + dt.timedelta(days=days // 2)).toordinal())
    elapsed = np.clip(ordinals - anchor, -_TREND_SPAN, _TREND_SPAN)

    shape = (len(dates), n)
    out = {
        name: np.zeros(shape, dtype=dtype)
        for name, dtype in (
            ("orders", np.int64),
            ("revenue_cny", np.float64),
            ("refunds_cny", np.float64),
            ("customers", np.int64),
            ("repeat_customers", np.int64),
            ("units_sold", np.int64),
            ("stock_units", np.int64),
            ("top_sku_units", np.int64),
            ("active_skus", np.int64),
            ("inventory_updates", np.int64),
            ("review_count", np.int64),
            ("review_stars_sum", np.float64),
            ("complaints", np.int64),
            ("promo_day", np.bool_),
        )
    }
    for j, day in enumerate(dates):
        u = _uniforms(seed, _S_DAILY, day.toordinal(), n, 14)
        nrm = _normal(u)
        z_eff = z + _DRIFT_AMP * np.sin(2 * np.pi * ordinals[j] / drift_period + drift_phase)
        season = 1.0 + (season_ind[j, ind] - 1.0) * _REG_SEASON[reg] * fest_sens
        promo = (u[:, 0] < promo_rate) | (platform_promo[j] & (u[:, 1] < 0.6))
        closed = u[:, 2] < 0.01 * np.exp(0.9 * z_eff)
        level = (
            base_orders
            * season
            * _WEEKDAY[ind, weekday[j]]
            * np.exp(trend_static * elapsed[j] - 0.25 * (z_eff - z))
            * np.where(promo, promo_lift, 1.0)
        )
        orders = _stoch_round(level * np.exp(cv * nrm[:, 3] - cv * cv / 2), u[:, 4])
        orders[closed] = 0
        revenue = np.round(orders * ticket * np.exp(0.1 * nrm[:, 5]), 2)
        customers = np.minimum(orders, _stoch_round(orders * 0.9, u[:, 6]))
        repeat_c = np.minimum(customers, _stoch_round(customers * repeat * np.exp(0.15 * nrm[:, 7]), u[:, 8]))
        units = _stoch_round(orders * _IND_ITEMS[ind], u[:, 9])
        share = np.where(promo, top_share_promo, top_share_off)
        reviews = _stoch_round(orders * 0.06, u[:, 10])
        stars = np.clip(review_mean + review_slope * elapsed[j] + 0.35 * nrm[:, 11], 1.0, 5.0)
        out["orders"][j] = orders
        out["revenue_cny"][j] = revenue
        out["refunds_cny"][j] = np.round(revenue * refund_rate * np.exp(0.5 * nrm[:, 12] - 0.125), 2)
        out["customers"][j] = customers
        out["repeat_customers"][j] = repeat_c
        out["units_sold"][j] = units
        out["stock_units"][j] = _stoch_round(
            base_orders * _IND_ITEMS[ind] / turnover * np.exp(0.08 * nrm[:, 13]), u[:, 1]
        )
        out["top_sku_units"][j] = np.minimum(units, _stoch_round(units * share, u[:, 5]))
        out["active_skus"][j] = np.maximum(1, np.round(skus * (1 + 0.05 * nrm[:, 6]))).astype(np.int64)
        out["inventory_updates"][j] = _stoch_round(inv_rate * np.exp(0.4 * nrm[:, 8] - 0.08), u[:, 12])
        out["review_count"][j] = reviews
        out["review_stars_sum"][j] = np.round(reviews * stars, 1)
        out["complaints"][j] = _stoch_round(orders * complaint_rate, u[:, 13])
        out["promo_day"][j] = promo & ~closed

    present = np.arange(len(dates))[:, None] >= first_day[None, :]
    daily = _to_long(ids, dates, out, present)
    onboarded = [dates[int(k)] for k in first_day]
    entities = pd.DataFrame(
        {
            "merchant_id": ids,
            "industry": np.array(INDUSTRIES, dtype=object)[ind],
            "region": np.array(REGIONS, dtype=object)[reg],
            "onboarded_date": pd.to_datetime(onboarded),
        }
    )
    defaulted = _uniforms(seed, _S_DEFAULT, round_offset, n, 1)[:, 0] < hidden_pd
    truth = pd.DataFrame({"merchant_id": ids, "hidden_pd": hidden_pd, "defaulted": defaulted.astype(np.int8)})
    meta = {"generator": GENERATOR_VERSION, "seed": seed, "round_offset": round_offset, "days": days, "n": n}
    return PlatformData("merchant", entities, daily, start, dates[-1], truth, meta)


# --------------------------------------------------------------------------- farmers

_CROP_AREA = np.array([60.0, 15.0, 20.0, 25.0])  # mu
_CROP_VALUE = np.array([1200.0, 6000.0, 5000.0, 4000.0])  # CNY per mu per year
_CROP_ORDERS = np.array([0.15, 1.2, 0.6, 0.4])  # buyer orders per day
_CROP_NDVI = np.array([0.62, 0.55, 0.68, 0.66])
_CROP_PROB = np.array([0.45, 0.25, 0.18, 0.12])
_FREG_PROB = np.array([0.35, 0.2, 0.25, 0.2])
_FREG_LEVEL = np.array([1.0, 1.15, 1.05, 0.85])


def generate_farmers(
    n: int,
    seed: int,
    days: int = 60,
    start_date: dt.date = DEFAULT_START,
    round_offset: int = 0,
    new_farmer_share: float = 0.02,
) -> PlatformData:
    """Generate ``n`` farmers: static profile + 3-year output history + daily activity.

    Daily rows carry buyer orders and their value, co-operative trades,
    machinery hours and a vegetation index (NDVI) that is only observed on
    satellite pass days without cloud (NaN otherwise, by design).
    """
    if n < 1:
        raise ValueError("n must be positive")
    start, dates = _window(start_date, round_offset, days)
    ids = _ids("F", n)
    s = _uniforms(seed, _S_FARM_STATIC, 0, n, 20)
    g = _normal(s)
    crop = _categorical_draw(s[:, 0], _CROP_PROB)
    reg = _categorical_draw(s[:, 1], _FREG_PROB)
    z = g[:, 2]
    hidden_pd = expit(_PD_A + _PD_B * z)

    area = np.round(_CROP_AREA[crop] * np.exp(0.6 * g[:, 3]), 1)
    crop_count = 1 + np.floor(s[:, 4] * 3.999 * np.where(crop == 0, 0.6, 1.0)).astype(np.int64)
    coop_member = s[:, 5] < expit(0.4 - 0.6 * z)
    value_per_mu = _CROP_VALUE[crop] * _FREG_LEVEL[reg] * np.exp(-0.25 * z + 0.12 * g[:, 6])
    growth = 0.03 - 0.06 * z + 0.025 * g[:, 7]
    shock_sd = 0.08 * np.exp(0.45 * z + 0.2 * g[:, 8])
    years = np.stack([np.exp(growth * (k - 2) + shock_sd * g[:, 9 + k]) for k in range(3)], axis=1)
    output = np.round(area[:, None] * value_per_mu[:, None] * years, 0)
    order_rate = _CROP_ORDERS[crop] * np.exp(0.5 * g[:, 12] - 0.3 * z) * np.sqrt(area / _CROP_AREA[crop])
    order_cv = 0.35 * np.exp(0.4 * z + 0.15 * g[:, 13])
    coop_rate = np.where(coop_member, 0.12 * np.exp(-0.5 * z + 0.2 * g[:, 14]), 0.01)
    mach_rate = 0.04 * area * np.exp(-0.4 * z + 0.2 * g[:, 15]) * np.where(crop == 0, 1.5, 0.7)
    ndvi_level = _CROP_NDVI[crop] - 0.06 * z + 0.02 * g[:, 16]
    pass_offset = np.floor(s[:, 17] * 5).astype(np.int64)
    drift_period = 120.0 + 240.0 * s[:, 18]
    drift_phase = 2 * np.pi * s[:, 19]
    first_day = _history_start(_uniforms(seed, _S_FARM_STATIC, 1, n, 2), days, new_farmer_share)

    shape = (len(dates), n)
    out: dict[str, NDArray[Any]] = {
        "orders": np.zeros(shape, np.int64),
        "order_value_cny": np.zeros(shape),
        "coop_trades": np.zeros(shape, np.int64),
        "machinery_hours": np.zeros(shape),
        "ndvi": np.full(shape, np.nan),
    }
    for j, day in enumerate(dates):
        u = _uniforms(seed, _S_FARM_DAILY, day.toordinal(), n, 8)
        nrm = _normal(u)
        o = day.toordinal()
        z_eff = z + _DRIFT_AMP * np.sin(2 * np.pi * o / drift_period + drift_phase)
        season = 1.0 + 0.5 * np.sin(2 * np.pi * (day.timetuple().tm_yday - 80) / 365.0)
        orders = _stoch_round(order_rate * season * np.exp(order_cv * nrm[:, 0] - 0.2 * (z_eff - z)), u[:, 1])
        out["orders"][j] = orders
        out["order_value_cny"][j] = np.round(
            orders * value_per_mu * area / max(1.0, 365 * 0.6) / np.maximum(order_rate, 0.05) * np.exp(0.2 * nrm[:, 2]),
            2,
        )
        out["coop_trades"][j] = _stoch_round(coop_rate * np.exp(0.3 * nrm[:, 3]), u[:, 4])
        out["machinery_hours"][j] = np.round(mach_rate * season * np.exp(0.4 * nrm[:, 5]) * (u[:, 6] < 0.5) * 2, 1)
        observed = ((o + pass_offset) % 5 == 0) & (u[:, 7] > 0.3)  # satellite pass, no cloud
        ndvi = np.clip(ndvi_level * (0.8 + 0.2 * season) - 0.02 * (z_eff - z) + 0.03 * nrm[:, 6], 0.0, 1.0)
        out["ndvi"][j] = np.where(observed, np.round(ndvi, 4), np.nan)

    present = np.arange(len(dates))[:, None] >= first_day[None, :]
    daily = _to_long(ids, dates, out, present)
    entities = pd.DataFrame(
        {
            "merchant_id": ids,
            "main_crop": np.array(CROPS, dtype=object)[crop],
            "region": np.array(FARM_REGIONS, dtype=object)[reg],
            "crop_count": crop_count,
            "planted_area_mu": area,
            "coop_member": coop_member,
            "output_value_y1": output[:, 0],
            "output_value_y2": output[:, 1],
            "output_value_y3": output[:, 2],
            "onboarded_date": pd.to_datetime([dates[int(k)] for k in first_day]),
        }
    )
    defaulted = _uniforms(seed, _S_FARM_DEFAULT, round_offset, n, 1)[:, 0] < hidden_pd
    truth = pd.DataFrame({"merchant_id": ids, "hidden_pd": hidden_pd, "defaulted": defaulted.astype(np.int8)})
    meta = {"generator": GENERATOR_VERSION, "seed": seed, "round_offset": round_offset, "days": days, "n": n}
    return PlatformData("farmer", entities, daily, start, dates[-1], truth, meta)


def generate(segment: str, n: int, seed: int, **kwargs: Any) -> PlatformData:
    """Dispatch to :func:`generate_merchants` or :func:`generate_farmers`."""
    if segment == "merchant":
        return generate_merchants(n, seed, **kwargs)
    if segment == "farmer":
        return generate_farmers(n, seed, **kwargs)
    raise ValueError(f"unknown segment {segment!r}")


# --------------------------------------------------------------------------- defects


def inject_defects(data: PlatformData, seed: int, rate: float = 0.01) -> PlatformData:
    """Return a copy of ``data`` with the faults a real export has, for tests and demos.

    Drops random days (gaps), duplicates rows, flips refunds negative, blanks
    measures to NaN and truncates one merchant in a hundred to 12 days.
    """
    daily = data.daily.copy()
    daily["merchant_id"] = daily["merchant_id"].astype(object)
    m = len(daily)
    u = _uniforms(seed, _S_DEFECTS, 0, m, 4)[:, :4]
    first_col = "orders"
    measure = "refunds_cny" if "refunds_cny" in daily else "order_value_cny"
    if "refunds_cny" in daily:
        neg = u[:, 1] < rate
        daily.loc[neg, "refunds_cny"] = -daily.loc[neg, "refunds_cny"].abs() - 1.0
    nan_rows = u[:, 2] < rate
    daily.loc[nan_rows, measure] = np.nan
    nan_orders = (u[:, 2] >= rate) & (u[:, 2] < 1.5 * rate)
    daily[first_col] = daily[first_col].astype("float64")
    daily.loc[nan_orders, first_col] = np.nan
    dups = daily[u[:, 3] < rate]
    daily = daily[~(u[:, 0] < rate)]  # gaps
    daily = pd.concat([daily, dups], ignore_index=True)
    ids = data.entities["merchant_id"].to_numpy()
    short = set(ids[::100])
    last = pd.Timestamp(data.window_end)
    cutoff = last - pd.Timedelta(days=11)
    daily = daily[~(daily["merchant_id"].isin(short) & (daily["date"] < cutoff))]
    daily = daily.sort_values(["merchant_id", "date"], kind="stable").reset_index(drop=True)
    meta = dict(data.meta, defects={"seed": seed, "rate": rate, "short_history": sorted(short)[:5]})
    return PlatformData(data.segment, data.entities.copy(), daily, data.window_start, data.window_end, data.truth, meta)
