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
from numpy.typing import NDArray

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
        counts=(
            "orders",
            "customers",
            "repeat_customers",
            "units_sold",
            "top_sku_units",
            "inventory_updates",
            "review_count",
            "complaints",
        ),
        amounts=("revenue_cny", "review_stars_sum"),
        levels=("stock_units", "active_skus"),
        flags=("promo_day",),
        refund="refunds_cny",
        part_of=(
            ("repeat_customers", "customers", 1.0),
            ("top_sku_units", "units_sold", 1.0),
            ("review_stars_sum", "review_count", 5.0),
        ),
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
    codes: NDArray[np.int64] | None = None  # entity position of each clean row (into the entities table)


def entity_codes(ids: pd.Series, known: pd.Index) -> NDArray[np.int64]:
    """Position of each id in ``known`` (-1 for null or unknown ids), fast for categoricals."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        cat_map = known.get_indexer(ids.cat.categories.astype(str))
        raw = ids.cat.codes.to_numpy()
        return np.where(raw >= 0, cat_map[np.maximum(raw, 0)], -1).astype(np.int64)
    obj = ids.astype(object).to_numpy()
    null = pd.isna(obj)
    out = np.full(len(obj), -1, dtype=np.int64)
    out[~null] = known.get_indexer(obj[~null].astype(str))
    return out


def _log(mask: NDArray[np.bool_], frame: pd.DataFrame, rule: str, action: str, sink: list[pd.DataFrame]) -> None:
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

    known = pd.Index(data.entities["merchant_id"].astype(str), name="merchant_id")
    codes = entity_codes(ids, known)
    bad = keep & (codes < 0)
    _log(bad, df, "unknown_entity", "reject", issues)
    keep &= ~bad

    lo, hi = pd.Timestamp(data.window_start), pd.Timestamp(data.window_end)
    bad = keep & ~((dates >= lo) & (dates <= hi)).to_numpy()
    _log(bad, df, "out_of_window", "reject", issues)
    keep &= ~bad

    # Integer (entity, day) keys: duplicate detection without string hashing.
    day_no = np.where(keep, (dates - lo).dt.days.fillna(0).to_numpy(dtype=np.int64), 0)
    key = codes.astype(np.int64) * 100_000 + day_no
    # Only rows that survived the earlier rules compete for "first occurrence".
    kept_idx = np.flatnonzero(keep)
    dup = np.zeros(len(df), dtype=bool)
    dup[kept_idx] = pd.Series(key[kept_idx]).duplicated(keep="first").to_numpy()
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
    for v in values.values():
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

    kept_codes = codes[keep]
    out = pd.DataFrame(
        {
            "merchant_id": pd.Categorical.from_codes(kept_codes, categories=known),
            "date": dates[keep].to_numpy(),
        }
    )
    for c in (*spec.counts, *spec.amounts):
        if c == spec.primary:
            out[c] = primary[keep]
        else:
            out[c] = np.nan_to_num(values[c][keep], nan=0.0)
    if spec.refund:
        out[spec.refund] = np.nan_to_num(values[spec.refund][keep], nan=0.0)
    for c in spec.levels:
        v = pd.Series(values[c][keep])
        if v.isna().any():  # groupby only when there is something to repair
            v = v.fillna(v.groupby(kept_codes).transform("median")).fillna(0.0)
        out[c] = v.to_numpy()
    for c in spec.nullable:
        out[c] = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64)[keep]
    for c in spec.flags:
        out[c] = df[c].fillna(False).astype(bool).to_numpy()[keep]

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
    order = np.lexsort((out["date"].to_numpy(), kept_codes))
    out = out.iloc[order].reset_index(drop=True)
    kept_codes = kept_codes[order]

    issue_frame = (
        pd.concat(issues, ignore_index=True)
        if issues
        else pd.DataFrame({"merchant_id": [], "date": [], "rule": [], "action": []})
    )
    issue_frame["merchant_id"] = issue_frame["merchant_id"].astype(object).astype(str)

    n = len(known)
    issue_codes = known.get_indexer(issue_frame["merchant_id"])
    ok_issue = issue_codes >= 0
    is_reject = (issue_frame["action"] == "reject").to_numpy()
    day_of = (out["date"] - lo).dt.days.to_numpy(dtype=np.int64)
    first = np.full(n, 10**9, dtype=np.int64)
    np.minimum.at(first, kept_codes, day_of)
    history = np.bincount(kept_codes, minlength=n)  # duplicates already dropped: one row per day
    span = np.where(history > 0, (hi - lo).days + 1 - first, 0)
    stats = pd.DataFrame(
        {
            "history_days": history.astype(np.int64),
            "gap_days": np.maximum(span - history, 0).astype(np.int64),
            "rejected_records": np.bincount(issue_codes[ok_issue & is_reject], minlength=n).astype(np.int64),
            "repaired_records": np.bincount(issue_codes[ok_issue & ~is_reject], minlength=n).astype(np.int64),
        },
        index=known,
    )
    summary = {str(k): int(v) for k, v in issue_frame.groupby("rule").size().items()}
    summary["accepted_records"] = len(out)
    summary["input_records"] = len(df)
    return ValidationResult(out, issue_frame, stats, summary, kept_codes)
