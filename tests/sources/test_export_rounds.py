"""The platform's export is the input of record: real rounds from CSV and Parquet exports, on a real chain.

Three ledgers on one dedicated anvil node share the scoring model and the platform
secret (so merchant keys and salts agree); each scores the synthetic platform's first
week as its round 1: one in memory (``ScoringSource``), one from that week written as a
Parquet export, one from it written as CSV. The rounds must agree leaf for leaf, root
for root; only the export and its report's hash differ between the file formats.

Then ``credit-ledger oracle run-round --export`` against the CSV ledger: a good export is
scored and anchored, and every malformed export is refused with its message before
anything is written to the store, the archive or the documents.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from ledger_support import LedgerEnv, make_ledger_env, oracle_cli_environment, running_node
from typer.testing import CliRunner

from credit_ledger.oracle_cmd import oracle_app
from ledger import batchfile
from ledger.documents import DocumentStore, content_hash
from ledger.node import LocalNode
from ledger.store import Store
from oracle.service import RoundResult
from scoring.synth import PlatformData
from sources.exports import archive_in
from sources.platform import ExportSource, check_export

MERCHANTS = 120
runner = CliRunner()


@pytest.fixture(scope="module")
def export_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNode]:
    with running_node(tmp_path_factory.mktemp("export-anvil")) as node:
        yield node


@pytest.fixture(scope="module")
def ledgers(export_node: LocalNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LedgerEnv]]:
    """Three deployed ledgers (memory, parquet, csv) with one model, one policy and one platform secret."""
    first = make_ledger_env(tmp_path_factory.mktemp("memory"), export_node.url, merchants=MERCHANTS, rounds=0)
    envs = {"memory": first}
    for name in ("parquet", "csv"):
        home = tmp_path_factory.mktemp(name)
        shutil.copytree(first.settings.home / "scoring", home / "scoring")
        shutil.copyfile(first.settings.home / "platform-secret.key", home / "platform-secret.key")
        envs[name] = make_ledger_env(home, export_node.url, merchants=MERCHANTS, rounds=0)
    yield envs
    for env in envs.values():
        env.oracle.close()


@pytest.fixture(scope="module")
def week(ledgers: dict[str, LedgerEnv]) -> PlatformData:
    return ledgers["memory"].source.generate_week(0)


@pytest.fixture(scope="module")
def rounds(
    ledgers: dict[str, LedgerEnv], week: PlatformData, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, RoundResult]:
    out = {"memory": ledgers["memory"].oracle.run_round(ledgers["memory"].source)}
    for fmt in ("parquet", "csv"):
        env = ledgers[fmt]
        directory = week.write(tmp_path_factory.mktemp(f"{fmt}-export"), fmt)
        checked = check_export(directory, archive_in(env.settings.home))
        out[fmt] = env.oracle.run_round(ExportSource(env.source, checked))
    return out


def _batch(env: LedgerEnv, result: RoundResult) -> batchfile.Batch:
    return batchfile.from_bytes(DocumentStore(env.settings.documents_dir).get(result.batch_hash))


def test_csv_and_parquet_rounds_equal_the_in_memory_round_leaf_for_leaf(
    ledgers: dict[str, LedgerEnv], rounds: dict[str, RoundResult]
) -> None:
    leaves = {
        name: [row.to_leaf() for row in ledgers[name].store.decisions_in_round(r.round_id)]
        for name, r in rounds.items()
    }
    assert len(leaves["memory"]) == MERCHANTS
    assert leaves["parquet"] == leaves["memory"] and leaves["csv"] == leaves["memory"]
    assert {r.root for r in rounds.values()} == {rounds["memory"].root}
    for name, result in rounds.items():  # each root is the one anchored on its ledger's chain
        onchain = ledgers[name].contracts.ledger.functions.batch(result.round_id).call()
        assert bytes(onchain[0]) == result.root
    features = {
        name: [row.feature_bytes for row in ledgers[name].store.decisions_in_round(r.round_id)]
        for name, r in rounds.items()
    }
    assert features["csv"] == features["parquet"] == features["memory"]


def test_each_round_names_its_export_and_validation_report(
    ledgers: dict[str, LedgerEnv], rounds: dict[str, RoundResult], week: PlatformData
) -> None:
    metas = {name: _batch(ledgers[name], r).metadata for name, r in rounds.items()}
    # the in-memory round archived the same Parquet bytes as the Parquet export: same export, same report
    assert metas["memory"].export_hash == metas["parquet"].export_hash != metas["csv"].export_hash
    assert metas["memory"].validation_report_hash == metas["parquet"].validation_report_hash
    assert metas["csv"].validation_report_hash != metas["parquet"].validation_report_hash
    assert {m.as_of for m in metas.values()} == {week.window_end.isoformat()}
    reports = {}
    for name, result in rounds.items():
        env, meta = ledgers[name], metas[name]
        stored = env.store.get_round(result.round_id)
        export_hash = bytes.fromhex(meta.export_hash[2:])
        report_hash = bytes.fromhex(meta.validation_report_hash[2:])
        assert (stored.export_hash, stored.validation_report_hash) == (export_hash, report_hash)
        assert export_hash in archive_in(env.settings.home)  # archived first, so the round names it
        raw = DocumentStore(env.settings.documents_dir).get(report_hash)
        assert content_hash(raw) == report_hash
        reports[name] = json.loads(raw)
        assert reports[name]["export_hash"] == export_hash.hex()
        assert reports[name]["records"]["accepted"] == len(week.daily)
    # CSV and Parquet: the same validation, only the export differs
    assert {**reports["csv"], "export_hash": ""} == {**reports["parquet"], "export_hash": ""}


# -- the command line -------------------------------------------------------------------------


def _cli_env(env: LedgerEnv) -> dict[str, str]:
    settings = env.settings
    return {
        "CREDIT_LEDGER_HOME": str(settings.home),
        "CREDIT_LEDGER_RPC_URL": settings.rpc_url,
        "CREDIT_LEDGER_CHAIN_ID": "31337",
        "CREDIT_LEDGER_DATABASE_URL": settings.database_url,
    }


def _written(env: LedgerEnv) -> dict[str, Any]:
    """What a refused export must not change: rounds in the store, archived exports, documents."""
    home = env.settings.home
    with Store.open(env.settings.database_url) as store:
        rounds = [(r.round_id, r.status) for r in store.rounds()]
    return {
        "rounds": rounds,
        "exports": sorted(p.name for p in (home / "exports").iterdir()) if (home / "exports").exists() else [],
        "documents": sorted(p.name for p in env.settings.documents_dir.iterdir()),
    }


def test_run_round_scores_and_anchors_a_csv_export(
    ledgers: dict[str, LedgerEnv], rounds: dict[str, RoundResult], week: PlatformData, tmp_path: Path
) -> None:
    env = ledgers["csv"]
    directory = PlatformData(
        week.segment, week.entities, week.daily, week.window_start, week.window_end, meta={"platform": "acme"}
    ).write(tmp_path / "export", "csv")
    lines = (directory / "daily.csv").read_text().splitlines()
    fields = lines[5].split(",")  # spreadsheet row 6; ids and dates hold no commas
    fields[2] = '"12,5"'  # its orders written with a decimal comma
    lines[5] = ",".join(fields)
    (directory / "daily.csv").write_text("\n".join(lines) + "\n")
    result = runner.invoke(oracle_app, ["run-round", "--export", str(directory)], env=_cli_env(env))
    assert result.exit_code == 0, result.output
    assert f"{len(week.daily) - 1:,} of {len(week.daily):,} records accepted, 1 rejected" in result.output
    latest = env.store.latest_round()
    assert latest is not None and latest.round_id == rounds["csv"].round_id + 1 and latest.status == "confirmed"
    assert latest.export_hash is not None and latest.validation_report_hash is not None
    assert latest.export_hash.hex() in result.output
    report = json.loads(DocumentStore(env.settings.documents_dir).get(latest.validation_report_hash))
    assert [(e["row"], e["rule"], e["column"], e["reason"]) for e in report["rejected"]] == [
        (6, "invalid_value", "orders", "'12,5' is not a number")
    ]


def _manifest(edit: Callable[[dict[str, Any]], object]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        manifest = json.loads((path / "manifest.json").read_text())
        edit(manifest)
        (path / "manifest.json").write_text(json.dumps(manifest))

    return apply


def _frame(name: str, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    def apply(path: Path) -> None:
        edit(pd.read_parquet(path / name)).to_parquet(path / name, index=False)

    return apply


def _truncate(path: Path) -> None:
    raw = (path / "daily.parquet").read_bytes()
    (path / "daily.parquet").write_bytes(raw[: len(raw) // 2])


def _csv_as_parquet(path: Path) -> None:
    (path / "daily.parquet").write_text(pd.read_parquet(path / "daily.parquet").to_csv(index=False))


# Hole 9: each ended in a traceback or went through silently. (id, edit, code, the message's words)
MALFORMED = [
    (
        "manifest not JSON",
        lambda p: (p / "manifest.json").write_text("{'format': 1}"),
        "export_manifest_invalid",
        "manifest.json: is not JSON",
    ),
    (
        "no window_end",
        _manifest(lambda m: m.pop("window_end")),
        "export_manifest_invalid",
        "manifest.json: field window_end: is missing",
    ),
    (
        "date 2025-13-45",
        _manifest(lambda m: m.update(window_start="2025-13-45")),
        "export_manifest_invalid",
        "'2025-13-45' is not a calendar date",
    ),
    (
        "reversed window",
        _manifest(lambda m: m.update(window_start="2026-01-01")),
        "export_manifest_invalid",
        "the window is reversed",
    ),
    (
        "unchecked format",
        _manifest(lambda m: m.update(format="platform-dump/7")),
        "export_format_unknown",
        "format 'platform-dump/7'",
    ),
    (
        "entities without region",
        _frame("entities.parquet", lambda f: f.drop(columns="region")),
        "export_columns_invalid",
        "entities.parquet: missing column region",
    ),
    (
        "duplicate entity rows",
        _frame("entities.parquet", lambda f: pd.concat([f, f.iloc[[7]]])),
        "export_value_invalid",
        "'M00000007' appears twice (rows 9 and 122)",
    ),
    ("truncated Parquet", _truncate, "export_file_unreadable", "daily.parquet: is truncated or corrupt"),
    ("a CSV named .parquet", _csv_as_parquet, "export_file_unreadable", "daily.parquet: is not a Parquet file"),
    (
        "numbers stored as strings",
        _frame("daily.parquet", lambda f: f.assign(orders=f["orders"].astype(str))),
        "export_columns_invalid",
        "column orders: holds text",
    ),
    (
        "an empty daily file",
        _frame("daily.parquet", lambda f: f.iloc[:0]),
        "export_empty",
        "daily.parquet: no daily records",
    ),
    (
        "every date outside the window",
        _frame("daily.parquet", lambda f: f.assign(date=f["date"] - pd.Timedelta(days=400))),
        "export_empty",
        "out_of_window",
    ),
    (
        "every order NaN",
        _frame("daily.parquet", lambda f: f.assign(orders=float("nan"))),
        "export_empty",
        "missing_orders",
    ),
]


@pytest.mark.parametrize(("edit", "code", "words"), [pytest.param(*c[1:], id=c[0]) for c in MALFORMED])
def test_run_round_refuses_a_malformed_export_and_writes_nothing(
    ledgers: dict[str, LedgerEnv],
    rounds: dict[str, RoundResult],
    week: PlatformData,
    tmp_path: Path,
    edit: Callable[[Path], object],
    code: str,
    words: str,
) -> None:
    env = ledgers["parquet"]
    directory = week.write(tmp_path / "export")
    edit(directory)
    before = _written(env)
    result = runner.invoke(oracle_app, ["run-round", "--export", str(directory)], env=_cli_env(env))
    assert result.exit_code == 2, result.output
    assert f"error[{code}]: {directory}" in result.output and words in result.output
    assert result.output.count("hint: ") == 1
    assert _written(env) == before  # no round, no archived export, no document


def test_run_round_refuses_an_export_of_another_segment(
    ledgers: dict[str, LedgerEnv], rounds: dict[str, RoundResult], week: PlatformData, tmp_path: Path
) -> None:
    env = ledgers["parquet"]
    directory = week.write(tmp_path / "export")
    before = _written(env)
    result = runner.invoke(
        oracle_app, ["run-round", "--export", str(directory), "--segment", "farmer"], env=_cli_env(env)
    )
    assert result.exit_code == 2 and "error[segment_mismatch]" in result.output and "'merchant'" in result.output
    assert _written(env) == before


def test_the_real_command_prints_the_error_once_and_exits_2(
    ledgers: dict[str, LedgerEnv], rounds: dict[str, RoundResult], week: PlatformData, tmp_path: Path
) -> None:
    env = ledgers["parquet"]
    directory = week.write(tmp_path / "export", "csv")
    (directory / "entities.csv").write_text((directory / "entities.csv").read_text().replace('"other"', '""', 1))
    before = _written(env)
    done = subprocess.run(
        [sys.executable, "-m", "credit_ledger.cli", "oracle", "run-round", "--export", str(directory)],
        env=oracle_cli_environment(env.settings),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith(f"error[export_value_invalid]: {directory / 'entities.csv'}: row ")
    assert lines[0].endswith(", column region: is empty") and lines[1].startswith("hint: ") and len(lines) == 2
    assert "Traceback" not in done.stderr
    assert _written(env) == before


def test_run_round_synthetic_takes_the_export_path(
    ledgers: dict[str, LedgerEnv], rounds: dict[str, RoundResult]
) -> None:
    env = ledgers["memory"]
    result = runner.invoke(oracle_app, ["run-round", "--synthetic", "--merchants", str(MERCHANTS)], env=_cli_env(env))
    assert result.exit_code == 0, result.output
    assert "synthetic platform: week 1" in result.output and "archived as" in result.output
    latest = env.store.latest_round()
    assert latest is not None and latest.export_hash is not None and latest.export_hash in archive_in(env.settings.home)
    both = runner.invoke(oracle_app, ["run-round", "--synthetic", "--export", "x"], env=_cli_env(env))
    assert both.exit_code == 2 and "exclude each other" in both.output
