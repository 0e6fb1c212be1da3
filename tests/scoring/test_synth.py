"""The generator: seeded, independent of n, consistent across weekly rounds, round-trips to Parquet."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.synth import generate_farmers, generate_merchants, read_platform_data


def test_same_seed_same_data() -> None:
    a = generate_merchants(300, seed=3)
    b = generate_merchants(300, seed=3)
    pd.testing.assert_frame_equal(a.daily, b.daily)
    pd.testing.assert_frame_equal(a.truth, b.truth)
    c = generate_merchants(300, seed=4)
    assert not np.allclose(a.truth["hidden_pd"], c.truth["hidden_pd"])


def test_merchant_values_do_not_depend_on_n() -> None:
    small = generate_merchants(50, seed=5)
    big = generate_merchants(400, seed=5)
    np.testing.assert_array_equal(small.truth["hidden_pd"], big.truth["hidden_pd"][:50])
    ids = set(small.entities["merchant_id"])
    sub = big.daily[big.daily["merchant_id"].isin(ids)].reset_index(drop=True)
    left = small.daily.assign(merchant_id=small.daily["merchant_id"].astype(str))
    pd.testing.assert_frame_equal(left, sub.assign(merchant_id=sub["merchant_id"].astype(str)))


def test_next_round_shares_days_same_risk_and_drifts() -> None:
    r0 = generate_merchants(200, seed=8, round_offset=0)
    r1 = generate_merchants(200, seed=8, round_offset=1)
    assert r1.window_start == r0.window_start + dt.timedelta(days=7)
    np.testing.assert_array_equal(r0.truth["hidden_pd"], r1.truth["hidden_pd"])
    day = pd.Timestamp(r1.window_start + dt.timedelta(days=3))
    a = r0.daily[r0.daily["date"] == day].drop(columns="date").reset_index(drop=True)
    b = r1.daily[r1.daily["date"] == day].drop(columns="date").reset_index(drop=True)
    a["merchant_id"] = a["merchant_id"].astype(str)
    b["merchant_id"] = b["merchant_id"].astype(str)
    pd.testing.assert_frame_equal(a, b)  # an overlapping day is the same day
    assert r1.daily["date"].max() > r0.daily["date"].max()


def test_realistic_shape() -> None:
    d = generate_merchants(2_000, seed=1)
    assert set(d.entities["industry"]) >= {"community_retail", "food_service", "local_services", "supply_chain"}
    assert d.daily["promo_day"].any()
    assert (d.daily["repeat_customers"] <= d.daily["customers"]).all()
    assert 0.03 < d.truth["defaulted"].mean() < 0.2
    # risky merchants behave worse: volatility and refunds rise with hidden risk
    risky = d.truth["hidden_pd"].to_numpy() > np.quantile(d.truth["hidden_pd"], 0.8)
    g = d.daily.assign(merchant_id=d.daily["merchant_id"].astype(str)).groupby("merchant_id", sort=True)
    refund = (g["refunds_cny"].sum() / g["revenue_cny"].sum()).reindex(d.entities["merchant_id"]).to_numpy()
    assert np.nanmean(refund[risky]) > 1.3 * np.nanmean(refund[~risky])


def test_farmers_and_roundtrip(tmp_path: Path) -> None:
    f = generate_farmers(500, seed=2)
    assert {"main_crop", "planted_area_mu", "output_value_y3", "coop_member"} <= set(f.entities.columns)
    assert {"ndvi", "machinery_hours", "coop_trades"} <= set(f.daily.columns)
    assert f.daily["ndvi"].isna().any() and f.daily["ndvi"].notna().any()  # clouds and passes
    f.write(tmp_path / "farm")
    back = read_platform_data(tmp_path / "farm")
    assert back.segment == "farmer" and back.window_end == f.window_end
    assert len(back.daily) == len(f.daily)
    pd.testing.assert_frame_equal(back.truth, f.truth)
