"""The platform export on disk: CSV and Parquet read back as the same window; malformed exports are refused.

Hole 9 of "Security and reliability": every case below ended in a Python traceback, or
passed silently, before the export reader and the structural checks existed. Each is
now either refused (a :class:`DataFormatError` naming the file, the row or column, and
the reason) or a documented per-record rejection listed in the validation report.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from scoring.csv_dialect import NUMBER
from scoring.errors import (
    DataFormatError,
    ExportColumnsInvalid,
    ExportEmpty,
    ExportFileUnreadable,
    ExportFormatUnknown,
    ExportValueInvalid,
    ManifestInvalid,
)
from scoring.features import build_features
from scoring.synth import PlatformData, generate_farmers, generate_merchants, inject_defects, read_platform_data
from scoring.validate import RULES, validate
from scoring.validation_report import validation_report

N = 30
FAKE_HASH = bytes(range(32))


@pytest.fixture(scope="module")
def merchants() -> PlatformData:
    return generate_merchants(N, seed=31, new_merchant_share=0.0)


@pytest.fixture(scope="module")
def farmers() -> PlatformData:
    return generate_farmers(N, seed=32, new_farmer_share=0.0)


def _report(data: PlatformData) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(validation_report(data, validate(data), FAKE_HASH))
    return result


# -- CSV and Parquet are the same window as the data in memory ---------------------------------


@pytest.mark.parametrize("segment", ["merchant", "farmer"])
@pytest.mark.parametrize("dirty", [False, True], ids=["clean", "dirty"])
def test_csv_and_parquet_give_the_features_and_report_of_memory(
    tmp_path: Path, merchants: PlatformData, farmers: PlatformData, segment: str, dirty: bool
) -> None:
    data = merchants if segment == "merchant" else farmers
    if dirty:
        data = inject_defects(data, seed=4, rate=0.03)
    memory = build_features(data, validate(data))
    for fmt in ("parquet", "csv"):
        back = read_platform_data(data.write(tmp_path / fmt, fmt))
        assert back.files["daily"].endswith(f"daily.{fmt}")
        pd.testing.assert_frame_equal(build_features(back, validate(back)), memory)
        # the same records give the same report, byte for byte, whatever the file format
        assert validation_report(back, validate(back), FAKE_HASH) == validation_report(data, validate(data), FAKE_HASH)


def test_the_csv_dialect(tmp_path: Path, merchants: PlatformData) -> None:
    """UTF-8, a header row, ISO days, '.' decimals, empty for missing; quoted fields and a BOM are read."""
    path = merchants.write(tmp_path / "e", "csv")
    text = (path / "daily.csv").read_text(encoding="utf-8")
    header, first = text.splitlines()[:2]
    assert header.split(",")[:3] == ['"merchant_id"', '"date"', '"orders"']
    assert first.split(",")[1] == merchants.window_start.isoformat()
    manifest = json.loads((path / "manifest.json").read_text())
    assert (manifest["format"], manifest["table_format"]) == ("credit-ledger-platform-export/2", "csv")
    assert manifest["files"] == {"entities": "entities.csv", "daily": "daily.csv"}
    # a spreadsheet's byte-order mark and a quoted id with a comma and a line break are fine
    entities = (path / "entities.csv").read_text(encoding="utf-8")
    (path / "entities.csv").write_text("\ufeff" + entities.replace('"M00000001"', '"M,0\n1"'), encoding="utf-8")
    daily = text.replace('"M00000001"', '"M,0\n1"')
    (path / "daily.csv").write_text(daily, encoding="utf-8")
    back = read_platform_data(path)
    assert "M,0\n1" in set(back.entities["merchant_id"]) and validate(back).summary.get("unknown_entity", 0) == 0


def test_version_1_archives_are_still_read(tmp_path: Path, merchants: PlatformData) -> None:
    path = merchants.write(tmp_path / "v1")
    manifest = json.loads((path / "manifest.json").read_text())
    for key in ("table_format", "files"):
        del manifest[key]
    manifest["format"] = "credit-ledger-platform-export/1"
    (path / "manifest.json").write_text(json.dumps(manifest))
    pd.testing.assert_frame_equal(build_features(read_platform_data(path)), build_features(merchants))


# -- refused: the whole export -----------------------------------------------------------------


def _manifest(edit: Callable[[dict[str, Any]], object]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        manifest = json.loads((path / "manifest.json").read_text())
        edit(manifest)
        (path / "manifest.json").write_text(json.dumps(manifest))

    return apply


def _csv(name: str, edit: Callable[[list[list[str]]], object]) -> Callable[[Path], None]:
    """Edit a CSV table as rows of cells (``rows[0]`` is the header, ``rows[k - 1]`` spreadsheet row k)."""

    def apply(path: Path) -> None:
        rows = list(csv.reader(io.StringIO((path / name).read_text(encoding="utf-8"))))
        edit(rows)
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        (path / name).write_text(out.getvalue(), encoding="utf-8")

    return apply


def _parquet(name: str, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        edit(pd.read_parquet(path / name)).to_parquet(path / name, index=False)

    return apply


def _column(rows: list[list[str]], name: str) -> int:
    return rows[0].index(name)


def _set(rows: list[list[str]], row: int, name: str, value: str) -> None:
    rows[row - 1][_column(rows, name)] = value


def _drop_column(rows: list[list[str]], name: str) -> None:
    k = _column(rows, name)
    for r in rows:
        del r[k]


def _write(path: Path, name: str, data: bytes) -> None:
    (path / name).write_bytes(data)


def _truncate(path: Path) -> None:
    raw = (path / "daily.parquet").read_bytes()
    (path / "daily.parquet").write_bytes(raw[: len(raw) // 2])


def _csv_as_parquet(path: Path) -> None:
    """A v1 (Parquet) export whose daily.parquet is really a CSV file."""
    frame = pd.read_parquet(path / "daily.parquet")
    (path / "daily.parquet").write_text(frame.to_csv(index=False))


def _all_out_of_window(rows: list[list[str]]) -> None:
    k = _column(rows, "date")
    for r in rows[1:]:
        r[k] = "2024-01-01"


def _no_orders(rows: list[list[str]]) -> None:
    k = _column(rows, "orders")
    for r in rows[1:]:
        r[k] = ""


# (id, table format, edit, error class, code, file, row, column, words in the reason)
REFUSED: list[
    tuple[str, str, Callable[[Path], object], type[DataFormatError], str, str, int | None, str | None, str]
] = [
    (
        "manifest not JSON",
        "csv",
        lambda p: _write(p, "manifest.json", b'{"format": '),
        ManifestInvalid,
        "export_manifest_invalid",
        "manifest.json",
        None,
        None,
        "is not JSON",
    ),
    (
        "manifest missing",
        "csv",
        lambda p: (p / "manifest.json").unlink(),
        ManifestInvalid,
        "export_manifest_invalid",
        "manifest.json",
        None,
        None,
        "is missing",
    ),
    (
        "manifest a list",
        "csv",
        lambda p: _write(p, "manifest.json", b"[]"),
        ManifestInvalid,
        "export_manifest_invalid",
        "manifest.json",
        None,
        None,
        "not an object",
    ),
    (
        "no window_end",
        "csv",
        _manifest(lambda m: m.pop("window_end")),
        ManifestInvalid,
        "export_manifest_invalid",
        "manifest.json",
        None,
        "window_end",
        "is missing",
    ),
    (
        "date 2025-13-45",
        "csv",
        _manifest(lambda m: m.update(window_end="2025-13-45")),
        ManifestInvalid,
        "export_manifest_invalid",
        "manifest.json",
        None,
        "window_end",
        "'2025-13-45' is not a calendar date",
    ),
    (
        "date not ISO",
        "parquet",
        _manifest(lambda m: m.update(window_start="01/04/2025")),
        ManifestInvalid,
        "export_manifest_invalid",
        "manifest.json",
        None,
        "window_start",
        "YYYY-MM-DD",
    ),
    (
        "reversed window",
        "csv",
        _manifest(lambda m: m.update(window_start="2025-06-01")),
        ManifestInvalid,
        "export_manifest_invalid",
        "manifest.json",
        None,
        None,
        "reversed",
    ),
    (
        "window of years",
        "csv",
        _manifest(lambda m: m.update(window_start="2020-01-01")),
        ManifestInvalid,
        "export_manifest_invalid",
        "manifest.json",
        None,
        None,
        "at most 366",
    ),
    (
        "unknown format",
        "csv",
        _manifest(lambda m: m.update(format="acme-export")),
        ExportFormatUnknown,
        "export_format_unknown",
        "manifest.json",
        None,
        "format",
        "'acme-export'",
    ),
    (
        "unknown version",
        "parquet",
        _manifest(lambda m: m.update(format="credit-ledger-platform-export/3")),
        ExportFormatUnknown,
        "export_format_unknown",
        "manifest.json",
        None,
        "format",
        "/3",
    ),
    (
        "unknown table format",
        "csv",
        _manifest(lambda m: m.update(table_format="xlsx")),
        ExportFormatUnknown,
        "export_format_unknown",
        "manifest.json",
        None,
        "table_format",
        "'xlsx'",
    ),
    (
        "unknown segment",
        "csv",
        _manifest(lambda m: m.update(segment="fisher")),
        ManifestInvalid,
        "export_manifest_invalid",
        "manifest.json",
        None,
        "segment",
        "unknown segment 'fisher'",
    ),
    (
        "unknown manifest field",
        "csv",
        _manifest(lambda m: m.update(exported_by="etl")),
        ManifestInvalid,
        "export_manifest_invalid",
        "manifest.json",
        None,
        "exported_by",
        "is not a field of the manifest",
    ),
    (
        "file outside the export",
        "csv",
        _manifest(lambda m: m["files"].update(daily="../daily.csv")),
        ManifestInvalid,
        "export_manifest_invalid",
        "manifest.json",
        None,
        "files",
        "not a file name",
    ),
    (
        "csv named .parquet in manifest",
        "csv",
        _manifest(lambda m: m["files"].update(daily="daily.parquet")),
        ManifestInvalid,
        "export_manifest_invalid",
        "manifest.json",
        None,
        "files",
        "does not end in .csv",
    ),
    (
        "daily file missing",
        "csv",
        lambda p: (p / "daily.csv").unlink(),
        ExportFileUnreadable,
        "export_file_missing",
        "daily.csv",
        None,
        None,
        "is missing",
    ),
    (
        "truncated Parquet",
        "parquet",
        _truncate,
        ExportFileUnreadable,
        "export_file_unreadable",
        "daily.parquet",
        None,
        None,
        "truncated or corrupt",
    ),
    (
        "a CSV named .parquet",
        "parquet",
        _csv_as_parquet,
        ExportFileUnreadable,
        "export_file_unreadable",
        "daily.parquet",
        None,
        None,
        "looks like text",
    ),
    (
        "CSV not UTF-8",
        "csv",
        lambda p: _write(p, "daily.csv", (p / "daily.csv").read_bytes().replace(b"M00000003", b"M\xff0000003", 1)),
        ExportFileUnreadable,
        "export_file_unreadable",
        "daily.csv",
        182,
        None,
        "not UTF-8",
    ),
    (
        "CSV row with a field missing",
        "csv",
        _csv("daily.csv", lambda rows: rows[6].pop()),
        ExportFileUnreadable,
        "export_file_unreadable",
        "daily.csv",
        7,
        None,
        "has 15 fields, the header 16",
    ),
    (
        "CSV empty file",
        "csv",
        lambda p: _write(p, "daily.csv", b""),
        ExportFileUnreadable,
        "export_file_unreadable",
        "daily.csv",
        None,
        None,
        "is empty",
    ),
    (
        "entities without region (csv)",
        "csv",
        _csv("entities.csv", lambda rows: _drop_column(rows, "region")),
        ExportColumnsInvalid,
        "export_columns_invalid",
        "entities.csv",
        None,
        None,
        "missing column region",
    ),
    (
        "entities without region (parquet)",
        "parquet",
        _parquet("entities.parquet", lambda f: f.drop(columns="region")),
        ExportColumnsInvalid,
        "export_columns_invalid",
        "entities.parquet",
        None,
        None,
        "missing column region",
    ),
    (
        "an unknown column",
        "parquet",
        _parquet("daily.parquet", lambda f: f.assign(revenue=1.0)),
        ExportColumnsInvalid,
        "export_columns_invalid",
        "daily.parquet",
        None,
        None,
        "unknown column revenue",
    ),
    (
        "a column twice",
        "csv",
        _csv("daily.csv", lambda rows: rows[0].__setitem__(3, "orders")),
        ExportColumnsInvalid,
        "export_columns_invalid",
        "daily.csv",
        None,
        "orders",
        "appears twice",
    ),
    (
        "numbers stored as strings",
        "parquet",
        _parquet("daily.parquet", lambda f: f.assign(orders=f["orders"].astype(str))),
        ExportColumnsInvalid,
        "export_columns_invalid",
        "daily.parquet",
        None,
        "orders",
        "stored as strings",
    ),
    (
        "dates stored as strings",
        "parquet",
        _parquet("daily.parquet", lambda f: f.assign(date=f["date"].dt.strftime("%Y-%m-%d"))),
        ExportColumnsInvalid,
        "export_columns_invalid",
        "daily.parquet",
        None,
        "date",
        "stored as strings",
    ),
    (
        "dates in a time zone",
        "parquet",
        _parquet("daily.parquet", lambda f: f.assign(date=f["date"].dt.tz_localize("Asia/Shanghai"))),
        ExportColumnsInvalid,
        "export_columns_invalid",
        "daily.parquet",
        None,
        "date",
        "time zone",
    ),
    (
        "an entity without region",
        "csv",
        _csv("entities.csv", lambda rows: _set(rows, 5, "region", "")),
        ExportValueInvalid,
        "export_value_invalid",
        "entities.csv",
        5,
        "region",
        "is empty",
    ),
    (
        "duplicate entity rows",
        "csv",
        _csv("entities.csv", lambda rows: rows.append(list(rows[3]))),
        ExportValueInvalid,
        "export_value_invalid",
        "entities.csv",
        N + 2,
        "merchant_id",
        "'M00000002' appears twice (rows 4 and 32)",
    ),
    (
        "an entity's date not a day",
        "csv",
        _csv("entities.csv", lambda rows: _set(rows, 3, "onboarded_date", "2025-02-30")),
        ExportValueInvalid,
        "export_value_invalid",
        "entities.csv",
        3,
        "onboarded_date",
        "'2025-02-30' is not a calendar date",
    ),
    (
        "zero entities",
        "csv",
        _csv("entities.csv", lambda rows: rows.__delitem__(slice(1, None))),
        ExportEmpty,
        "export_empty",
        "entities.csv",
        None,
        None,
        "no entities",
    ),
    (
        "an empty daily file",
        "csv",
        _csv("daily.csv", lambda rows: rows.__delitem__(slice(1, None))),
        ExportEmpty,
        "export_empty",
        "daily.csv",
        None,
        None,
        "no daily records",
    ),
    (
        "every date outside the window",
        "csv",
        _csv("daily.csv", _all_out_of_window),
        ExportEmpty,
        "export_empty",
        "daily.csv",
        None,
        None,
        f"all {N * 60:,} rejected (out_of_window {N * 60:,})",
    ),
    (
        "every orders missing",
        "csv",
        _csv("daily.csv", _no_orders),
        ExportEmpty,
        "export_empty",
        "daily.csv",
        None,
        None,
        "missing_orders",
    ),
    (
        "every orders NaN (parquet)",
        "parquet",
        _parquet("daily.parquet", lambda f: f.assign(orders=np.nan)),
        ExportEmpty,
        "export_empty",
        "daily.parquet",
        None,
        None,
        "missing_orders",
    ),
]


@pytest.mark.parametrize(
    ("fmt", "edit", "error", "code", "file", "row", "column", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in REFUSED],
)
def test_a_malformed_export_is_refused_naming_file_row_column(
    tmp_path: Path,
    merchants: PlatformData,
    fmt: str,
    edit: Callable[[Path], object],
    error: type[DataFormatError],
    code: str,
    file: str,
    row: int | None,
    column: str | None,
    words: str,
) -> None:
    path = merchants.write(tmp_path / "export", fmt)
    edit(path)
    with pytest.raises(error) as raised:
        validate(read_platform_data(path))
    exc = raised.value
    assert (exc.code, exc.exit_code) == (code, 2)
    assert exc.file == str(path / file)
    assert (exc.row, exc.column) == (row, column)
    assert words in exc.reason
    assert exc.message.startswith(str(path / file)) and exc.hint  # what the CLI prints, with its hint


def test_a_csv_named_parquet_in_a_version_1_export(tmp_path: Path, merchants: PlatformData) -> None:
    path = merchants.write(tmp_path / "export")
    _manifest(lambda m: [m.pop("files"), m.pop("table_format"), m.update(format="credit-ledger-platform-export/1")])(
        path
    )
    _csv_as_parquet(path)
    with pytest.raises(ExportFileUnreadable, match=r"daily\.parquet: is not a Parquet file.*looks like text"):
        read_platform_data(path)


@pytest.mark.parametrize(
    ("edit", "column", "row", "words"),
    [
        pytest.param(
            _csv("entities.csv", lambda r: _set(r, 4, "crop_count", "2.5")),
            "crop_count",
            4,
            "2.5 is not a whole number",
            id="fractional",
        ),
        pytest.param(
            _csv("entities.csv", lambda r: _set(r, 6, "planted_area_mu", "1e300")),
            "planted_area_mu",
            6,
            "above its bound",
            id="absurd",
        ),
        pytest.param(
            _csv("entities.csv", lambda r: _set(r, 2, "output_value_y3", "1e400")),
            "output_value_y3",
            2,
            "not a finite number",
            id="infinite",
        ),
        pytest.param(
            _csv("entities.csv", lambda r: _set(r, 3, "coop_member", "maybe")),
            "coop_member",
            3,
            "'maybe' is not true or false",
            id="flag",
        ),
        pytest.param(
            _csv("entities.csv", lambda r: _set(r, 9, "planted_area_mu", "-3")),
            "planted_area_mu",
            9,
            "is negative",
            id="negative",
        ),
    ],
)
def test_farmer_entities_are_master_data(
    tmp_path: Path, farmers: PlatformData, edit: Callable[[Path], object], column: str, row: int, words: str
) -> None:
    path = farmers.write(tmp_path / "export", "csv")
    edit(path)
    with pytest.raises(ExportValueInvalid) as raised:
        read_platform_data(path)
    assert (raised.value.file, raised.value.row, raised.value.column) == (str(path / "entities.csv"), row, column)
    assert words in raised.value.reason


# -- rejected: one record, with its reason in the report ----------------------------------------

ROW = 65  # spreadsheet row 65 = record 63: merchant M00000001's fourth day


def _cell(name: str, value: str) -> Callable[[Path], None]:
    return _csv("daily.csv", lambda rows: _set(rows, ROW, name, value))


def _value(name: str, value: float) -> Callable[[Path], None]:
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame[name] = frame[name].astype("float64")
        frame.loc[ROW - 2, name] = value
        return frame

    return _parquet("daily.parquet", edit)


REJECTED = [
    (
        "infinite revenue (csv)",
        "csv",
        _cell("revenue_cny", "1e400"),
        "invalid_value",
        "revenue_cny",
        "inf is not a finite number",
    ),
    (
        "infinite revenue (parquet)",
        "parquet",
        _value("revenue_cny", np.inf),
        "invalid_value",
        "revenue_cny",
        "inf is not a finite number",
    ),
    (
        "10^15 orders a day",
        "parquet",
        _value("orders", 1e15),
        "out_of_bounds",
        "orders",
        "1000000000000000.0 is above its bound 1,000,000",
    ),
    ("fractional orders", "csv", _cell("orders", "2.5"), "invalid_value", "orders", "2.5 is not a whole number"),
    (
        "a number stored as text",
        "csv",
        _cell("revenue_cny", "12,5"),
        "invalid_value",
        "revenue_cny",
        "'12,5' is not a number",
    ),
    ("infinity written out", "csv", _cell("orders", "inf"), "invalid_value", "orders", "'inf' is not a number"),
    (
        "a date that is not a day",
        "csv",
        _cell("date", "2025-13-45"),
        "invalid_date",
        "date",
        "'2025-13-45' is not a calendar date",
    ),
    (
        "a flag that is not a flag",
        "csv",
        _cell("promo_day", "yes"),
        "invalid_value",
        "promo_day",
        "'yes' is not true or false",
    ),
    (
        "a date outside the window",
        "csv",
        _cell("date", "2024-12-31"),
        "out_of_window",
        "date",
        "2024-12-31 is outside the window",
    ),
    ("a negative count", "csv", _cell("customers", "-4"), "negative_value", "customers", "-4.0 is negative"),
    ("orders missing", "csv", _cell("orders", ""), "missing_orders", "orders", "is empty"),
]


@pytest.mark.parametrize(("fmt", "edit", "rule", "column", "words"), [pytest.param(*c[1:], id=c[0]) for c in REJECTED])
def test_a_bad_record_is_rejected_with_its_reason(
    tmp_path: Path,
    merchants: PlatformData,
    fmt: str,
    edit: Callable[[Path], object],
    rule: str,
    column: str,
    words: str,
) -> None:
    path = merchants.write(tmp_path / "export", fmt)
    edit(path)
    data = read_platform_data(path)
    report = _report(data)
    assert report["records"] == {"input": N * 60, "accepted": N * 60 - 1, "rejected": 1, "repaired": 0}
    assert report["rules"][rule] == {"action": "reject", "records": 1}
    (entry,) = report["rejected"]
    assert (entry["row"], entry["rule"], entry["column"]) == (ROW, rule, column)
    assert "merchant_id" not in entry and "M00000001" not in json.dumps(report)  # platform ids stay private
    assert words in entry["reason"]
    # the bad day is a gap: the merchant's features are those of the export without that record
    without = PlatformData(
        merchants.segment,
        merchants.entities,
        merchants.daily.drop(index=ROW - 2),
        merchants.window_start,
        merchants.window_end,
    )
    mine, theirs = build_features(data).loc[["M00000001"]], build_features(without).loc[["M00000001"]]
    assert mine.pop("rejected_records").item() == 1 and theirs.pop("rejected_records").item() == 0
    pd.testing.assert_frame_equal(mine, theirs)


def test_rules_are_the_same_for_data_in_memory(merchants: PlatformData) -> None:
    """Infinite revenue and absurd orders in memory (a window cut from stored records) are rejected alike."""
    daily = merchants.daily.copy()
    daily["revenue_cny"] = daily["revenue_cny"].astype(float)
    daily["orders"] = daily["orders"].astype(float)
    daily.loc[10, "revenue_cny"] = np.inf
    daily.loc[11, "orders"] = 1e15
    daily.loc[12, "orders"] = 3.5
    data = PlatformData("merchant", merchants.entities, daily, merchants.window_start, merchants.window_end)
    report = _report(data)
    assert [(e["row"], e["rule"], e["column"]) for e in report["rejected"]] == [
        (12, "invalid_value", "revenue_cny"),
        (13, "out_of_bounds", "orders"),
        (14, "invalid_value", "orders"),
    ]
    monthly = build_features(data)["monthly_revenue_cny"]
    assert np.isfinite(monthly).all()


def test_report_is_canonical_and_counts_every_rule(merchants: PlatformData) -> None:
    data = inject_defects(merchants, seed=3, rate=0.05)
    raw = validation_report(data, validate(data), FAKE_HASH)
    report = json.loads(raw)
    assert raw == json.dumps(report, sort_keys=True, separators=(",", ":")).encode()
    assert report["export_hash"] == FAKE_HASH.hex() and set(report["rules"]) == set(RULES)
    records = report["records"]
    assert records["accepted"] + records["rejected"] + report["rules"]["duplicate"]["records"] == records["input"]
    assert records["rejected"] == sum(v["records"] for v in report["rules"].values() if v["action"] == "reject")
    assert [e["row"] for e in report["rejected"]] == sorted(e["row"] for e in report["rejected"])


# -- hypothesis: no corruption of a CSV export ends in a traceback ------------------------------

CELLS = st.sampled_from(
    ["", "abc", "1e400", "-1", "2.5", "0", "1e15", "2025-13-45", "2025-04-02", "M00000007", "true", "∞", '"', ",", "\n"]
)


@st.composite
def corruptions(draw: st.DrawFn) -> tuple[str, str, int, int, str]:
    """(file, operation, row, column, text): one change to one file of the export."""
    file = draw(st.sampled_from(["daily.csv", "daily.csv", "daily.csv", "entities.csv", "manifest.json"]))
    operation = draw(st.sampled_from(["cell", "cell", "cell", "header", "drop_row", "repeat_row", "truncate", "bytes"]))
    return file, operation, draw(st.integers(0, 2000)), draw(st.integers(0, 20)), draw(CELLS)


def _corrupt(path: Path, file: str, operation: str, row: int, column: int, text: str) -> None:
    target = path / file
    if operation in ("truncate", "bytes") or file == "manifest.json":
        raw = target.read_bytes()
        at = row % (len(raw) + 1)
        if operation == "truncate":
            target.write_bytes(raw[:at])
        else:
            target.write_bytes(raw[:at] + text.encode() + raw[at + 1 :])
        return
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    r = row % len(rows)
    c = column % len(rows[0])
    if operation == "cell":
        rows[max(r, 1)][c] = text
    elif operation == "header":
        rows[0][c] = text
    elif operation == "drop_row":
        del rows[r]
    else:
        rows.insert(r, list(rows[max(r, 1)]))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    target.write_text(out.getvalue(), encoding="utf-8")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(change=corruptions())
def test_a_corrupted_csv_export_is_refused_or_reported(
    merchants: PlatformData, change: tuple[str, str, int, int, str]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = merchants.write(Path(tmp) / "export", "csv")
        _corrupt(path, *change)
        try:
            data = read_platform_data(path)
            result = validate(data)
        except DataFormatError as exc:
            assert exc.file is not None and Path(exc.file).parent == path, exc.message  # a file of the export
            assert exc.reason and exc.code.startswith("export_")
            event(f"refused: {exc.code}")
            return
        report = json.loads(validation_report(data, result, FAKE_HASH))
        records = report["records"]
        assert records["accepted"] > 0
        assert records["accepted"] + records["rejected"] + report["rules"]["duplicate"]["records"] == records["input"]
        event("reported: " + (", ".join(sorted({e["rule"] for e in report["rejected"]})) or "nothing rejected"))
        for entry in report["rejected"]:
            assert entry["rule"] in RULES and entry["column"] and entry["reason"] and entry["row"] >= 2


def test_a_parquet_column_of_nulls_is_missing_values(tmp_path: Path, merchants: PlatformData) -> None:
    """A column of nothing but nulls (Arrow type null) reads as missing values, judged by the rules."""
    path = merchants.write(tmp_path / "export")
    table = pq.read_table(path / "daily.parquet")
    index = table.column_names.index("review_count")
    table = table.set_column(index, "review_count", pa.nulls(table.num_rows))
    pq.write_table(table, path / "daily.parquet")
    report = _report(read_platform_data(path))
    assert report["rules"]["nan_measure"]["records"] == N * 60 and report["records"]["rejected"] == 0


def test_a_timestamp_is_its_calendar_day(tmp_path: Path, merchants: PlatformData) -> None:
    """A warehouse's timestamps at 15:00 are the same records as the days (not out of the window on the last day)."""
    path = merchants.write(tmp_path / "export")
    _parquet("daily.parquet", lambda f: f.assign(date=f["date"] + pd.Timedelta(hours=15)))(path)
    back = read_platform_data(path)
    assert _report(back)["records"]["rejected"] == 0
    pd.testing.assert_frame_equal(build_features(back), build_features(merchants))
    csv_copy = read_platform_data(back.write(tmp_path / "csv", "csv"))  # written as days
    pd.testing.assert_frame_equal(build_features(csv_copy), build_features(merchants))


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet="0123456789+-.eE xinfaINFAty,_", max_size=8))
def test_arrows_number_parser_takes_the_dialect_and_only_nan_and_infinity_beyond(text: str) -> None:
    """What the CSV reader's one-pass path relies on: a finite number from Arrow is a dialect number, and back."""
    try:
        value = pc.cast(pa.array([text]), pa.float64())[0].as_py()
    except pa.ArrowInvalid:
        value = None
    dialect = re.fullmatch(NUMBER, text) is not None
    if dialect:
        assert value is not None and value == float(text)
    elif value is not None:
        assert not math.isfinite(value), f"Arrow reads {text!r} as {value!r}, the dialect does not"
