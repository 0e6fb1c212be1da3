"""Export benchmark: writing, reading and validating a platform export, Parquet against CSV.

Run: ``python bench/export_bench.py [--n 100000] [--dirty]``.

For N synthetic merchants x 60 days: ``validate`` on the data in memory (the in-memory
path's cost, the baseline), then per table format: ``write_export``, the files' size,
``read_platform_data`` (parse + structural checks), ``validate`` of what was read,
``validation_report``, and ``sources.platform.check_export`` end to end (copy into the
archive's staging area + hash + read + validate + report + adopt). ``--dirty`` injects
the generator's export faults (gaps, duplicates, NaNs, negative refunds) at 1%.
Prints one table: wall and CPU seconds and records per second.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scoring.export import read_platform_data, write_export
from scoring.synth import generate_merchants, inject_defects
from scoring.validate import validate
from scoring.validation_report import validation_report
from sources.exports import ExportArchive
from sources.platform import check_export


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="merchants (60 daily records each)")
    ap.add_argument("--dirty", action="store_true", help="inject the generator's export faults at 1%%")
    args = ap.parse_args()
    data = generate_merchants(args.n, seed=2026)
    if args.dirty:
        data = inject_defects(data, seed=7, rate=0.01)
    records = len(data.daily)
    rows: list[tuple[str, float, float, str]] = []

    def add(what: str, wall: float, cpu: float, note: str = "") -> None:
        rows.append((what, wall, cpu, note))

    wall, cpu, result = timed(lambda: validate(data))
    add("validate, data in memory", wall, cpu, f"{result.summary['accepted_records']:,} accepted")
    with tempfile.TemporaryDirectory(prefix="credit-ledger-export-bench-") as tmp:
        root = Path(tmp)
        for fmt in ("parquet", "csv"):
            wall, cpu, path = timed(lambda fmt=fmt: write_export(data, root / fmt, fmt))
            size = sum(p.stat().st_size for p in path.iterdir() if p.name != "truth.parquet")
            add(f"{fmt}: write_export", wall, cpu, f"{size / 1e6:,.1f} MB")
            wall, cpu, back = timed(lambda path=path: read_platform_data(path))
            add(f"{fmt}: read_platform_data (parse + structure)", wall, cpu)
            wall, cpu, result = timed(lambda back=back: validate(back))
            add(f"{fmt}: validate", wall, cpu, f"{len(result.issues):,} issues")
            wall, cpu, report = timed(lambda back=back, result=result: validation_report(back, result, bytes(32)))
            add(f"{fmt}: validation_report", wall, cpu, f"{len(report) / 1e3:,.1f} kB")
            archive = ExportArchive(root / f"archive-{fmt}")
            wall, cpu, _ = timed(lambda path=path, archive=archive: check_export(path, archive))
            add(f"{fmt}: check_export (copy, hash, read, validate, report, archive)", wall, cpu)

    print(
        f"\nExport of {args.n:,} merchants x 60 days = {records:,} daily records{' (dirty, 1%)' if args.dirty else ''}"
    )
    width = 66
    print(f"{'step':<{width}} {'wall s':>8} {'cpu s':>8} {'records/s':>12}  note")
    print("-" * (width + 48))
    for what, wall, cpu, note in rows:
        print(f"{what:<{width}} {wall:8.2f} {cpu:8.2f} {records / wall:12,.0f}  {note}")


if __name__ == "__main__":
    main()
