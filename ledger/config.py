"""Settings: every environment variable credit-ledger reads, in one object.

Every setting has a sensible embedded default (a local anvil node, a SQLite file in
the data directory) and can be overridden by an environment variable, so that moving
to a consortium chain or PostgreSQL is a setting, not a rewrite. No other module
reads ``os.environ`` (``tests/ledger/test_settings.py`` checks); an empty variable
counts as unset.

| variable | default | meaning |
|---|---|---|
| ``CREDIT_LEDGER_HOME`` | ``./.credit-ledger`` under the working directory | the data directory: node state, address book, documents, the SQLite file, scoring files |
| ``CREDIT_LEDGER_RPC_URL`` | unset: the embedded node, ``http://127.0.0.1:$CREDIT_LEDGER_NODE_PORT`` | JSON-RPC URL of the chain; when set, the node is not managed here |
| ``CREDIT_LEDGER_NODE_PORT`` | ``8545`` | port of the embedded node |
| ``CREDIT_LEDGER_CHAIN_ID`` | ``31337`` for the embedded node; else unset: asked of the node | chain id the node must report (``0x7a69`` form accepted) |
| ``CREDIT_LEDGER_KEYS_FILE`` | unset: the local node's well-known development accounts | JSON file of role keys; must exist; never printed |
| ``CREDIT_LEDGER_DATABASE_URL`` | ``sqlite:///$CREDIT_LEDGER_HOME/ledger.db`` | SQLAlchemy URL of the off-chain store (``postgresql://…`` works) |
| ``CREDIT_LEDGER_POLICY_DELAY`` | ``3600`` | seconds between proposing and applying a policy (>= 0) |
| ``CREDIT_LEDGER_CONFIRMATIONS`` | ``0`` | blocks mined on top of an anchoring transaction's block before the oracle calls its round final (>= 0; a chain with reorgs wants its finality depth) |
| ``CREDIT_LEDGER_API_DOMAIN`` | unset: ``credit-ledger api serve``'s ``--host:--port`` (``127.0.0.1:8000`` for an app built without it) | EIP-4361 domain (``host[:port]``) a sign-in message must name; never taken from a request; set it to the name clients reach the API by, e.g. behind a proxy (``api serve --domain`` sets it) |
| ``CREDIT_LEDGER_API_URI`` | unset: ``http://`` and the domain | origin (``scheme://host[:port]``) a sign-in message's ``URI`` must be on; set ``https://…`` behind a TLS proxy (``api serve --uri`` sets it) |
| ``CREDIT_LEDGER_NODE_MODULES`` | ``node_modules`` at the repository root | the npm packages: anvil, solc and OpenZeppelin, the dashboard's ECharts and ethers |
| ``CREDIT_LEDGER_CRASH_AT`` | unset | drill: the oracle SIGKILLs itself at ``after_tree``, ``after_send`` or ``after_receipt`` |
| ``CREDIT_LEDGER_PAUSE_AT`` | unset | drill: ``point:seconds``, the oracle sleeps that long at that point |

Integers accept Python literal forms (``0x7a69``, ``1_000``); a malformed value is a
:class:`ConfigError` naming the variable and the value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from foundation.errors import EXIT_INPUT, CreditLedgerError

#: The repository root: the compiler shim, contracts and node_modules live here.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEFAULT_NODE_PORT = 8545
DEFAULT_CHAIN_ID = 31337
DEFAULT_POLICY_DELAY_SECONDS = 3600


class ConfigError(CreditLedgerError, ValueError):
    """A setting is malformed or names something that does not exist."""

    code = "config_invalid"
    hint = "fix the named CREDIT_LEDGER_* environment variable (see the settings table in README.md)"
    exit_code = EXIT_INPUT


class _Variables(EnvSettingsSource):
    """The environment, read under each field's ``CREDIT_LEDGER_*`` name only.

    The stock source also tries a field's Python name (``home``, ``embedded_node``...)
    once fields may be set by name; here only the variables of the table are read.
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        variable = field.validation_alias
        if not isinstance(variable, str):  # a derived field (embedded_node): no variable
            return None, field_name, False
        return self.env_vars.get(variable), variable, False


class Settings(BaseSettings):
    """Resolved settings for one process. Build with :meth:`from_env`, or directly with keywords.

    Keywords win over the environment, which wins over the defaults; values left out
    are derived as :meth:`from_env` derives them (the embedded node iff there is no
    RPC URL, its URL and chain id, the SQLite file under ``home``).
    """

    # Variable names are matched exactly; keywords may use the Python names (home=...).
    model_config = SettingsConfigDict(frozen=True, case_sensitive=True, env_ignore_empty=True, validate_by_name=True)

    home: Path = Field(
        default_factory=lambda: Path.cwd() / ".credit-ledger",
        validation_alias="CREDIT_LEDGER_HOME",
        validate_default=True,
    )
    rpc_url: str = Field("", validation_alias="CREDIT_LEDGER_RPC_URL")
    chain_id: int | None = Field(None, validation_alias="CREDIT_LEDGER_CHAIN_ID")
    node_port: int = Field(DEFAULT_NODE_PORT, validation_alias="CREDIT_LEDGER_NODE_PORT")
    keys_file: Path | None = Field(None, validation_alias="CREDIT_LEDGER_KEYS_FILE")
    database_url: str = Field("", validation_alias="CREDIT_LEDGER_DATABASE_URL")
    policy_delay_seconds: int = Field(DEFAULT_POLICY_DELAY_SECONDS, validation_alias="CREDIT_LEDGER_POLICY_DELAY")
    #: No variable: true iff ``CREDIT_LEDGER_RPC_URL`` is unset (see :meth:`_derive`).
    embedded_node: bool = True
    #: Blocks on top of the anchoring block before a round is ``confirmed``. A local
    #: node that mines on demand needs 0; a chain with reorgs wants its finality depth.
    confirmations: int = Field(0, validation_alias="CREDIT_LEDGER_CONFIRMATIONS")
    api_domain: str | None = Field(None, validation_alias="CREDIT_LEDGER_API_DOMAIN")
    api_uri: str | None = Field(None, validation_alias="CREDIT_LEDGER_API_URI")
    node_modules: Path = Field(PROJECT_ROOT / "node_modules", validation_alias="CREDIT_LEDGER_NODE_MODULES")
    crash_at: str | None = Field(None, validation_alias="CREDIT_LEDGER_CRASH_AT")
    pause_at: str | None = Field(None, validation_alias="CREDIT_LEDGER_PAUSE_AT")

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ConfigError("; ".join(_describe(error) for error in exc.errors())) from None

    @classmethod
    def from_env(cls, home: Path | str | None = None) -> Settings:
        """The settings of this process's environment; ``home`` overrides ``CREDIT_LEDGER_HOME``."""
        return cls(home=home) if home else cls()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Keywords, then the variables; no .env file or secrets directory is read.
        return init_settings, _Variables(settings_cls)

    @field_validator("chain_id", "node_port", "policy_delay_seconds", "confirmations", mode="before")
    @classmethod
    def _integer(cls, value: Any, info: ValidationInfo) -> Any:
        # Base 0 for every integer alike: chain ids are often written in hex (0x7a69).
        if isinstance(value, str):
            try:
                return int(value, 0)
            except ValueError:
                raise ValueError(f"{_variable(info)}={value!r} is not an integer") from None
        return value

    @field_validator("policy_delay_seconds", "confirmations")
    @classmethod
    def _not_negative(cls, value: int, info: ValidationInfo) -> int:
        if value < 0:
            raise ValueError(f"{_variable(info)} must be >= 0, not {value}")
        return value

    @field_validator("home")
    @classmethod
    def _absolute_home(cls, value: Path) -> Path:
        return value.resolve()

    @field_validator("keys_file")
    @classmethod
    def _existing_keys_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        path = value.resolve()
        if not path.is_file():
            raise ValueError(f"{_variable(info)}={value} does not exist")
        return path

    @field_validator("node_modules")
    @classmethod
    def _absolute_node_modules(cls, value: Path) -> Path:
        # Not resolved: a node_modules symlinked into the project stays inside it, so
        # the compiler's source names (and the bytecode metadata) do not change.
        return value.expanduser().absolute()

    @field_validator("pause_at")
    @classmethod
    def _pause(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            try:
                _pause_point(value)
            except ValueError:
                raise ValueError(f"{_variable(info)}={value!r} is not point:seconds (e.g. after_tree:4)") from None
        return value

    @model_validator(mode="after")
    def _derive(self) -> Settings:
        """Fill what depends on other settings, unless it was given."""
        given = self.model_fields_set
        embedded = self.embedded_node if "embedded_node" in given else self.rpc_url == ""
        derived = {
            "embedded_node": embedded,
            "rpc_url": self.rpc_url or f"http://127.0.0.1:{self.node_port}",
            "chain_id": self.chain_id if "chain_id" in given else (DEFAULT_CHAIN_ID if embedded else None),
            "database_url": self.database_url or f"sqlite:///{self.home / 'ledger.db'}",
        }
        for name, value in derived.items():
            # The model is frozen; this runs once, before anyone holds the object.
            object.__setattr__(self, name, value)
        return self

    @property
    def pause(self) -> tuple[str, float] | None:
        """``CREDIT_LEDGER_PAUSE_AT`` as (point, seconds)."""
        return None if self.pause_at is None else _pause_point(self.pause_at)

    @property
    def node_dir(self) -> Path:
        """Where the embedded node keeps its state, pid and log."""
        return self.home / "node"

    @property
    def address_book_path(self) -> Path:
        return self.home / "deployments.json"

    @property
    def documents_dir(self) -> Path:
        """Full model artifacts, policy documents and batch files, by content hash."""
        return self.home / "documents"

    @property
    def database_url_for_display(self) -> str:
        """The store's URL with any password masked, for start-up lines and logs."""
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.database_url).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - an unparsable URL is shown by its scheme only
            return self.database_url.split(":", 1)[0] + ":…"


def _pause_point(value: str) -> tuple[str, float]:
    """``point:seconds`` (seconds default 0) as a pair; ValueError if it is not that."""
    point, _, seconds = value.partition(":")
    pause = float(seconds or 0)
    if not point or not pause >= 0:  # "not >=" also refuses nan
        raise ValueError(value)
    return point, pause


def _variable(info: ValidationInfo) -> str:
    """The environment variable of the field being validated."""
    assert info.field_name is not None
    alias = Settings.model_fields[info.field_name].validation_alias
    return alias if isinstance(alias, str) else info.field_name


def _describe(error: ErrorDetails) -> str:
    """One validation error as ``VARIABLE=value: reason``; the validators above word their own."""
    original = error.get("ctx", {}).get("error")
    if error["type"] == "value_error" and original is not None:
        return str(original)
    key = str(error["loc"][0]) if error["loc"] else "settings"
    field = Settings.model_fields.get(key)
    alias = field.validation_alias if field is not None else None
    return f"{alias if isinstance(alias, str) else key}={error['input']!r}: {error['msg']}"
