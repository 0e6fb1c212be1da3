"""The contracts' enums, once in Python: one ``IntEnum`` per Solidity ``enum``.

Member order and names are the Solidity declaration's (the value is the ordinal the
ABI carries); ``label`` is the lower-case name the store, the API and the documents
use (``Segment.FARMER.label == "farmer"``). ``tests/contracts/test_enums.py`` parses
the ``.sol`` files and fails when the two drift apart. Never reorder a member: the
ordinal is what the chain stores.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "SOLIDITY_ENUMS",
    "ChainEnum",
    "DisputeStatus",
    "MerchantKind",
    "MerchantStatus",
    "ModelStatus",
    "PolicyStatus",
    "Segment",
]


class ChainEnum(IntEnum):
    """An on-chain enum: the int is the ABI value, :attr:`label` its lower-case name."""

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> ChainEnum:
        """The member named ``label`` (``"farmer"``); ``ValueError`` naming the choices otherwise."""
        try:
            return cls[label.upper()]
        except KeyError:
            choices = ", ".join(m.label for m in cls)
            raise ValueError(f"{cls.__name__}: expected one of {choices}, got {label!r}") from None

    @classmethod
    def labels(cls) -> tuple[str, ...]:
        return tuple(m.label for m in cls)


class Segment(ChainEnum):
    """``Types.sol`` ``Segment``: the scoring segment a model, policy or batch applies to."""

    MERCHANT = 0
    FARMER = 1


class MerchantKind(ChainEnum):
    """``IdentityRegistry.MerchantKind``: who is behind a merchant key."""

    MERCHANT = 0
    FARMER = 1
    VIRTUAL = 2


class MerchantStatus(ChainEnum):
    """``IdentityRegistry.MerchantStatus``."""

    UNREGISTERED = 0
    ACTIVE = 1
    SUSPENDED = 2


class ModelStatus(ChainEnum):
    """``ModelRegistry.ModelStatus``."""

    NONE = 0
    REGISTERED = 1
    ACTIVE = 2
    RETIRED = 3


class PolicyStatus(ChainEnum):
    """``PolicyRegistry.PolicyStatus``."""

    NONE = 0
    PROPOSED = 1
    ACTIVE = 2
    SUPERSEDED = 3
    CANCELLED = 4


class DisputeStatus(ChainEnum):
    """``CreditLedger.DisputeStatus``."""

    NONE = 0
    OPEN = 1
    UPHELD = 2
    REJECTED = 3


#: Where each enum is declared: Python enum -> (Solidity file, enum name).
SOLIDITY_ENUMS: dict[type[ChainEnum], tuple[str, str]] = {
    Segment: ("Types.sol", "Segment"),
    MerchantKind: ("IdentityRegistry.sol", "MerchantKind"),
    MerchantStatus: ("IdentityRegistry.sol", "MerchantStatus"),
    ModelStatus: ("ModelRegistry.sol", "ModelStatus"),
    PolicyStatus: ("PolicyRegistry.sol", "PolicyStatus"),
    DisputeStatus: ("CreditLedger.sol", "DisputeStatus"),
}
