"""Signing keys for the roles: the local node's development accounts, or a key file.

A key file (``CREDIT_LEDGER_KEYS_FILE``) is JSON mapping role keys (``admin``,
``oracle``, ``model_admin``, ``policy_admin``, ``registrar``, ``auditor``,
``regulator``) to hex private keys. Keys are never printed: only addresses are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from foundation.errors import EXIT_INPUT, CreditLedgerError
from ledger.node import DEV_MNEMONIC
from ledger.roles import Role

#: Development account index of each role on the local node; merchants start at 10.
DEV_ROLE_INDEX: dict[Role, int] = {
    Role.ADMIN: 0,
    Role.ORACLE: 1,
    Role.MODEL_ADMIN: 2,
    Role.POLICY_ADMIN: 3,
    Role.REGISTRAR: 4,
    Role.AUDITOR: 5,
    Role.REGULATOR: 6,
}
FIRST_DEV_MERCHANT_INDEX = 10


class KeyError_(CreditLedgerError, ValueError):
    """A key file is missing a role or holds a malformed key."""

    code = "key_file_invalid"
    hint = "CREDIT_LEDGER_KEYS_FILE must be JSON mapping role names (admin, oracle, ...) to 0x-hex private keys"
    exit_code = EXIT_INPUT


@lru_cache(maxsize=256)
def dev_account(index: int) -> LocalAccount:
    """The ``index``-th account of the well-known development mnemonic."""
    Account.enable_unaudited_hdwallet_features()
    # eth-account's combomethod decorator hides from_mnemonic's return type (LocalAccount)
    account: LocalAccount = Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return account


@dataclass(frozen=True)
class RoleAccounts:
    """One signing account per role."""

    by_role: dict[Role, LocalAccount]

    def __getitem__(self, role: Role) -> LocalAccount:
        try:
            return self.by_role[role]
        except KeyError as exc:
            raise KeyError_(f"no key for role {role.key}") from exc

    @property
    def admin(self) -> LocalAccount:
        return self[Role.ADMIN]

    @property
    def oracle(self) -> LocalAccount:
        return self[Role.ORACLE]

    def addresses(self) -> dict[str, str]:
        return {role.key: account.address for role, account in self.by_role.items()}

    @classmethod
    def development(cls) -> RoleAccounts:
        return cls({role: dev_account(index) for role, index in DEV_ROLE_INDEX.items()})

    @classmethod
    def configured(cls, keys_file: Path | None) -> RoleAccounts:
        """The key file's accounts when one is configured, else the development accounts."""
        return cls.from_keys_file(keys_file) if keys_file is not None else cls.development()

    @classmethod
    def from_keys_file(cls, path: Path) -> RoleAccounts:
        try:
            raw = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise KeyError_(f"cannot read key file {path}: {exc}") from exc
        by_role: dict[Role, LocalAccount] = {}
        for role in Role:
            if role.key not in raw:
                continue
            try:
                by_role[role] = Account.from_key(raw[role.key])
            except (ValueError, TypeError):  # eth-account: ValueError for a bad string or int, TypeError for other JSON
                raise KeyError_(f"key for {role.key} in {path} is not a valid private key") from None
        if Role.ADMIN not in by_role:
            raise KeyError_(f"key file {path} has no 'admin' key")
        return cls(by_role)
