"""The platform export's two tables: every column, its kind and bound, and the structural checks.

One place for the column facts of ``scoring/DATA_FORMAT.md``: the file reader
(:mod:`scoring.export`) parses each column by its kind, :func:`check_tables` refuses
frames whose structure is wrong (read from files or built in memory alike, e.g. a
window cut from stored records), and :mod:`scoring.validate` applies the kinds and
bounds to each daily record.

* **entities** is master data: every row must be whole (an id once, every column
  filled, every number within its bound), else the export is refused naming the row.
* **daily** records are judged one by one (:mod:`scoring.validate`); only the table's
  shape (columns and their types) and its being empty refuse the export here.

Bounds are the largest magnitude a value may have. They are far above anything a
small merchant or farmer does in a day, and they keep every feature inside the
fixed-point range of :mod:`scoring.canonical` (monthly revenue at the amount bound is
3e11 CNY, 3e17 micro-units, below 2**63).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from scoring.errors import (
    ExportColumnsInvalid,
    ExportEmpty,
    ExportValueInvalid,
    ManifestInvalid,
)

if TYPE_CHECKING:
    from scoring.platform import PlatformData

Kind = Literal["id", "label", "date", "count", "number", "flag"]
"""``id``: the platform's merchant id (text); ``label``: a category (text); ``date``: a day;
``count``: a whole number >= 0; ``number``: any finite number; ``flag``: true or false."""

SEGMENTS: tuple[str, ...] = ("merchant", "farmer")

#: Longest merchant id (the store's ``merchants.merchant_id`` column).
MAX_ID_CHARS = 128
#: Longest label: industry, region, main crop (the store's ``industry``/``region`` columns).
MAX_LABEL_CHARS = 64
#: Longest export window, in days (a year; the scorecard reads 60).
MAX_WINDOW_DAYS = 366

#: The largest magnitude of each numeric column (per day for daily records).
BOUNDS: dict[str, float] = {
    # merchant daily
    "orders": 1e6,
    "customers": 1e6,
    "repeat_customers": 1e6,
    "units_sold": 1e8,
    "top_sku_units": 1e8,
    "stock_units": 1e9,
    "active_skus": 1e7,
    "inventory_updates": 1e6,
    "review_count": 1e6,
    "complaints": 1e6,
    "revenue_cny": 1e10,
    "refunds_cny": 1e10,
    "review_stars_sum": 5e6,
    # farmer daily
    "order_value_cny": 1e10,
    "coop_trades": 1e6,
    "machinery_hours": 1e5,
    "ndvi": 1.0,
    # farmer entities
    "crop_count": 1e3,
    "planted_area_mu": 1e7,
    "output_value_y1": 1e11,
    "output_value_y2": 1e11,
    "output_value_y3": 1e11,
}


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a table: its name, kind and (numbers) the largest magnitude allowed."""

    name: str
    kind: Kind

    @property
    def bound(self) -> float | None:
        return BOUNDS.get(self.name)


@dataclass(frozen=True)
class SegmentColumns:
    """The roles of a segment's daily columns in validation: counts, amounts, stock levels, nullable..."""

    primary: str
    counts: tuple[str, ...]
    amounts: tuple[str, ...]
    levels: tuple[str, ...] = ()
    nullable: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    refund: str | None = None
    part_of: tuple[tuple[str, str, float], ...] = ()  # (part, whole, factor)

    @property
    def whole(self) -> tuple[str, ...]:
        """Columns that hold whole numbers (counts and stock levels)."""
        return (*self.counts, *self.levels)

    @property
    def numbers(self) -> tuple[str, ...]:
        """Every numeric column, in a fixed order."""
        return (*self.counts, *self.amounts, *self.levels, *((self.refund,) if self.refund else ()), *self.nullable)


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

ENTITY_COLUMNS: dict[str, tuple[Column, ...]] = {
    "merchant": (
        Column("merchant_id", "id"),
        Column("industry", "label"),
        Column("region", "label"),
        Column("onboarded_date", "date"),
    ),
    "farmer": (
        Column("merchant_id", "id"),
        Column("main_crop", "label"),
        Column("region", "label"),
        Column("crop_count", "count"),
        Column("planted_area_mu", "number"),
        Column("coop_member", "flag"),
        Column("output_value_y1", "number"),
        Column("output_value_y2", "number"),
        Column("output_value_y3", "number"),
        Column("onboarded_date", "date"),
    ),
}


def daily_columns(segment: str) -> tuple[Column, ...]:
    """The daily table's columns, derived from the segment's validation roles."""
    spec = SEGMENT_COLUMNS[segment]
    whole = set(spec.whole)
    return (
        Column("merchant_id", "id"),
        Column("date", "date"),
        *(Column(c, "count" if c in whole else "number") for c in spec.numbers),
        *(Column(c, "flag") for c in spec.flags),
    )


def table_columns(segment: str, table: str) -> tuple[Column, ...]:
    """The columns of ``table`` (``entities`` or ``daily``) of a segment."""
    return ENTITY_COLUMNS[segment] if table == "entities" else daily_columns(segment)


def spreadsheet_row(position: int) -> int:
    """The row a spreadsheet shows for the record at 0-based ``position`` (the header is row 1)."""
    return position + 2


# --------------------------------------------------------------------------- checks


def check_window(segment: str, start: dt.date, end: dt.date, manifest: str = "manifest") -> None:
    """The segment is known and the window runs forwards, at most :data:`MAX_WINDOW_DAYS` long."""
    if segment not in SEGMENTS:
        raise ManifestInvalid(
            f"unknown segment {segment!r}; expected one of {', '.join(SEGMENTS)}", file=manifest, column="segment"
        )
    if start > end:
        raise ManifestInvalid(f"the window is reversed: window_start {start} is after window_end {end}", file=manifest)
    days = (end - start).days + 1
    if days > MAX_WINDOW_DAYS:
        raise ManifestInvalid(f"the window is {days} days long; at most {MAX_WINDOW_DAYS} are allowed", file=manifest)


def check_columns(names: list[str], segment: str, table: str, file: str) -> None:
    """The table has exactly its documented columns, each once (any order)."""
    expected = [c.name for c in table_columns(segment, table)]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ExportColumnsInvalid("appears twice in the header", file=file, column=name)
        seen.add(name)
    missing = [c for c in expected if c not in seen]
    if missing:
        raise ExportColumnsInvalid(f"missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}", file=file)
    extra = [c for c in names if c not in expected]
    if extra:
        raise ExportColumnsInvalid(
            f"unknown column{'s' if len(extra) > 1 else ''} {', '.join(extra)} (a {segment} {table} table has "
            f"{', '.join(expected)})",
            file=file,
        )


def check_tables(data: PlatformData) -> None:
    """Refuse ``data`` unless its window, both tables' columns and types, and every entity are sound.

    Raises the :class:`~scoring.errors.DataFormatError` family naming the file (for
    frames in memory: the table), the row and the column. Daily *values* are judged
    record by record in :func:`scoring.validate.validate`, not here.
    """
    check_window(data.segment, data.window_start, data.window_end, data.file("manifest"))
    for table, frame in (("entities", data.entities), ("daily", data.daily)):
        file = data.file(table)
        check_columns([str(c) for c in frame.columns], data.segment, table, file)
        if not len(frame):
            raise ExportEmpty(f"no {'entities' if table == 'entities' else 'daily records'}", file=file)
        for column in table_columns(data.segment, table):
            _check_type(frame[column.name], column, file)
    _check_entities(data.entities, data.segment, data.file("entities"))


def _check_type(series: pd.Series, column: Column, file: str) -> None:
    """The column's dtype can hold its kind (numbers as numbers, dates as dates, not as text)."""
    kind = column.kind
    dtype = series.dtype
    if kind in ("id", "label"):
        ok = isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(dtype)
        if not ok and pd.api.types.is_object_dtype(dtype):
            ok = pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")
        expected = "text"
    elif kind == "date":
        ok = pd.api.types.is_datetime64_dtype(dtype)  # naive: a day, not an instant in a time zone
        expected = "dates (a timestamp or date type, no time zone)"
    elif kind == "flag":
        ok = pd.api.types.is_bool_dtype(dtype) or (
            pd.api.types.is_object_dtype(dtype)
            and pd.api.types.infer_dtype(series, skipna=True) in ("boolean", "empty")
        )
        expected = "true/false"
    else:
        ok = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        expected = "numbers"
    if not ok:
        held = "text" if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype) else str(dtype)
        raise ExportColumnsInvalid(f"holds {held}, expected {expected}", file=file, column=column.name)


def floats(series: pd.Series) -> NDArray[np.float64]:
    """A numeric column as float64, missing values as NaN (numpy or nullable dtypes alike)."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "iuf":  # the common case: no conversion pass
        plain: NDArray[np.float64] = series.to_numpy().astype(np.float64, copy=False)
        return plain
    values: NDArray[np.float64] = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return values


def _first(mask: NDArray[np.bool_]) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if len(hits) else None


def _check_entities(frame: pd.DataFrame, segment: str, file: str) -> None:
    """Every entity row whole: values present, well-formed, within bounds; each id once."""
    for column in ENTITY_COLUMNS[segment]:
        series = frame[column.name]
        problem: tuple[int, str] | None = None
        if column.kind in ("id", "label"):
            text = series.astype(object)
            empty = text.isna().to_numpy() | (text.astype(str).str.len() == 0).to_numpy()
            limit = MAX_ID_CHARS if column.kind == "id" else MAX_LABEL_CHARS
            long = ~empty & (text.astype(str).str.len() > limit).to_numpy()
            if (at := _first(empty)) is not None:
                problem = (at, "is empty")
            elif (at := _first(long)) is not None:
                problem = (at, f"is longer than {limit} characters")
        elif column.kind in ("date", "flag"):
            if (at := _first(series.isna().to_numpy())) is not None:
                problem = (at, "is empty")
        else:
            problem = _number_problem(floats(series), column)
        if problem is not None:
            at, reason = problem
            raise ExportValueInvalid(reason, file=file, row=spreadsheet_row(at), column=column.name)
    ids = frame["merchant_id"].astype(str)
    repeated = ids.duplicated(keep=False).to_numpy()
    if repeated.any():
        rows = np.flatnonzero(repeated)
        first = int(rows[0])
        again = int(rows[1:][ids.iloc[rows[1:]].to_numpy() == ids.iloc[first]][0])
        raise ExportValueInvalid(
            f"merchant {ids.iloc[first]!r} appears twice (rows {spreadsheet_row(first)} and {spreadsheet_row(again)})",
            file=file,
            row=spreadsheet_row(again),
            column="merchant_id",
        )


def _number_problem(values: NDArray[np.float64], column: Column) -> tuple[int, str] | None:
    """The first entity value that is missing, not finite, negative, fractional or out of bounds."""
    checks: list[tuple[NDArray[np.bool_], str]] = [
        (np.isnan(values), "is empty"),
        (np.isinf(values), "is not a finite number"),
        (values < 0, "is negative"),
    ]
    if column.kind == "count":
        with np.errstate(invalid="ignore"):
            checks.append((np.isfinite(values) & (values != np.floor(values)), "is not a whole number"))
    bound = column.bound
    if bound is not None:
        checks.append((np.isfinite(values) & (np.abs(values) > bound), f"is above its bound {bound:,.0f}"))
    for mask, reason in checks:
        at = _first(mask)
        if at is not None:
            return at, f"{float(values[at])!r} {reason}" if reason != "is empty" else reason
    return None
