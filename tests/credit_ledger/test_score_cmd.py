"""CLI smoke test: synth -> train -> run -> (round 1) run -> explain, via typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from credit_ledger.score_cmd import app


def test_cli_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_LEDGER_HOME", str(tmp_path))
    runner = CliRunner()

    def ok(*args: str) -> str:
        res = runner.invoke(app, list(args))
        assert res.exit_code == 0, res.output + repr(res.exception)
        return res.output

    assert "Generated merchant data" in ok("synth", "--n", "3000", "--seed", "5")
    out = ok("train", "--no-challenger")
    assert "scorecard AUC" in out and "artifact sha256" in out
    assert (tmp_path / "scoring" / "models" / "merchant.json").exists()
    assert "scored" in ok("run")
    ok("synth", "--n", "3000", "--seed", "5", "--round", "1", "--dirty")
    out = ok("run", "--round", "1")
    assert "Change since previous round" in out and "duplicate" in out
    out = ok(
        "explain",
        "M00000042",
        "--round",
        "1",
        "--previous",
        str(tmp_path / "scoring" / "decisions" / "merchant" / "round-000.parquet"),
    )
    assert "Points per feature" in out and "Top four reasons" in out and "since" in out
    res = runner.invoke(app, ["explain", "NOPE"])
    assert res.exit_code == 1


def test_cli_farmer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_LEDGER_HOME", str(tmp_path))
    runner = CliRunner()
    for args in (
        ["synth", "-s", "farmer", "--n", "3000"],
        ["train", "-s", "farmer", "--no-challenger"],
        ["run", "-s", "farmer"],
        ["explain", "F00000007", "-s", "farmer"],
    ):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output + repr(res.exception)
