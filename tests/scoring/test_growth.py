"""Growth-plan diagnostics: indicator formulas (hypothesis), diagnosis triggers, determinism, CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from credit_ledger.growth_cmd import app as growth_app
from scoring.calendar import next_peak
from scoring.features import _festival_days
from scoring.growth import (
    COMPONENT_METRICS,
    INDICATORS,
    ITEM_CODES,
    GrowthAnalysis,
    component_ratio,
    indicator_from_ratios,
    indicator_table,
)
from scoring.policy import MARKETING_LOAN, STOCKING_FINANCE
from scoring.synth import PlatformData, generate_merchants

N = 300
SEED = 3

positive = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)
any_value = st.one_of(positive, st.just(0.0), st.just(float("nan")), st.just(float("inf")))
signed = st.floats(min_value=-20.0, max_value=20.0, allow_nan=False)


@pytest.fixture(scope="module")
def data() -> PlatformData:
    return generate_merchants(N, seed=SEED, round_offset=1)  # as of 2025-06-06: 618 is 12 days ahead


@pytest.fixture(scope="module")
def analysis(data: PlatformData) -> GrowthAnalysis:
    return GrowthAnalysis(data)


def _with_daily(data: PlatformData, daily: pd.DataFrame) -> PlatformData:
    return PlatformData(
        data.segment, data.entities, daily, data.window_start, data.window_end, data.truth, dict(data.meta)
    )


# -- formulas ---------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(any_value, min_size=4, max_size=4), min_size=1, max_size=5),
    st.lists(st.floats(min_value=0.01, max_value=1.0), min_size=4, max_size=4),
)
def test_indicator_always_within_0_100(rows: list[list[float]], weights: list[float]) -> None:
    with np.errstate(all="ignore"):
        ratios = np.array(rows, dtype=np.float64)
    out = indicator_from_ratios(ratios, np.array(weights))
    assert out.dtype == np.int64 and ((out >= 0) & (out <= 100)).all()


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from([(s, k) for s in range(len(INDICATORS)) for k in range(len(INDICATORS[s].components))]),
    st.lists(positive, min_size=4, max_size=4),
    st.lists(positive, min_size=4, max_size=4),
    positive,
    positive,
)
def test_indicator_monotone_in_each_component(
    which: tuple[int, int], values: list[float], peers: list[float], a: float, b: float
) -> None:
    """Peers fixed: raising a 'higher'/'diff' component never lowers the indicator; a 'lower' one never raises it."""
    spec = INDICATORS[which[0]]
    comp = spec.components[which[1]]
    names = [c.metric for c in spec.components]
    base = dict.fromkeys(COMPONENT_METRICS, 1.0) | {m: values[i] for i, m in enumerate(names)}
    peer = pd.DataFrame([dict.fromkeys(COMPONENT_METRICS, 1.0) | {m: peers[i] for i, m in enumerate(names)}] * 2)
    lo, hi = min(a, b), max(a, b)
    if comp.better == "diff":  # log-rates: map onto a signed range
        lo, hi = np.log(lo), np.log(hi)
    metrics = pd.DataFrame([dict(base, **{comp.metric: lo}), dict(base, **{comp.metric: hi})])
    got = indicator_table(metrics, peer)[spec.key].to_numpy()
    assert ((got >= 0) & (got <= 100)).all()
    if comp.better == "lower":
        assert got[1] <= got[0]
    else:
        assert got[1] >= got[0]


@settings(max_examples=100, deadline=None)
@given(signed, signed)
def test_component_ratio_directions(v: float, p: float) -> None:
    assert component_ratio(np.array([v]), np.array([v]), "diff")[0] == pytest.approx(1.0)
    r = component_ratio(np.array([v]), np.array([p]), "diff")[0]
    assert 1 / 8 <= r <= 8
    assert (r >= 1) == (v >= p) or abs(v - p) < 1e-12


def test_ratio_edge_cases() -> None:
    nan = float("nan")
    assert np.isnan(component_ratio(np.array([nan]), np.array([1.0]), "higher")[0])
    assert component_ratio(np.array([0.0]), np.array([2.0]), "lower")[0] == 8.0  # no complaints at all: best case
    assert component_ratio(np.array([0.0]), np.array([2.0]), "higher")[0] == 1 / 8
    assert np.isnan(component_ratio(np.array([0.0]), np.array([0.0]), "lower")[0])  # 0/0: neutral
    assert indicator_from_ratios(np.array([[nan, nan]]), np.array([0.5, 0.5]))[0] == 50
    assert indicator_from_ratios(np.array([[2.0, 2.0]]), np.array([0.5, 0.5]))[0] == 80
    assert indicator_from_ratios(np.array([[0.5, 0.5]]), np.array([0.5, 0.5]))[0] == 20


def test_at_peer_average_scores_50(analysis: GrowthAnalysis) -> None:
    peers = analysis.peers
    table = indicator_table(peers, peers)
    assert (table.to_numpy() == 50).all()


def test_all_indicators_in_range(analysis: GrowthAnalysis) -> None:
    values = analysis.indicators.to_numpy()
    assert values.shape == (N, 4) and values.min() >= 0 and values.max() <= 100
    assert 30 <= values.mean() <= 70  # peer-relative: centred near 50


# -- diagnosis items ----------------------------------------------------------------------


def test_promotion_only_skus_get_the_marketing_loan(data: PlatformData) -> None:
    daily = data.daily.copy()
    mid = "M00000005"
    rows = daily["merchant_id"].astype(str) == mid
    day = daily.loc[rows, "date"].dt.day
    promo = (day % 6 == 0).to_numpy()
    idx = daily.index[rows]
    daily.loc[idx, "promo_day"] = promo
    units = daily.loc[idx, "units_sold"].to_numpy()
    daily.loc[idx, "top_sku_units"] = np.where(promo, (units * 0.8).astype(np.int64), (units * 0.1).astype(np.int64))
    report = GrowthAnalysis(_with_daily(data, daily)).report(mid)
    item = report.item("SKU_PROMO_ONLY")
    assert item is not None and item.product_mask == MARKETING_LOAN
    n = item.numbers
    assert n["promo_top_sku_share_ratio"] >= n["threshold"] == 2.0
    assert n["top_share_promo"] == pytest.approx(0.8, abs=0.02) and n["top_share_other"] == pytest.approx(0.1, abs=0.02)
    assert n["promo_days"] == int(promo.sum())
    assert item.product("zh") == "营销贷（14天免息）" and "14-day interest-free" in item.text("en")
    assert report.item("MARKETING_TIME").product_mask == MARKETING_LOAN

    # the same merchant with its top SKUs' share flat across days: no SKU item, no product on timing
    daily.loc[idx, "top_sku_units"] = (units * 0.3).astype(np.int64)
    flat = GrowthAnalysis(_with_daily(data, daily)).report(mid)
    assert flat.item("SKU_PROMO_ONLY") is None and flat.item("MARKETING_TIME").product_mask == 0


def test_festival_ahead_triggers_stocking_finance(data: PlatformData) -> None:
    peak = next_peak(data.as_of, 30)
    assert peak is not None and peak[1].key == "618"
    daily = data.daily.copy()
    mid = "M00000009"
    fest = _festival_days(data.window_start, data.window_end)
    t = (daily["date"] - pd.Timestamp(data.window_start)).dt.days.to_numpy()
    boost = (daily["merchant_id"].astype(str) == mid).to_numpy() & fest[t]
    daily.loc[boost, "revenue_cny"] *= 2.0
    report = GrowthAnalysis(_with_daily(data, daily)).report(mid)
    item = report.item("RESTOCK_FESTIVAL")
    assert item is not None and item.product_mask == STOCKING_FINANCE
    n = item.numbers
    assert n["festival"] == "618" and n["peak_date"] == "2025-06-18" and n["days_ahead"] == 12 <= 30
    assert n["last_year_peak_date"] == "2024-06-18"
    assert n["festival_lift"] >= n["threshold"] == 1.3 and n["extra_units"] > 0
    assert data.as_of < dt.date.fromisoformat(n["restock_by"]) <= dt.date(2025, 6, 18)
    assert item.product("en") == "Short-cycle stocking finance"
    assert report.item("RESTOCK_FESTIVAL_FLAT") is None

    # without festival demand the same peak gives the no-product variant
    daily.loc[boost, "revenue_cny"] /= 4.0
    flat = GrowthAnalysis(_with_daily(data, daily)).report(mid)
    assert flat.item("RESTOCK_FESTIVAL") is None
    assert flat.item("RESTOCK_FESTIVAL_FLAT").product_mask == 0


def test_no_festival_item_without_a_peak_within_30_days() -> None:
    quiet = generate_merchants(60, seed=SEED, start_date=dt.date(2025, 5, 22))  # as of 2025-07-20
    assert next_peak(quiet.as_of, 30) is None
    a = GrowthAnalysis(quiet)
    for mid in a.metrics.index[:20]:
        codes = a.report(mid).codes
        assert "RESTOCK_FESTIVAL" not in codes and "RESTOCK_FESTIVAL_FLAT" not in codes


def test_items_carry_codes_texts_and_numbers(analysis: GrowthAnalysis) -> None:
    seen: set[str] = set()
    for mid in analysis.metrics.index[:80]:
        report = analysis.report(mid)
        assert [i.key for i in report.indicators] == [
            "operating_stability",
            "growth_potential",
            "marketing_conversion",
            "capital_efficiency",
        ]
        for item in report.items:
            seen.add(item.code)
            assert item.code in ITEM_CODES and item.category == ITEM_CODES[item.code][0]
            assert item.numbers and item.title("zh") and item.text("zh") and item.title("en") and item.text("en")
            assert item.product_mask in (0, MARKETING_LOAN, STOCKING_FINANCE)
        codes = report.codes
        assert "CUSTOMER_PROFILE" in codes and "MARKETING_TIME" in codes
        profile = report.item("CUSTOMER_PROFILE").numbers
        assert profile["hours_derived"] is True and len(profile["hour_share"]) == 24
        assert sum(profile["hour_share"]) == pytest.approx(1.0, abs=1e-3)
    assert {"SKU_PROMO_ONLY", "RESTOCK_FESTIVAL", "RESTOCK_FESTIVAL_FLAT"} <= seen


def test_report_is_deterministic_and_json_safe(data: PlatformData, analysis: GrowthAnalysis) -> None:
    again = GrowthAnalysis(generate_merchants(N, seed=SEED, round_offset=1))
    for mid in ("M00000000", "M00000042", "M00000299"):
        a = json.dumps(analysis.report(mid).to_dict("zh"), ensure_ascii=False, allow_nan=False, sort_keys=True)
        b = json.dumps(again.report(mid).to_dict("zh"), ensure_ascii=False, allow_nan=False, sort_keys=True)
        assert a == b
        body = analysis.report(mid).to_dict("en")
        assert "merchantId" not in body and mid not in json.dumps(body)
        assert len(body["daily"]) == analysis.report(mid).history_days <= 60
        assert body["daily"] == sorted(body["daily"], key=lambda d: d["date"])


def test_cli_report(data: PlatformData, tmp_path: Path) -> None:
    export = data.write(tmp_path / "export")
    runner = CliRunner()
    res = runner.invoke(growth_app, ["report", "M00000007", "--data", str(export), "--lang", "en"])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "Operating stability" in res.output and "CUSTOMER_PROFILE" in res.output and "peer avg" in res.output
    res = runner.invoke(growth_app, ["report", "M00000007", "--data", str(export)])
    assert res.exit_code == 0 and "经营稳定性" in res.output and "目标客群画像" in res.output
    assert runner.invoke(growth_app, ["report", "NOPE", "--data", str(export)]).exit_code == 1
    assert runner.invoke(growth_app, ["report", "M00000007", "--data", str(export), "--lang", "fr"]).exit_code == 1
