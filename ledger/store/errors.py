"""The store's errors: one family under :class:`StoreError`, itself under the project's root."""

from __future__ import annotations

from foundation.errors import EXIT_INPUT, CreditLedgerError

__all__ = [
    "AnchorConflict",
    "Conflict",
    "DisputeConflict",
    "InvalidData",
    "InvalidState",
    "MerchantConflict",
    "NotFound",
    "RoundConflict",
    "StoreError",
]


class StoreError(CreditLedgerError):
    """Base class of every error the store raises on purpose."""

    code = "store_error"
    hint = "check CREDIT_LEDGER_DATABASE_URL and that the database answers"


class NotFound(StoreError, LookupError):
    """The requested row does not exist."""

    code = "not_found"
    hint = "check the round number or key; `credit-ledger oracle status` lists the rounds in the store"


class Conflict(StoreError):
    """A write contradicts what is already stored (idempotent repeats are not conflicts)."""

    code = "store_conflict"
    hint = "the store already holds something different here; look before overwriting anything"


class RoundConflict(Conflict):
    """A round exists with different parameters, or was built with a different root."""

    code = "round_conflict"
    hint = "start a new round instead of rebuilding this one with different inputs"


class MerchantConflict(Conflict):
    """A merchant id or key is already bound to a different key or id."""

    code = "merchant_conflict"
    hint = "a merchant's key never changes: the platform secret or the merchant id differs from before"


class AnchorConflict(Conflict):
    """An anchor record contradicts the one stored (e.g. another tx already mined)."""

    code = "anchor_conflict"
    hint = "compare the chain with the store (`credit-ledger audit replay`) before anchoring again"


class DisputeConflict(Conflict):
    """A dispute exists with different content, or was already resolved differently."""

    code = "dispute_conflict"
    hint = "a resolved dispute stays resolved; file a new dispute instead"


class InvalidState(StoreError):
    """The operation is not allowed in the row's current status (e.g. anchoring an unbuilt round)."""

    code = "invalid_state"
    hint = "run the round's earlier steps first (`credit-ledger oracle run-round` resumes it)"


class InvalidData(StoreError, ValueError):
    """An argument is malformed or a batch is inconsistent (nothing was written)."""

    code = "invalid_data"
    hint = "nothing was written; fix the named value and try again"
    exit_code = EXIT_INPUT
