"""Default file locations of the scoring CLI, all under ``$CREDIT_LEDGER_HOME/scoring``.

``CREDIT_LEDGER_HOME`` defaults to ``./.credit-ledger``.  Every path is also
an option of the command that uses it.
"""

from __future__ import annotations

from pathlib import Path

from ledger.config import Settings


def home() -> Path:
    """``$CREDIT_LEDGER_HOME/scoring`` (read at call time, so tests can set the variable)."""
    return Settings.from_env().home / "scoring"


def data_dir(segment: str, round_no: int) -> Path:
    return home() / "data" / segment / f"round-{round_no:03d}"


def model_path(segment: str) -> Path:
    return home() / "models" / f"{segment}.json"


def policy_path(segment: str) -> Path:
    return home() / "policies" / f"{segment}.json"


def decisions_path(segment: str, round_no: int) -> Path:
    return home() / "decisions" / segment / f"round-{round_no:03d}.parquet"
