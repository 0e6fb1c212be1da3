"""Settings.from_env: defaults, overrides, and a clear error for each malformed value."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.config import ConfigError, Settings

VARIABLES = (
    "CREDIT_LEDGER_HOME",
    "CREDIT_LEDGER_RPC_URL",
    "CREDIT_LEDGER_NODE_PORT",
    "CREDIT_LEDGER_CHAIN_ID",
    "CREDIT_LEDGER_KEYS_FILE",
    "CREDIT_LEDGER_DATABASE_URL",
    "CREDIT_LEDGER_POLICY_DELAY",
    "CREDIT_LEDGER_CONFIRMATIONS",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_the_embedded_node_and_a_sqlite_file(tmp_path: Path) -> None:
    settings = Settings.from_env(tmp_path)
    assert settings.embedded_node and settings.rpc_url == "http://127.0.0.1:8545"
    assert settings.chain_id == 31337
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'ledger.db'}"
    assert settings.confirmations == 0
    assert settings.policy_delay_seconds == 3600


def test_an_external_rpc_url_asks_the_node_for_its_chain_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CREDIT_LEDGER_RPC_URL", "http://10.0.0.5:8545")
    settings = Settings.from_env(tmp_path)
    assert not settings.embedded_node and settings.chain_id is None


@given(st.integers(min_value=0, max_value=10_000))
def test_confirmations_are_read_from_the_environment(value: int) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CREDIT_LEDGER_CONFIRMATIONS", str(value))
        assert Settings.from_env("/tmp/credit-ledger-settings-test").confirmations == value


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CREDIT_LEDGER_CONFIRMATIONS", "-1", "CREDIT_LEDGER_CONFIRMATIONS must be >= 0"),
        ("CREDIT_LEDGER_CONFIRMATIONS", "three", "CREDIT_LEDGER_CONFIRMATIONS='three' is not an integer"),
        ("CREDIT_LEDGER_POLICY_DELAY", "-5", "CREDIT_LEDGER_POLICY_DELAY must be >= 0"),
        ("CREDIT_LEDGER_NODE_PORT", "80a", "CREDIT_LEDGER_NODE_PORT='80a' is not an integer"),
        ("CREDIT_LEDGER_KEYS_FILE", "/nonexistent/keys.json", "does not exist"),
    ],
)
def test_malformed_values_are_refused_with_their_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        Settings.from_env(tmp_path)
