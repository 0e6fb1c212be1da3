"""The export's CSV dialect: reading a table into typed columns, and writing one.

UTF-8 (a leading byte-order mark is skipped), comma-separated, one header row naming
the columns, fields quoted with ``"`` when needed (RFC 4180: a quote inside is doubled,
a quoted field may span lines), days ``YYYY-MM-DD``, numbers with ``.`` as the decimal
point and no thousands separator or spaces (``12``, ``-3.5``, ``1e6``), flags
``true``/``false`` (or ``1``/``0``, any case), and an empty field for a missing value.

A file that is empty, not UTF-8, or has a row with another number of fields than its
header is refused (:class:`~scoring.errors.ExportFileUnreadable`, naming the row), as
are missing, repeated or unknown columns. A cell that is neither empty nor of its
column's kind is not refused here: it is returned as a fault, and the caller decides
(the entities table refuses the export, a daily record is rejected).
"""

from __future__ import annotations

import codecs
import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from numpy.typing import NDArray

from scoring.errors import ExportFileUnreadable
from scoring.tables import Column, check_columns, table_columns

__all__ = ["DAY", "FLAGS", "NUMBER", "parse_day", "read_csv_table", "write_csv_table"]

#: A day as the export writes it.
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: A number: optional sign, digits with an optional fraction (or a bare fraction), optional exponent.
NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
#: Flags, compared in lower case.
FLAGS = {"true": True, "false": False, "1": True, "0": False}


def read_csv_table(path: Path, file: str, segment: str, table: str) -> tuple[pa.Table, pd.DataFrame | None]:
    """A CSV table as typed Arrow columns, with the cells that did not parse (``position``, ``column``, ``rule``, ``reason``).

    ``file`` is the name messages use. Structural faults raise (see the module docstring).
    """
    columns = table_columns(segment, table)
    convert = pa_csv.ConvertOptions(
        column_types={c.name: pa.string() for c in columns},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        null_values=[],
    )
    parse = pa_csv.ParseOptions(newlines_in_values=True)
    try:
        arrow = pa_csv.read_csv(path, parse_options=parse, convert_options=convert)
    except pa.ArrowInvalid as exc:
        raise _csv_error(path, file, str(exc), parse, convert) from None
    check_columns(arrow.column_names, segment, table, file)
    kinds = {c.name: c for c in columns}
    typed: list[pa.Array] = []
    found: list[pd.DataFrame] = []
    for name in arrow.column_names:
        array, bad = _parse(arrow.column(name).combine_chunks(), kinds[name])
        typed.append(array)
        if bad is not None:
            found.append(bad)
    typed_table = pa.Table.from_arrays(typed, names=arrow.column_names)
    if not found:
        return typed_table, None
    faults = pd.concat(found, ignore_index=True).sort_values(["position"], kind="stable").reset_index(drop=True)
    return typed_table, faults


def _csv_error(
    path: Path, file: str, message: str, parse: pa_csv.ParseOptions, convert: pa_csv.ConvertOptions
) -> ExportFileUnreadable:
    """The reader's complaint as a message naming the row (found again single-threaded: it knows rows then)."""
    if "Empty CSV file" in message:
        return ExportFileUnreadable("is empty: a CSV table starts with its header row", file=file)
    if "UTF8" in message or "UTF-8" in message:
        line, offset = _bad_utf8(path)
        return ExportFileUnreadable(f"is not UTF-8 text (an invalid byte at offset {offset})", file=file, row=line)
    if "Expected" in message and "columns" in message:
        seen: list[tuple[int | None, int, int]] = []

        def note(row: pa_csv.InvalidRow) -> str:
            seen.append((row.number, row.actual_columns, row.expected_columns))
            return "error"

        try:
            pa_csv.read_csv(
                path,
                read_options=pa_csv.ReadOptions(use_threads=False),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True, invalid_row_handler=note),
                convert_options=convert,
            )
        except pa.ArrowInvalid:
            pass
        if seen:
            number, actual, expected = seen[0]
            return ExportFileUnreadable(f"has {actual} fields, the header {expected}", file=file, row=number)
    return ExportFileUnreadable(f"is not readable CSV: {message.splitlines()[0]}", file=file)


def _bad_utf8(path: Path) -> tuple[int, int]:
    """(line, byte offset) of the first byte that is not UTF-8, read in blocks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, offset = 1, 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                return line + block[: exc.start].count(b"\n"), offset + exc.start
            line += block.count(b"\n")
            offset += len(block)
    return line, offset


def _parse(text: pa.Array, column: Column) -> tuple[pa.Array, pd.DataFrame | None]:
    """One CSV column (strings) as its kind's Arrow type; the cells that are neither empty nor valid."""
    empty = pc.equal(pc.utf8_length(text), 0)
    if column.kind in ("id", "label"):
        return pc.if_else(empty, pa.scalar(None, pa.string()), text), None
    if column.kind in ("count", "number"):
        fast = _all_numbers(text, empty)
        if fast is not None:
            return fast, None
        valid = pc.match_substring_regex(text, NUMBER)
        values = pc.cast(pc.if_else(valid, text, pa.scalar(None, pa.string())), pa.float64())
        bad = pc.and_(pc.invert(valid), pc.invert(empty))
        return values, _faults(text, bad, column, "invalid_value", "is not a number")
    # dates and flags: few distinct values, each parsed once
    encoded = pc.dictionary_encode(text)
    uniques = encoded.dictionary.to_pylist()
    if column.kind == "date":
        parsed = [parse_day(u) for u in uniques]
        lookup = pa.array([None if p is None else (p - dt.date(1970, 1, 1)).days for p in parsed], pa.int32())
        values = pc.cast(pc.take(lookup, encoded.indices), pa.date32())
        rule, reason = "invalid_date", "is not a calendar date written YYYY-MM-DD"
    else:
        flags = [FLAGS.get(u.lower()) for u in uniques]
        values = pc.take(pa.array(flags, pa.bool_()), encoded.indices)
        rule, reason = "invalid_value", "is not true or false"
    bad = pc.and_(pc.is_null(values), pc.invert(empty))
    return values, _faults(text, bad, column, rule, reason)


def _all_numbers(text: pa.Array, empty: pa.Array) -> pa.Array | None:
    """The column as numbers if every filled cell is a finite one, in one pass of Arrow's parser; else None.

    Arrow's parser reads the dialect's numbers and, beyond them, only spellings of NaN
    and infinity (``tests/scoring/test_export.py`` checks this on random text), so a
    column it reads without NaN or infinity holds dialect numbers only. Any other column
    is judged cell by cell, which gives the same values and names the cells that are not.
    """
    try:
        values = pc.cast(pc.if_else(empty, pa.scalar(None, pa.string()), text), pa.float64())
    except pa.ArrowInvalid:
        return None
    return None if pc.any(pc.invert(pc.is_finite(values))).as_py() else values


def parse_day(text: str) -> dt.date | None:
    """A day written ``YYYY-MM-DD``, or None when it is not one (``2025-13-45``, ``2025-02-30``, ``20250401``)."""
    if not DAY.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _faults(text: pa.Array, bad: pa.Array, column: Column, rule: str, reason: str) -> pd.DataFrame | None:
    mask: NDArray[np.bool_] = bad.to_numpy(zero_copy_only=False)
    positions = np.flatnonzero(mask)
    if not len(positions):
        return None
    cells = pc.take(text, pa.array(positions)).to_pylist()
    return pd.DataFrame(
        {
            "position": positions.astype(np.int64),
            "column": column.name,
            "rule": rule,
            "reason": [f"{_cut(c)!r} {reason}" for c in cells],
        }
    )


def _cut(cell: str, limit: int = 40) -> str:
    """A cell as a message quotes it: at most ``limit`` characters."""
    return cell if len(cell) <= limit else cell[: limit - 1] + "…"


def write_csv_table(frame: pd.DataFrame, path: Path) -> None:
    """A frame in the export's CSV dialect: days as ``YYYY-MM-DD``, floats in their shortest exact form."""
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    for i, name in enumerate(arrow.column_names):
        array = arrow.column(i)
        if pa.types.is_dictionary(array.type):
            array = array.cast(array.type.value_type)
        if pa.types.is_timestamp(array.type):
            array = pc.cast(array, pa.date32(), safe=False)  # a record is for its calendar day
        arrow = arrow.set_column(i, name, array)
    pa_csv.write_csv(arrow, path, write_options=pa_csv.WriteOptions(quoting_style="needed"))
