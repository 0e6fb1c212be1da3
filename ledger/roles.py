"""The on-chain roles: the one place their names, ids and home contracts are written.

Each role is an OpenZeppelin AccessControl role held on the contract whose functions
it guards; ``contracts/Roles.sol`` declares the same ids and a test keeps the two in
step.
"""

from __future__ import annotations

from enum import Enum

from ledger.keccak import keccak256


class Role(str, Enum):  # noqa: UP042 - a StrEnum would change str() and f-strings of a role to its value
    ADMIN = "DEFAULT_ADMIN_ROLE"
    ORACLE = "ORACLE_ROLE"
    MODEL_ADMIN = "MODEL_ADMIN_ROLE"
    POLICY_ADMIN = "POLICY_ADMIN_ROLE"
    REGISTRAR = "REGISTRAR_ROLE"
    AUDITOR = "AUDITOR_ROLE"
    REGULATOR = "REGULATOR_ROLE"

    @property
    def id(self) -> bytes:
        """The bytes32 role id AccessControl uses (zero for the admin role)."""
        if self is Role.ADMIN:
            return bytes(32)
        return keccak256(self.value.encode())

    @property
    def key(self) -> str:
        """The short name used in key files and the address book (``model_admin``)."""
        return self.name.lower()


#: Which contract guards its functions with which role (the admin role is on all).
ROLE_HOME: dict[Role, str] = {
    Role.ORACLE: "CreditLedger",
    Role.AUDITOR: "CreditLedger",
    Role.REGULATOR: "CreditLedger",
    Role.MODEL_ADMIN: "ModelRegistry",
    Role.POLICY_ADMIN: "PolicyRegistry",
    Role.REGISTRAR: "IdentityRegistry",
}
