"""Input validation: every daily record is accepted, repaired, or rejected with a reason.

A real platform export has gaps, duplicates, negative refunds, NaNs and
merchants with only a few days of history.  :func:`validate` applies the rules
below in order, vectorised over the whole export, and returns the clean
records together with one issue row per repaired or rejected record.

=====================  ========  =============================================
rule                   action    what happens
=====================  ========  =============================================
``missing_key``        reject    ``merchant_id`` or ``date`` is null
``unknown_entity``     reject    ``merchant_id`` is not in the entities table
``out_of_window``      reject    ``date`` outside [window_start, window_end]
``duplicate``          repair    same (merchant_id, date) again: the first row
                                 in export order is kept, later ones dropped
``missing_orders``     reject    the primary activity count is NaN; the day
                                 becomes a gap (gaps are not filled with zeros:
                                 a missing day is not evidence of a closed shop)
``negative_value``     reject    a count or amount is negative (refunds aside)
``negative_refund``    repair    a negative refund is a sign-convention slip:
                                 its absolute value is used
``nan_measure``        repair    another measure is NaN: event counts and
                                 amounts become 0, stock levels take the
                                 merchant's median of the valid days
``inconsistent``       repair    a part exceeds its whole (repeat customers >
                                 customers, top-SKU units > units, stars >
                                 5 x reviews): the part is capped at the whole
=====================  ========  =============================================

Per entity the result reports ``history_days`` (distinct valid days),
``gap_days`` (days between the first valid day and the window end without a
valid record) and counts of rejected and repaired records.  Whether the
history is long enough to score is the policy's decision
(``Policy.min_history_days``), so "insufficient history" is never turned into
a made-up score.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scoring.errors import ValidationError
from scoring.synth import PlatformData


@dataclass(frozen=True)
class SegmentColumns:
    """Which daily columns are counts, amounts, stock levels, or legitimately nullable."""

    primary: str
    counts: tuple[str, ...]
    amounts: tuple[str, ...]
    levels: tuple[str, ...] = ()
    nullable: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    refund: str | None = None
    part_of: tuple[tuple[str, str, float], ...] = ()  # (part, whole, factor)


SEGMENT_COLUMNS: dict[str, SegmentColumns] = {
    "merchant": SegmentColumns(
        primary="orders",
        counts=("orders", "customers", "repeat_customers", "units_sold", "top_sku_units",
                "inventory_updates", "review_count", "complaints"),
        amounts=("revenue_cny", "review_stars_sum"),
        levels=("stock_units", "active_skus"),
        flags=("promo_day",),
        refund="refunds_cny",
        part_of=(("repeat_customers", "customers", 1.0), ("top_sku_units", "units_sold", 1.0),
                 ("review_stars_sum", "review_count", 5.0)),
    ),
    "farmer": SegmentColumns(
        primary="orders",
        counts=("orders", "coop_trades"),
        amounts=("order_value_cny", "machinery_hours"),
        nullable=("ndvi",),
    ),
}


@dataclass
class ValidationResult:
    """Clean daily records, the issue log, and per-entity history statistics."""

    daily: pd.DataFrame
    issues: pd.DataFrame  # columns: merchant_id, date, rule, action
    entity_stats: pd.DataFrame  # index merchant_id: history_days, gap_days, rejected_records, repaired_records
    summary: dict[str, int] = field(default_factory=dict)


def _log(mask: np.ndarray, frame: pd.DataFrame, rule: str, action: str, sink: list[pd.DataFrame]) -> None:
    if mask.any():
        rows = frame.loc[mask, ["merchant_id", "date"]].copy()
        rows["rule"] = rule
        rows["action"] = action
        sink.append(rows)


def validate(data: PlatformData) -> ValidationResult:
    """Apply the documented rules to ``data.daily`` (see module docstring)."""
    spec = SEGMENT_COLUMNS.get(data.segment)
    if spec is None:
        raise ValidationError(f"unknown segment {data.segment!r}")
    cols = [spec.primary, *spec.counts, *spec.amounts, *spec.levels, *spec.nullable, *spec.flags]
    if spec.refund:
        cols.append(spec.refund)
    required = {"merchant_id", "date", *cols}
    missing_cols = required - set(data.daily.columns)
    if missing_cols:
        raise ValidationError(f"daily records lack columns {sorted(missing_cols)}")
    if "merchant_id" not in data.entities.columns:
        raise ValidationError("entities table lacks merchant_id")

    df = data.daily.reset_index(drop=True)
    issues: list[pd.DataFrame] = []
    keep = np.ones(len(df), dtype=bool)

    ids = df["merchant_id"]
    dates = pd.to_datetime(df["date"], errors="coerce")
    df = df.assign(date=dates)
    bad = (ids.isna() | dates.isna()).to_numpy()
    _log(bad, df, "missing_key", "reject", issues)
    keep &= ~bad

    known = pd.Index(data.entities["merchant_id"].astype(str))
    id_str = ids.astype(object).where(ids.notna(), "").astype(str)
    bad = keep & ~id_str.isin(known).to_numpy()
    _log(bad, df, "unknown_entity", "reject", issues)
    keep &= ~bad

    lo, hi = pd.Timestamp(data.window_start), pd.Timestamp(data.window_end)
    bad = keep & ~((dates >= lo) & (dates <= hi)).to_numpy()
    _log(bad, df, "out_of_window", "reject", issues)
    keep &= ~bad

    key = pd.DataFrame({"m": id_str, "d": dates})
    # Only rows that survived the earlier rules compete for "first occurrence".
    kept_idx = np.flatnonzero(keep)
    dup = np.zeros(len(df), dtype=bool)
    dup[kept_idx] = key.iloc[kept_idx].duplicated(keep="first").to_numpy()
    _log(dup, df, "duplicate", "repair", issues)
    keep &= ~dup

    primary = pd.to_numeric(df[spec.primary], errors="coerce").to_numpy(dtype=np.float64)
    bad = keep & np.isnan(primary)
    _log(bad, df, "missing_orders", "reject", issues)
    keep &= ~bad

    value_cols = [c for c in (*spec.counts, *spec.amounts, *spec.levels) if c != spec.primary]
    values = {c: pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64) for c in value_cols}
    values[spec.primary] = primary
    neg = np.zeros(len(df), dtype=bool)
    for c, v in values.items():
        neg |= v < 0
    bad = keep & neg
    _log(bad, df, "negative_value", "reject", issues)
    keep &= ~bad

    repaired = np.zeros(len(df), dtype=bool)
    if spec.refund:
        refund = pd.to_numeric(df[spec.refund], errors="coerce").to_numpy(dtype=np.float64)
        fix = keep & (refund < 0)
        _log(fix, df, "negative_refund", "repair", issues)
        repaired |= fix
        values[spec.refund] = np.abs(refund)
        value_cols.append(spec.refund)

    nan_any = np.zeros(len(df), dtype=bool)
    for c in value_cols:
        nan_any |= np.isnan(values[c])
    fix = keep & nan_any
    _log(fix, df, "nan_measure", "repair", issues)
    repaired |= fix

    out = df.loc[keep, ["merchant_id", "date"]].copy()
    out["merchant_id"] = id_str[keep].to_numpy()
    for c in (*spec.counts, *spec.amounts):
        if c == spec.primary:
            out[c] = primary[keep]
        else:
            out[c] = np.nan_to_num(values[c][keep], nan=0.0)
    if spec.refund:
        out[spec.refund] = np.nan_to_num(values[spec.refund][keep], nan=0.0)
    for c in spec.levels:
        v = pd.Series(values[c][keep], index=out.index)
        med = v.groupby(out["merchant_id"].to_numpy()).transform("median")
        out[c] = v.fillna(med).fillna(0.0).to_numpy()
    for c in spec.nullable:
        out[c] = pd.to_numeric(df.loc[keep, c], errors="coerce").to_numpy(dtype=np.float64)
    for c in spec.flags:
        out[c] = df.loc[keep, c].fillna(False).astype(bool).to_numpy()

    incons = np.zeros(len(out), dtype=bool)
    for part, whole, factor in spec.part_of:
        cap = out[whole].to_numpy() * factor
        over = out[part].to_numpy() > cap + 1e-9
        incons |= over
        out[part] = np.minimum(out[part].to_numpy(), cap)
    if incons.any():
        full = np.zeros(len(df), dtype=bool)
        full[np.flatnonzero(keep)[incons]] = True
        _log(full, df, "inconsistent", "repair", issues)
        repaired |= full
    for c in spec.counts:
        out[c] = out[c].astype(np.int64)
    out = out.sort_values(["merchant_id", "date"], kind="stable").reset_index(drop=True)

    issue_frame = (
        pd.concat(issues, ignore_index=True)
        if issues
        else pd.DataFrame({"merchant_id": [], "date": [], "rule": [], "action": []})
    )
    issue_frame["merchant_id"] = issue_frame["merchant_id"].astype(object).astype(str)

    entity_ids = pd.Index(data.entities["merchant_id"].astype(str), name="merchant_id")
    grp = out.groupby("merchant_id", sort=False)["date"]
    first = grp.min().reindex(entity_ids)
    history = grp.nunique().reindex(entity_ids).fillna(0).astype(np.int64)
    span = ((hi - first).dt.days + 1).fillna(0).astype(np.int64)
    stats = pd.DataFrame(
        {
            "history_days": history,
            "gap_days": (span - history).clip(lower=0),
            "rejected_records": issue_frame[issue_frame["action"] == "reject"]
            .groupby("merchant_id").size().reindex(entity_ids).fillna(0).astype(np.int64),
            "repaired_records": issue_frame[issue_frame["action"] == "repair"]
            .groupby("merchant_id").size().reindex(entity_ids).fillna(0).astype(np.int64),
        },
        index=entity_ids,
    )
    summary = {str(k): int(v) for k, v in issue_frame.groupby("rule").size().items()}
    summary["accepted_records"] = int(len(out))
    summary["input_records"] = int(len(df))
    return ValidationResult(out, issue_frame, stats, summary)
