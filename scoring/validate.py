"""Input validation: every daily record is accepted, repaired, or rejected with a reason.

A real platform export has gaps, duplicates, negative refunds, NaNs, garbage cells
and merchants with only a few days of history. :func:`validate` first refuses an
export whose *structure* is wrong (:func:`scoring.tables.check_tables`: columns,
types, the entities table), then applies the rules below in order, vectorised over
the whole export: the first rule a record breaks is the one it is logged under. It
returns the clean records together with one issue row per repaired or rejected
record (its position, merchant, date, rule, action, column and reason).

=====================  ========  =============================================
rule                   action    what happens
=====================  ========  =============================================
``missing_key``        reject    ``merchant_id`` or ``date`` is empty
``invalid_date``       reject    ``date`` is not a calendar day (a CSV cell such
                                 as ``2025-13-45``)
``unknown_entity``     reject    ``merchant_id`` is not in the entities table
``out_of_window``      reject    ``date`` outside [window_start, window_end]
``duplicate``          repair    same (merchant_id, date) again: the first row
                                 in export order is kept, later ones dropped
``invalid_value``      reject    a measure is not a number (a CSV cell such as
                                 ``12,5`` or ``n/a``), not finite (infinity), a
                                 count with a fraction, or a flag that is
                                 neither true nor false
``out_of_bounds``      reject    a measure's magnitude is above its documented
                                 bound (``scoring.tables.BOUNDS``: 1,000,000
                                 orders a day, 1e10 CNY a day...)
``missing_orders``     reject    the primary activity count is empty; the day
                                 becomes a gap (gaps are not filled with zeros:
                                 a missing day is not evidence of a closed shop)
``negative_value``     reject    a count or amount is negative (refunds aside)
``negative_refund``    repair    a negative refund is a sign-convention slip:
                                 its absolute value is used
``nan_measure``        repair    another measure is empty: event counts and
                                 amounts become 0, stock levels take the
                                 merchant's median of the valid days
``inconsistent``       repair    a part exceeds its whole (repeat customers >
                                 customers, top-SKU units > units, stars >
                                 5 x reviews): the part is capped at the whole
=====================  ========  =============================================

An export with nothing valid left (every record rejected) is refused as a whole
(:class:`~scoring.errors.ExportEmpty`): scoring it would turn a broken export into a
round of "rejected" decisions.

Per entity the result reports ``history_days`` (distinct valid days),
``gap_days`` (days between the first valid day and the window end without a
valid record) and counts of rejected and repaired records.  Whether the
history is long enough to score is the policy's decision
(``Policy.min_history_days``), so "insufficient history" is never turned into
a made-up score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from scoring.errors import ExportEmpty
from scoring.platform import PlatformData
from scoring.tables import BOUNDS, SEGMENT_COLUMNS, check_tables, floats

#: Every rule, in the order it is applied, with its action.
RULES: dict[str, str] = {
    "missing_key": "reject",
    "invalid_date": "reject",
    "unknown_entity": "reject",
    "out_of_window": "reject",
    "duplicate": "repair",
    "invalid_value": "reject",
    "out_of_bounds": "reject",
    "missing_orders": "reject",
    "negative_value": "reject",
    "negative_refund": "repair",
    "nan_measure": "repair",
    "inconsistent": "repair",
}

#: One check of :meth:`_IssueLog.add_first`: (column, mask, values, reason from a value).
_Check = tuple[str, NDArray[np.bool_], NDArray[Any], Callable[[Any], str]]

ISSUE_COLUMNS = ("position", "merchant_id", "date", "rule", "action", "column", "reason")


@dataclass
class ValidationResult:
    """Clean daily records, the issue log, and per-entity history statistics.

    ``issues`` has one row per repaired or rejected record: ``position`` (0-based,
    in the daily table as given), ``merchant_id`` (None when empty), ``date`` (NaT
    when empty or unreadable), ``rule``, ``action``, ``column`` and ``reason``.
    """

    daily: pd.DataFrame
    issues: pd.DataFrame
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


class _IssueLog:
    """Collects issue rows (positions, rule, column, reason) and marks the records each rule took."""

    def __init__(self, n: int) -> None:
        self.keep = np.ones(n, dtype=bool)
        self.repaired = np.zeros(n, dtype=bool)
        self.parts: list[pd.DataFrame] = []

    def add(self, mask: NDArray[np.bool_], rule: str, column: Any, reason: Any) -> None:
        """Log ``rule`` for the records in ``mask`` (``column``/``reason``: one value, or one per record).

        A rejection takes the records out of ``keep``; a repair marks them repaired.
        """
        positions = np.flatnonzero(mask)
        if not len(positions):
            return
        self.parts.append(
            pd.DataFrame(
                {
                    "position": positions.astype(np.int64),
                    "rule": rule,
                    "action": RULES[rule],
                    "column": column if isinstance(column, str) else np.asarray(column, dtype=object)[positions],
                    "reason": reason if isinstance(reason, str) else np.asarray(reason, dtype=object)[positions],
                }
            )
        )
        if RULES[rule] == "reject":
            self.keep &= ~mask
        else:
            self.repaired |= mask

    def add_first(self, rule: str, checks: list[_Check]) -> None:
        """Log ``rule`` once per kept record, under the first column (in ``checks`` order) that breaks it.

        Each check is ``(column, mask, values, reason)``; ``reason`` makes the text from
        the record's value, for the few records it applies to.
        """
        taken = ~self.keep
        parts: list[tuple[NDArray[np.int64], str, list[str]]] = []
        for column, mask, values, reason in checks:
            hit = mask & ~taken
            positions = np.flatnonzero(hit)
            if not len(positions):
                continue
            parts.append((positions, column, [reason(v) for v in values[positions]]))
            taken |= hit
        if not parts:
            return
        positions = np.concatenate([p for p, _, _ in parts])
        hits = np.zeros(len(self.keep), dtype=bool)
        hits[positions] = True
        columns = np.empty(len(self.keep), dtype=object)
        reasons = np.empty(len(self.keep), dtype=object)
        for p, column, texts in parts:
            columns[p] = column
            reasons[p] = texts
        self.add(hits, rule, columns, reasons)

    def frame(self, ids: pd.Series, dates: pd.Series) -> pd.DataFrame:
        if not self.parts:
            return pd.DataFrame({c: pd.Series([], dtype=object) for c in ISSUE_COLUMNS}).assign(
                position=pd.Series([], dtype=np.int64), date=pd.Series([], dtype="datetime64[s]")
            )
        issues = pd.concat(self.parts, ignore_index=True)
        positions = issues["position"].to_numpy()
        raw = ids.iloc[positions].astype(object).to_numpy()
        issues.insert(1, "merchant_id", np.where(pd.isna(raw), None, raw))
        issues.insert(2, "date", dates.iloc[positions].to_numpy())
        return issues


def _reader_faults(
    data: PlatformData, n: int, rule: str
) -> tuple[NDArray[np.bool_], dict[str, tuple[NDArray[np.bool_], NDArray[Any]]]]:
    """The reader's unparseable cells under ``rule``: any-column mask and, per column, (mask, reason)."""
    any_mask = np.zeros(n, dtype=bool)
    by_column: dict[str, tuple[NDArray[np.bool_], NDArray[Any]]] = {}
    if data.faults is None or not len(data.faults):
        return any_mask, by_column
    faults = data.faults[data.faults["rule"] == rule]
    for column, group in faults.groupby("column", sort=False):
        mask = np.zeros(n, dtype=bool)
        reason = np.empty(n, dtype=object)
        positions = group["position"].to_numpy(dtype=np.int64)
        mask[positions] = True
        reason[positions] = group["reason"].to_numpy(dtype=object)
        by_column[str(column)] = (mask, reason)
        any_mask |= mask
    return any_mask, by_column


def validate(data: PlatformData) -> ValidationResult:
    """Refuse a structurally bad export, then apply the documented rules to ``data.daily`` (module docstring)."""
    check_tables(data)
    spec = SEGMENT_COLUMNS[data.segment]
    df = data.daily.reset_index(drop=True)
    n = len(df)
    log = _IssueLog(n)

    ids = df["merchant_id"]
    dates = pd.to_datetime(df["date"], errors="coerce").dt.floor("D")  # a record is for its calendar day
    df = df.assign(date=dates)
    bad_day, day_reasons = _reader_faults(data, n, "invalid_date")
    null_id = ids.isna().to_numpy()
    null_day = dates.isna().to_numpy() & ~bad_day
    log.add(null_id | null_day, "missing_key", np.where(null_id, "merchant_id", "date"), "is empty")
    if "date" in day_reasons:
        log.add(log.keep & bad_day, "invalid_date", "date", day_reasons["date"][1])

    known = pd.Index(data.entities["merchant_id"].astype(str), name="merchant_id")
    codes = entity_codes(ids, known)
    log.add(log.keep & (codes < 0), "unknown_entity", "merchant_id", "is not in the entities table")

    lo, hi = pd.Timestamp(data.window_start), pd.Timestamp(data.window_end)
    outside = log.keep & ~((dates >= lo) & (dates <= hi)).to_numpy()
    if outside.any():
        shown = np.empty(n, dtype=object)
        shown[outside] = [f"{d:%Y-%m-%d} is outside the window {lo:%Y-%m-%d}..{hi:%Y-%m-%d}" for d in dates[outside]]
        log.add(outside, "out_of_window", "date", shown)

    # Integer (entity, day) keys: duplicate detection without string hashing.
    day_no = np.where(log.keep, (dates - lo).dt.days.fillna(0).to_numpy(dtype=np.int64), 0)
    key = codes.astype(np.int64) * 100_000 + day_no
    # Only rows that survived the earlier rules compete for "first occurrence".
    kept_idx = np.flatnonzero(log.keep)
    dup = np.zeros(n, dtype=bool)
    dup[kept_idx] = pd.Series(key[kept_idx]).duplicated(keep="first").to_numpy()
    log.add(dup, "duplicate", "date", "repeats an earlier record of the same merchant and day")
    log.keep &= ~dup  # repaired by dropping the later copy

    numeric = spec.numbers
    values = {c: floats(df[c]) for c in numeric}
    _, value_faults = _reader_faults(data, n, "invalid_value")
    _check_values(log, df, spec.whole, values, value_faults, (*numeric, *spec.flags))

    primary = values[spec.primary]
    log.add(log.keep & np.isnan(primary), "missing_orders", spec.primary, "is empty")

    signed = (*spec.counts, *spec.amounts, *spec.levels)
    log.add_first("negative_value", [(c, values[c] < 0, values[c], lambda v: f"{_num(v)} is negative") for c in signed])
    keep = log.keep.copy()  # every rejection is made: the records kept

    value_cols = [c for c in (*spec.counts, *spec.amounts, *spec.levels) if c != spec.primary]
    if spec.refund:
        refund = values[spec.refund]
        log.add(keep & (refund < 0), "negative_refund", spec.refund, "is negative: its absolute value is used")
        values[spec.refund] = np.abs(refund)
        value_cols.append(spec.refund)

    log.add_first("nan_measure", [(c, np.isnan(values[c]), values[c], lambda _v: "is empty") for c in value_cols])

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
        out[c] = values[c][keep]
    for c in spec.flags:
        out[c] = df[c].astype(object).where(df[c].notna(), False).astype(bool).to_numpy()[keep]

    over_any = np.zeros(len(out), dtype=bool)
    over_column = np.empty(len(out), dtype=object)
    for part, whole, factor in spec.part_of:
        cap = out[whole].to_numpy() * factor
        over = out[part].to_numpy() > cap + 1e-9
        over_column[over & ~over_any] = part
        over_any |= over
        out[part] = np.minimum(out[part].to_numpy(), cap)
    if over_any.any():
        full = np.zeros(n, dtype=bool)
        column = np.empty(n, dtype=object)
        full[np.flatnonzero(keep)[over_any]] = True
        column[np.flatnonzero(keep)[over_any]] = over_column[over_any]
        log.add(full, "inconsistent", column, "exceeds its whole: capped")
    for c in spec.counts:
        out[c] = out[c].astype(np.int64)
    order = np.lexsort((out["date"].to_numpy(), kept_codes))
    out = out.iloc[order].reset_index(drop=True)
    kept_codes = kept_codes[order]

    issue_frame = log.frame(ids, dates)
    if not len(out):
        counts = issue_frame[issue_frame["action"] == "reject"].groupby("rule", sort=False).size()
        why = ", ".join(f"{rule} {count:,}" for rule, count in counts.sort_values(ascending=False).items())
        raise ExportEmpty(f"no daily record is valid: all {n:,} rejected ({why})", file=data.file("daily"))

    m = len(known)
    issue_codes = known.get_indexer(
        issue_frame["merchant_id"].astype(object).where(issue_frame["merchant_id"].notna(), "")
    )
    ok_issue = issue_codes >= 0
    is_reject = (issue_frame["action"] == "reject").to_numpy()
    day_of = (out["date"] - lo).dt.days.to_numpy(dtype=np.int64)
    first = np.full(m, 10**9, dtype=np.int64)
    np.minimum.at(first, kept_codes, day_of)
    history = np.bincount(kept_codes, minlength=m)  # duplicates already dropped: one row per day
    span = np.where(history > 0, (hi - lo).days + 1 - first, 0)
    stats = pd.DataFrame(
        {
            "history_days": history.astype(np.int64),
            "gap_days": np.maximum(span - history, 0).astype(np.int64),
            "rejected_records": np.bincount(issue_codes[ok_issue & is_reject], minlength=m).astype(np.int64),
            "repaired_records": np.bincount(issue_codes[ok_issue & ~is_reject], minlength=m).astype(np.int64),
        },
        index=known,
    )
    summary = {str(k): int(v) for k, v in issue_frame.groupby("rule").size().items()}
    summary["accepted_records"] = len(out)
    summary["input_records"] = n
    return ValidationResult(out, issue_frame, stats, summary, kept_codes)


def _check_values(
    log: _IssueLog,
    df: pd.DataFrame,
    whole: tuple[str, ...],
    values: dict[str, NDArray[np.float64]],
    reader: dict[str, tuple[NDArray[np.bool_], NDArray[Any]]],
    order: tuple[str, ...],
) -> None:
    """``invalid_value`` then ``out_of_bounds``, each under the first offending column of a record."""
    # A cell the reader could not parse comes first, whatever its column: the checks below see NaN there.
    invalid: list[_Check] = [(c, *reader[c], str) for c in order if c in reader]
    bounds: list[_Check] = []
    for column in order:
        if column not in values:
            continue
        v = values[column]
        bound = BOUNDS[column]
        over = np.abs(v) > bound  # NaN compares False; infinity is over every bound
        if over.any():
            infinite = over & np.isinf(v)
            invalid.append((column, infinite, v, lambda x: f"{_num(x)} is not a finite number"))
            bounds.append((column, over & ~infinite, v, _above(bound)))
        if column in whole and not pd.api.types.is_integer_dtype(df[column].dtype):  # ints hold no fractions
            with np.errstate(invalid="ignore"):
                fraction = np.isfinite(v) & (v != np.floor(v))
            invalid.append((column, fraction, v, lambda x: f"{_num(x)} is not a whole number"))
    log.add_first("invalid_value", invalid)
    log.add_first("out_of_bounds", bounds)


def _above(bound: float) -> Callable[[Any], str]:
    return lambda value: f"{_num(value)} is above its bound {bound:,.0f}"


def _num(value: Any) -> str:
    """A number as a reason shows it (Python's shortest form, never numpy's repr)."""
    return repr(float(value))
