"""Bad records are accepted, repaired by a documented rule, or rejected with a reason."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.engine import STATUS_INSUFFICIENT, STATUS_REJECTED, STATUS_SCORED, score_batch
from scoring.features import build_features
from scoring.policy import default_policy
from scoring.reasons import INSUFFICIENT_HISTORY
from scoring.synth import PlatformData, generate_merchants, inject_defects
from scoring.validate import validate


def _small() -> PlatformData:
    return generate_merchants(40, seed=21, new_merchant_share=0.0)


def _with_daily(data: PlatformData, daily: pd.DataFrame) -> PlatformData:
    return PlatformData(
        data.segment, data.entities, daily.reset_index(drop=True), data.window_start, data.window_end, data.truth
    )


def test_clean_export_has_no_issues() -> None:
    r = validate(_small())
    assert r.issues.empty
    assert (r.entity_stats["history_days"] == 60).all()


def test_each_fault_gets_its_rule() -> None:
    d = _small()
    daily = d.daily.copy()
    daily["merchant_id"] = daily["merchant_id"].astype(object)
    daily["orders"] = daily["orders"].astype("float64")
    m0 = daily["merchant_id"] == "M00000000"
    rows = daily.index[m0]
    daily.loc[rows[5], "refunds_cny"] = -12.5  # negative refund -> repaired
    daily.loc[rows[6], "review_count"] = np.nan  # NaN measure -> repaired (0)
    daily.loc[rows[7], "stock_units"] = np.nan  # NaN level -> median
    daily.loc[rows[8], "orders"] = np.nan  # no orders -> rejected, becomes a gap
    daily.loc[rows[9], "revenue_cny"] = -1.0  # negative amount -> rejected
    daily.loc[rows[10], "repeat_customers"] = daily.loc[rows[10], "customers"] + 5  # inconsistent -> capped
    daily = daily.drop(index=rows[20:23])  # a 3-day gap
    extra = daily.loc[[rows[30]]].copy()  # duplicate -> dropped
    stranger = daily.loc[[rows[31]]].assign(merchant_id="NOBODY")
    late = daily.loc[[rows[32]]].assign(date=pd.Timestamp(d.window_end) + pd.Timedelta(days=3))
    daily = pd.concat([daily, extra, stranger, late])
    r = validate(_with_daily(d, daily))
    rules = r.issues.groupby("rule")["action"].agg(lambda a: set(a)).to_dict()
    assert rules == {
        "negative_refund": {"repair"},
        "nan_measure": {"repair"},
        "missing_orders": {"reject"},
        "negative_value": {"reject"},
        "inconsistent": {"repair"},
        "duplicate": {"repair"},
        "unknown_entity": {"reject"},
        "out_of_window": {"reject"},
    }
    clean = r.daily[r.daily["merchant_id"] == "M00000000"]
    assert (clean["refunds_cny"] >= 0).all()
    assert not clean.drop(columns=["date"]).isna().any().any()
    assert (clean["repeat_customers"] <= clean["customers"]).all()
    assert not clean.duplicated(["merchant_id", "date"]).any()
    stats = r.entity_stats.loc["M00000000"]
    assert stats["history_days"] == 60 - 3 - 2  # gap + two rejected days
    assert stats["gap_days"] == 5
    assert stats["rejected_records"] == 3  # missing orders, negative revenue, out of window


def test_twelve_days_is_insufficient_history_not_a_score(merchant_model) -> None:
    d = _small()
    daily = d.daily.copy()
    short = (daily["merchant_id"].astype(str) == "M00000003") & (
        daily["date"] < pd.Timestamp(d.window_end) - pd.Timedelta(days=11)
    )
    gone = daily["merchant_id"].astype(str) == "M00000004"
    daily = daily[~short & ~gone]
    data = _with_daily(d, daily)
    feats = build_features(data)
    assert feats.loc["M00000003", "history_days"] == 12
    decisions = {
        x.merchant_id: x
        for x in score_batch(merchant_model.report.artifact, default_policy("merchant"), feats, data.as_of)
    }
    short_dec = decisions["M00000003"]
    assert short_dec.status == STATUS_INSUFFICIENT
    assert short_dec.score == 0 and short_dec.limit_cny == 0 and short_dec.product_mask == 0
    assert short_dec.reason_codes == (INSUFFICIENT_HISTORY, 0, 0, 0)
    assert decisions["M00000004"].status == STATUS_REJECTED
    assert decisions["M00000001"].status == STATUS_SCORED


def test_injected_defects_are_all_handled() -> None:
    d = inject_defects(generate_merchants(1_000, seed=9), seed=1, rate=0.02)
    r = validate(d)
    assert {"duplicate", "missing_orders", "nan_measure", "negative_refund"} <= set(r.summary)
    assert (
        r.summary["accepted_records"]
        + sum(
            v
            for k, v in r.summary.items()
            if k in ("missing_orders", "duplicate", "negative_value", "unknown_entity", "out_of_window", "missing_key")
        )
        == r.summary["input_records"]
    )
    feats = build_features(d, r)
    assert (feats.loc[[f"M{i:08d}" for i in range(0, 1000, 100)], "history_days"] <= 12).all()
