"""The platform export on disk: ``manifest.json`` and two tables, Parquet or CSV.

:func:`read_platform_data` reads an export directory into a :class:`PlatformData` and
refuses a structurally bad one with a :class:`~scoring.errors.DataFormatError` naming
the file, the row or column, and the reason; :func:`write_export` writes one. The
format is ``scoring/DATA_FORMAT.md``; the columns, kinds and bounds are
:mod:`scoring.tables`.

What is refused here (the whole export): a manifest that is missing, not JSON, of an
unknown format or version, or with a field missing or malformed; a table file that is
missing, truncated, not of its format, or not UTF-8; a CSV row with the wrong number
of fields; a missing, repeated or unknown column; a Parquet column of the wrong type
(numbers or dates stored as text); any fault in the entities table. Daily cells the
reader cannot parse (a CSV cell that is not a number, a date that is not a calendar
day) are not refused: they are listed in ``PlatformData.faults`` and validation
rejects those records, with their reason.

The CSV dialect: UTF-8 (a leading byte-order mark is skipped), comma-separated, one
header row naming the columns, fields quoted with ``"`` when needed (RFC 4180: a
quote inside is doubled, a quoted field may span lines), dates ``YYYY-MM-DD``,
numbers with ``.`` as the decimal point and no thousands separator or spaces
(``12``, ``-3.5``, ``1e6``), flags ``true``/``false`` (or ``1``/``0``, any case), and
an empty field for a missing value.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from numpy.typing import NDArray

from scoring.errors import (
    ExportColumnsInvalid,
    ExportFileUnreadable,
    ExportFormatUnknown,
    ExportValueInvalid,
    ManifestInvalid,
)
from scoring.platform import PlatformData
from scoring.tables import Column, check_columns, check_tables, check_window, spreadsheet_row, table_columns

__all__ = [
    "FORMAT",
    "FORMAT_V1",
    "MANIFEST_NAME",
    "TABLE_FORMATS",
    "Manifest",
    "read_manifest",
    "read_platform_data",
    "write_export",
]

#: The manifest's ``format``: this version names its table format and files.
FORMAT = "credit-ledger-platform-export/2"
#: The first version (Parquet, ``entities.parquet`` and ``daily.parquet``): still read, never written.
FORMAT_V1 = "credit-ledger-platform-export/1"
#: Table formats and the file-name ending each requires.
TABLE_FORMATS: dict[str, str] = {"parquet": ".parquet", "csv": ".csv"}
MANIFEST_NAME = "manifest.json"
#: The generator's hidden outcomes: synthetic exports only, never read by scoring, never archived.
TRUTH_NAME = "truth.parquet"
#: A manifest is a few hundred bytes; anything this large is not one.
MAX_MANIFEST_BYTES = 1 << 20

_REQUIRED = {
    FORMAT: ("format", "segment", "window_start", "window_end", "table_format", "files"),
    FORMAT_V1: ("format", "segment", "window_start", "window_end"),
}
_OPTIONAL = ("meta",)
_TABLES = ("entities", "daily")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# A decimal number: optional sign, digits with an optional fraction (or a bare fraction), optional exponent.
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_FLAGS = {"true": True, "false": False, "1": True, "0": False}


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` says: format, segment, window, table format and the two table files."""

    format: str
    segment: str
    window_start: dt.date
    window_end: dt.date
    table_format: str
    files: dict[str, str]
    meta: dict[str, Any]


# --------------------------------------------------------------------------- manifest


def _day(raw: dict[str, Any], key: str, file: str) -> dt.date:
    value = raw[key]
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise ManifestInvalid(f"{value!r} is not a date written YYYY-MM-DD", file=file, column=key)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ManifestInvalid(f"{value!r} is not a calendar date", file=file, column=key) from None


def read_manifest(directory: str | Path, shown_as: str | Path | None = None) -> Manifest:
    """Read and check ``manifest.json`` of an export directory (``shown_as``: the name messages use)."""
    path = Path(directory) / MANIFEST_NAME
    file = str(Path(shown_as or directory) / MANIFEST_NAME)
    if not path.is_file():
        raise ManifestInvalid("is missing: this directory is not a platform export", file=file)
    data = path.read_bytes()
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestInvalid(f"is {len(data):,} bytes; a manifest is a small JSON object", file=file)
    try:
        raw = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ManifestInvalid(f"is not UTF-8 text (byte {exc.start})", file=file) from None
    except json.JSONDecodeError as exc:
        raise ManifestInvalid(f"is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", file=file) from None
    if not isinstance(raw, dict):
        raise ManifestInvalid(f"is a JSON {type(raw).__name__}, not an object", file=file)
    fmt = raw.get("format")
    if fmt not in _REQUIRED:
        raise ExportFormatUnknown(
            f"format {fmt!r} is not one this reader knows ({FORMAT}, or {FORMAT_V1})", file=file, column="format"
        )
    required = _REQUIRED[fmt]
    missing = [k for k in required if k not in raw]
    if missing:
        raise ManifestInvalid(
            "is missing" if len(missing) == 1 else f"is missing (and {', '.join(missing[1:])})",
            file=file,
            column=missing[0],
        )
    unknown = sorted(k for k in raw if k not in required and k not in _OPTIONAL)
    if unknown:
        raise ManifestInvalid(
            "is not a field of the manifest"
            + (f" (nor {', '.join(unknown[1:])})" if len(unknown) > 1 else "")
            + ": put extra facts under meta",
            file=file,
            column=unknown[0],
        )
    segment = raw["segment"]
    if not isinstance(segment, str):
        raise ManifestInvalid(f"{segment!r} is not a segment name", file=file, column="segment")
    start, end = _day(raw, "window_start", file), _day(raw, "window_end", file)
    check_window(segment, start, end, file)
    meta = raw.get("meta", {})
    if not isinstance(meta, dict):
        raise ManifestInvalid("is not a JSON object", file=file, column="meta")
    if fmt == FORMAT_V1:
        return Manifest(fmt, segment, start, end, "parquet", {t: f"{t}.parquet" for t in _TABLES}, meta)
    table_format = raw["table_format"]
    if table_format not in TABLE_FORMATS:
        raise ExportFormatUnknown(
            f"{table_format!r} is not a table format ({' or '.join(TABLE_FORMATS)})", file=file, column="table_format"
        )
    return Manifest(fmt, segment, start, end, table_format, _files(raw["files"], table_format, file), meta)


def _files(raw: Any, table_format: str, file: str) -> dict[str, str]:
    if not isinstance(raw, dict) or sorted(raw) != sorted(_TABLES):
        raise ManifestInvalid('must be {"entities": <file name>, "daily": <file name>}', file=file, column="files")
    ending = TABLE_FORMATS[table_format]
    for table, name in raw.items():
        if not isinstance(name, str) or not name or "/" in name or "\\" in name or name.startswith("."):
            raise ManifestInvalid(f"{name!r} is not a file name in the export directory", file=file, column="files")
        if not name.endswith(ending):
            raise ManifestInvalid(
                f"{table} file {name!r} does not end in {ending}, as a {table_format} table must",
                file=file,
                column="files",
            )
    if raw["entities"] == raw["daily"]:
        raise ManifestInvalid("names one file for both tables", file=file, column="files")
    return {t: raw[t] for t in _TABLES}


# --------------------------------------------------------------------------- reading


def read_platform_data(directory: str | Path, shown_as: str | Path | None = None) -> PlatformData:
    """Read an export directory (Parquet or CSV) and check its structure; see the module docstring.

    ``shown_as`` is the directory messages name (the oracle reads a staged copy of what
    the operator pointed it at). Returns the window with daily cells the reader could
    not parse in ``faults``; :func:`scoring.validate.validate` judges the records.
    """
    root = Path(directory)
    shown = Path(shown_as or directory)
    manifest = read_manifest(root, shown)
    files = {"manifest": str(shown / MANIFEST_NAME)} | {t: str(shown / manifest.files[t]) for t in _TABLES}
    frames: dict[str, pd.DataFrame] = {}
    faults: pd.DataFrame | None = None
    for table in _TABLES:
        path, file = root / manifest.files[table], files[table]
        if not path.is_file():
            raise ExportFileUnreadable("is missing (the manifest names it)", file=file, code="export_file_missing")
        if manifest.table_format == "parquet":
            frames[table] = _from_arrow(_read_parquet(path, file, manifest.segment, table), manifest.segment, table)
            continue
        frames[table], found = _read_csv(path, file, manifest.segment, table)
        if found is None:
            continue
        if table == "daily":
            faults = found  # judged record by record
            continue
        first = found.iloc[0]  # master data: the first unreadable cell refuses the export
        raise ExportValueInvalid(
            str(first["reason"]), file=file, row=spreadsheet_row(int(first["position"])), column=str(first["column"])
        )
    truth = _read_truth(root / TRUTH_NAME, str(shown / TRUTH_NAME))
    data = PlatformData(
        manifest.segment,
        frames["entities"],
        frames["daily"],
        manifest.window_start,
        manifest.window_end,
        truth,
        manifest.meta,
        files=files,
        faults=faults,
    )
    check_tables(data)
    return data


def _read_truth(path: Path, file: str) -> pd.DataFrame | None:
    """The generator's hidden outcomes, when a synthetic export carries them (training reads them)."""
    if not path.is_file():
        return None
    try:
        return pd.read_parquet(path)
    except (pa.ArrowException, OSError) as exc:
        raise ExportFileUnreadable(f"is not a readable Parquet file: {_first_line(exc)}", file=file) from None


def _read_parquet(path: Path, file: str, segment: str, table: str) -> pa.Table:
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != b"PAR1":
        looks = "it looks like text (a CSV export says so in its manifest: table_format csv, .csv names)"
        raise ExportFileUnreadable(
            "is not a Parquet file: it does not start with the PAR1 magic"
            + (f"; {looks}" if magic and all(32 <= b < 127 or b in (9, 10, 13) for b in magic) else ""),
            file=file,
        )
    try:
        arrow = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise ExportFileUnreadable(f"is truncated or corrupt: {_first_line(exc)}", file=file) from None
    check_columns(arrow.column_names, segment, table, file)
    for column in table_columns(segment, table):
        _check_arrow_type(arrow.schema.field(column.name).type, column, file)
    return arrow


def _first_line(exc: BaseException) -> str:
    """The reader's complaint, without the path it was given (a staged copy's, not the operator's)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return re.sub(r"^Could not open Parquet input source '[^']*': ", "", first)


def _check_arrow_type(kind: pa.DataType, column: Column, file: str) -> None:
    """A Parquet column's type can hold its kind: numbers are not text, dates not text either."""
    if pa.types.is_null(kind):  # every value missing: fine for the type, judged as values
        return
    value = kind.value_type if pa.types.is_dictionary(kind) else kind
    text = pa.types.is_string(value) or pa.types.is_large_string(value) or pa.types.is_string_view(value)
    if column.kind in ("id", "label"):
        ok, expected = text, "text"
    elif column.kind == "date":
        if pa.types.is_timestamp(value) and value.tz is not None:
            raise ExportColumnsInvalid(
                f"is a timestamp in time zone {value.tz}; a day has none (write a date or a naive timestamp)",
                file=file,
                column=column.name,
            )
        ok, expected = pa.types.is_timestamp(value) or pa.types.is_date(value), "a date or timestamp"
    elif column.kind == "flag":
        ok, expected = pa.types.is_boolean(value), "booleans"
    else:
        ok = pa.types.is_integer(value) or pa.types.is_floating(value) or pa.types.is_decimal(value)
        expected = "numbers (an integer, floating-point or decimal type)"
    if not ok:
        held = "text: numbers or dates stored as strings" if text else str(kind)
        raise ExportColumnsInvalid(f"holds {held}, expected {expected}", file=file, column=column.name)


def _from_arrow(arrow: pa.Table, segment: str, table: str) -> pd.DataFrame:
    """Typed Arrow columns as the frame validation reads, in the file's column order.

    Daily ids are categorical (they repeat), other text is text; dates are
    ``datetime64``; whole numbers without gaps ``int64`` and other numbers ``float64``
    (missing: NaN); flags ``bool`` (``object`` with None where missing).
    """
    n = arrow.num_rows
    kinds = {c.name: c for c in table_columns(segment, table)}
    out: dict[str, Any] = {}
    for column in (kinds[name] for name in arrow.column_names):  # the file's order
        chunks = arrow.column(column.name)
        if pa.types.is_dictionary(chunks.type):  # each chunk may carry its own dictionary
            chunks = pa.chunked_array([c.dictionary_decode() for c in chunks.chunks], chunks.type.value_type)
        array = chunks.combine_chunks()
        out[column.name] = _series(array, column, n, categorical=table == "daily")
    return pd.DataFrame(out)


def _series(array: pa.Array, column: Column, n: int, categorical: bool) -> Any:
    kind = column.kind
    if pa.types.is_null(array.type):  # a column of nothing but missing values
        if kind == "date":
            return np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")
        return np.full(n, np.nan) if kind in ("count", "number") else pd.Series([None] * n, dtype=object)
    if kind in ("id", "label"):
        if not categorical or column.kind != "id":
            return array.to_pandas()
        encoded = pc.dictionary_encode(array)
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        return pd.Categorical.from_codes(codes, categories=pd.Index(encoded.dictionary.to_pylist(), dtype=object))
    if kind == "date":
        if pa.types.is_date(array.type):
            array = pc.cast(array, pa.timestamp("s"))
        return array.to_pandas()
    if kind == "flag":
        return array.to_pandas()
    if pa.types.is_integer(array.type) and array.null_count == 0:
        return pc.cast(array, pa.int64()).to_numpy()
    return pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False)


def _read_csv(path: Path, file: str, segment: str, table: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """A CSV table as typed columns, with the cells that did not parse (see the module's dialect)."""
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
    frame = _from_arrow(pa.Table.from_arrays(typed, names=arrow.column_names), segment, table)
    if not found:
        return frame, None
    faults = pd.concat(found, ignore_index=True).sort_values(["position"], kind="stable").reset_index(drop=True)
    return frame, faults


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
    import codecs

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
        valid = pc.match_substring_regex(text, _NUMBER)
        values = pc.cast(pc.if_else(valid, text, pa.scalar(None, pa.string())), pa.float64())
        bad = pc.and_(pc.invert(valid), pc.invert(empty))
        return values, _faults(text, bad, column, "invalid_value", "is not a number")
    # dates and flags: few distinct values, each parsed once
    encoded = pc.dictionary_encode(text)
    uniques = encoded.dictionary.to_pylist()
    if column.kind == "date":
        parsed = [_parse_day(u) for u in uniques]
        lookup = pa.array([None if p is None else (p - dt.date(1970, 1, 1)).days for p in parsed], pa.int32())
        values = pc.cast(pc.take(lookup, encoded.indices), pa.date32())
        rule, reason = "invalid_date", "is not a calendar date written YYYY-MM-DD"
    else:
        flags = [_FLAGS.get(u.lower()) for u in uniques]
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


def _parse_day(text: str) -> dt.date | None:
    if not _DAY.fullmatch(text):
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


# --------------------------------------------------------------------------- writing


def write_export(data: PlatformData, directory: str | Path, table_format: str = "parquet") -> Path:
    """Write ``data`` as an export directory in ``table_format`` (``parquet`` or ``csv``); returns it.

    The tables are ``entities.<ext>`` and ``daily.<ext>``; the generator's truth, when
    there is one, goes to ``truth.parquet`` (not part of the format: never read by
    scoring, never archived). The manifest is JSON with sorted keys.
    """
    if table_format not in TABLE_FORMATS:
        raise ExportFormatUnknown(f"{table_format!r} is not a table format ({' or '.join(TABLE_FORMATS)})")
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    files = {t: f"{t}{TABLE_FORMATS[table_format]}" for t in _TABLES}
    for table, frame in (("entities", data.entities), ("daily", data.daily)):
        if table_format == "parquet":
            frame.to_parquet(path / files[table], index=False)
        else:
            _write_csv(frame, path / files[table])
    if data.truth is not None:
        data.truth.to_parquet(path / TRUTH_NAME, index=False)
    manifest = {
        "format": FORMAT,
        "segment": data.segment,
        "window_start": data.window_start.isoformat(),
        "window_end": data.window_end.isoformat(),
        "table_format": table_format,
        "files": files,
        "meta": data.meta,
    }
    (path / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return path


def _write_csv(frame: pd.DataFrame, path: Path) -> None:
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
