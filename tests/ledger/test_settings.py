"""Settings: defaults, overrides, a clear error for each malformed value, and no other reader of the environment."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from foundation.errors import CreditLedgerError
from ledger import config
from ledger.config import PROJECT_ROOT, ConfigError, Settings

VARIABLES = (
    "CREDIT_LEDGER_HOME",
    "CREDIT_LEDGER_RPC_URL",
    "CREDIT_LEDGER_NODE_PORT",
    "CREDIT_LEDGER_CHAIN_ID",
    "CREDIT_LEDGER_KEYS_FILE",
    "CREDIT_LEDGER_DATABASE_URL",
    "CREDIT_LEDGER_POLICY_DELAY",
    "CREDIT_LEDGER_CONFIRMATIONS",
    "CREDIT_LEDGER_API_DOMAIN",
    "CREDIT_LEDGER_NODE_MODULES",
    "CREDIT_LEDGER_CRASH_AT",
    "CREDIT_LEDGER_PAUSE_AT",
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


def test_defaults_of_the_api_growth_dashboard_and_drill_settings(tmp_path: Path) -> None:
    settings = Settings.from_env(tmp_path)
    assert settings.api_domain is None and settings.api_uri is None
    assert settings.node_modules == PROJECT_ROOT / "node_modules"
    assert settings.crash_at is None and settings.pause_at is None and settings.pause is None
    assert settings.keys_file is None and settings.node_port == 8545


@pytest.mark.parametrize(
    ("name", "value", "attribute", "expected"),
    [
        ("CREDIT_LEDGER_API_DOMAIN", "ledger.example.org", "api_domain", "ledger.example.org"),
        ("CREDIT_LEDGER_API_URI", "https://ledger.example.org", "api_uri", "https://ledger.example.org"),
        ("CREDIT_LEDGER_CRASH_AT", "after_send", "crash_at", "after_send"),
        ("CREDIT_LEDGER_PAUSE_AT", "after_tree:4", "pause", ("after_tree", 4.0)),
        ("CREDIT_LEDGER_PAUSE_AT", "after_tree", "pause", ("after_tree", 0.0)),
        ("CREDIT_LEDGER_NODE_PORT", "0x2105", "rpc_url", "http://127.0.0.1:8453"),
        ("CREDIT_LEDGER_CHAIN_ID", "0x7a69", "chain_id", 31337),
        ("CREDIT_LEDGER_POLICY_DELAY", "1_000", "policy_delay_seconds", 1000),
        ("CREDIT_LEDGER_DATABASE_URL", "postgresql://db/ledger", "database_url", "postgresql://db/ledger"),
        ("CREDIT_LEDGER_API_DOMAIN", "", "api_domain", None),  # empty is unset
        ("CREDIT_LEDGER_RPC_URL", "", "embedded_node", True),
    ],
)
def test_each_variable_overrides_its_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, attribute: str, expected: object
) -> None:
    monkeypatch.setenv(name, value)
    assert getattr(Settings.from_env(tmp_path), attribute) == expected


def test_home_comes_from_the_environment_unless_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings.from_env().home == tmp_path.resolve() / ".credit-ledger"
    monkeypatch.setenv("CREDIT_LEDGER_HOME", "relative/home")
    assert Settings.from_env().home == tmp_path.resolve() / "relative" / "home"
    assert Settings.from_env().database_url == f"sqlite:///{tmp_path.resolve() / 'relative' / 'home' / 'ledger.db'}"
    assert Settings.from_env(tmp_path / "given").home == tmp_path.resolve() / "given"


def test_node_modules_and_keys_file_are_absolute_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text("{}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CREDIT_LEDGER_NODE_MODULES", "vendor/node_modules")
    monkeypatch.setenv("CREDIT_LEDGER_KEYS_FILE", "keys.json")
    settings = Settings.from_env(tmp_path)
    assert settings.node_modules == tmp_path / "vendor" / "node_modules"
    assert settings.keys_file == keys.resolve()
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("CREDIT_LEDGER_NODE_MODULES", "~/node_modules")
    assert Settings.from_env(tmp_path).node_modules == tmp_path / "user" / "node_modules"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CREDIT_LEDGER_PAUSE_AT", "after_tree:soon", "CREDIT_LEDGER_PAUSE_AT='after_tree:soon' is not point:seconds"),
        ("CREDIT_LEDGER_PAUSE_AT", ":4", "CREDIT_LEDGER_PAUSE_AT=':4' is not point:seconds"),
        ("CREDIT_LEDGER_PAUSE_AT", "after_tree:-1", "CREDIT_LEDGER_PAUSE_AT='after_tree:-1' is not point:seconds"),
        ("CREDIT_LEDGER_CHAIN_ID", "31337.0", "CREDIT_LEDGER_CHAIN_ID='31337.0' is not an integer"),
        ("CREDIT_LEDGER_POLICY_DELAY", "1h", "CREDIT_LEDGER_POLICY_DELAY='1h' is not an integer"),
        ("CREDIT_LEDGER_POLICY_DELAY", "-5", "CREDIT_LEDGER_POLICY_DELAY must be >= 0, not -5"),
        ("CREDIT_LEDGER_CONFIRMATIONS", "-1", "CREDIT_LEDGER_CONFIRMATIONS must be >= 0, not -1"),
        ("CREDIT_LEDGER_KEYS_FILE", "/nonexistent/keys.json", "CREDIT_LEDGER_KEYS_FILE=/nonexistent/keys.json does"),
    ],
)
def test_a_config_error_names_the_variable_and_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(tmp_path)
    assert message in str(raised.value)
    error = raised.value
    assert isinstance(error, CreditLedgerError) and isinstance(error, ValueError)
    assert error.code == "config_invalid" and error.exit_code == 2 and error.hint
    assert error.to_dict()["message"] == str(error)


def test_direct_construction_takes_keywords_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What tests/ledger_support.make_ledger_env and bench/*.py build."""
    monkeypatch.setenv("CREDIT_LEDGER_RPC_URL", "http://10.0.0.5:8545")
    monkeypatch.setenv("CREDIT_LEDGER_POLICY_DELAY", "-1")  # overridden below, so never validated
    monkeypatch.setenv("CREDIT_LEDGER_CONFIRMATIONS", "2")  # not given: the environment's
    settings = Settings(
        home=tmp_path,
        rpc_url="http://127.0.0.1:9545",
        chain_id=31337,
        node_port=0,
        keys_file=None,
        database_url=f"sqlite:///{tmp_path / 'ledger.db'}",
        policy_delay_seconds=60,
        embedded_node=False,
    )
    assert settings.rpc_url == "http://127.0.0.1:9545" and settings.policy_delay_seconds == 60
    assert not settings.embedded_node and settings.chain_id == 31337 and settings.confirmations == 2
    assert settings.documents_dir == tmp_path.resolve() / "documents"
    with pytest.raises(ConfigError, match="CREDIT_LEDGER_NODE_PORT='x' is not an integer"):
        Settings(home=tmp_path, node_port="x")
    with pytest.raises(ValidationError, match="frozen"):
        settings.home = tmp_path


def test_python_field_names_are_not_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the CREDIT_LEDGER_* names are read: not ``home``, ``rpc_url``, ``embedded_node``..."""
    expected = Settings.from_env(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.setenv(name, "0x1")
        monkeypatch.setenv(name.upper(), "0x1")
    assert Settings.from_env(tmp_path) == expected


def _table(text: str, marker: str) -> list[list[str]]:
    """The rows of the variables table in ``text`` (cells stripped, code marked as in README)."""
    rows = [line for line in text.splitlines() if line.startswith(f"| {marker}CREDIT_LEDGER_")]
    return [[cell.strip().replace("``", "`") for cell in row.strip("|").split(" | ")] for row in rows]


def test_one_table_of_every_variable_in_the_docstring_and_the_readme() -> None:
    documented = _table(config.__doc__ or "", "``")
    variables = [row[0].strip("`") for row in documented]
    fields = [f.validation_alias for f in Settings.model_fields.values() if isinstance(f.validation_alias, str)]
    assert sorted(variables) == sorted(fields) and len(variables) == len(set(variables))
    assert _table((PROJECT_ROOT / "README.md").read_text(), "`") == documented


#: Trees that may read the environment themselves: tests and benchmarks (their own
#: CREDIT_LEDGER_TEST_POSTGRES_URL), and what is not the project's source.
NOT_SCANNED = {"tests", "bench", "node_modules", "build"}


def environment_reads(source: str) -> list[int]:
    """Line numbers where ``source`` reads the process environment.

    A read is ``os.getenv(...)`` or any use of ``os.environ`` except two that only pass
    values to child processes: assigning or deleting an item (``os.environ[k] = v``,
    as ``credit-ledger api serve`` does for its uvicorn workers) and copying it into
    a child's environment (``dict(os.environ, K=v)``). ``from os import environ`` (or
    ``getenv``) counts as a read, and so does ``os`` imported under another name.
    The syntax tree is checked, not the text, so comments and strings do not count.
    """
    tree = ast.parse(source)
    os_names = {
        alias.asname or "os"
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name == "os"
    }
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    reads = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            if any(alias.name in ("environ", "environb", "getenv", "getenvb") for alias in node.names):
                reads.append(node.lineno)
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in os_names):
            continue
        if node.attr in ("getenv", "getenvb"):
            reads.append(node.lineno)
        elif node.attr in ("environ", "environb"):
            parent = parents[node]
            written = isinstance(parent, ast.Subscript) and isinstance(parent.ctx, (ast.Store, ast.Del))
            copied = (
                isinstance(parent, ast.Call)
                and isinstance(parent.func, ast.Name)
                and parent.func.id == "dict"
                and parent.args[:1] == [node]
            )
            if not (written or copied):
                reads.append(node.lineno)
    return reads


@pytest.mark.parametrize(
    ("source", "reads"),
    [
        ("import os\nos.environ.get('X')", [2]),
        ("import os\nx = os.environ['X']", [2]),
        ("import os\nos.getenv('X', '')", [2]),
        ("import os\n'X' in os.environ", [2]),
        ("import os as o\no.environ.copy()", [2]),
        ("from os import environ", [1]),
        ("import os\nos.environ['X'] = 'y'\ndel os.environ['X']", []),
        ("import os\nenv = dict(os.environ, X='y')", []),
        ("import os\n# os.environ.get('X')\ns = 'os.getenv'", []),
    ],
)
def test_the_environment_check_tells_reads_from_writes(source: str, reads: list[int]) -> None:
    assert environment_reads(source) == reads


def project_sources() -> Iterator[Path]:
    """Every Python file of the project outside :data:`NOT_SCANNED` and hidden directories (.venv)."""
    for top in sorted(PROJECT_ROOT.iterdir()):
        if top.name in NOT_SCANNED or top.name.startswith("."):
            continue
        if top.is_dir():
            yield from sorted(top.rglob("*.py"))
        elif top.suffix == ".py":
            yield top


def test_no_module_but_ledger_config_reads_the_environment() -> None:
    """Every variable goes through Settings, so the table above is the whole list."""
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}:{line}"
        for path in project_sources()
        if path != PROJECT_ROOT / "ledger" / "config.py"
        for line in environment_reads(path.read_text())
    ]
    assert not offenders, f"read the environment through ledger.config.Settings instead: {offenders}"
