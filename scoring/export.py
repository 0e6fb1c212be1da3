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

The CSV dialect (UTF-8, a header row, ``YYYY-MM-DD`` days, ``.`` decimals, empty =
missing) is :mod:`scoring.csv_dialect`.
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
import pyarrow.parquet as pq

from scoring.csv_dialect import DAY, parse_day, read_csv_table, write_csv_table
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
    if not isinstance(value, str) or not DAY.fullmatch(value):
        raise ManifestInvalid(f"{value!r} is not a date written YYYY-MM-DD", file=file, column=key)
    day = parse_day(value)
    if day is None:
        raise ManifestInvalid(f"{value!r} is not a calendar date", file=file, column=key)
    return day


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
        typed, found = read_csv_table(path, file, manifest.segment, table)
        frames[table] = _from_arrow(typed, manifest.segment, table)
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
            write_csv_table(frame, path / files[table])
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
