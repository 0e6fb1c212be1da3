"""The one exception root: every error credit-ledger raises on purpose derives from it.

Each error class carries

* ``code``: a stable, machine-readable name (``not_found``, ``chain_unavailable``...)
  that scripts, the API and the logs may rely on; a raise site may narrow it;
* ``hint``: one line telling the person who hit it what to do next;
* ``exit_code``: what the command line exits with: 2 for a usage or input error
  (the caller must change what it asked for), 1 for a failure (something it relied on
  did not work).

The command line catches :class:`CreditLedgerError` once (``credit_ledger.common.ReportErrors``,
the class of every command group) and prints code, message and hint; the API maps it to a JSON error body. Messages never
carry a Python ``repr`` of bytes: hashes and keys are written as ``0x`` hex
(:func:`shown` formats a value that way).
"""

from __future__ import annotations

from typing import Any

__all__ = ["EXIT_FAILED", "EXIT_INPUT", "CreditLedgerError", "shown"]

EXIT_FAILED = 1
"""Exit status of a failure: the request was fine, something it needed was not."""

EXIT_INPUT = 2
"""Exit status of a usage or input error: the request itself must change."""


class CreditLedgerError(Exception):
    """The root of every deliberate error of credit-ledger."""

    code: str = "error"
    hint: str = ""
    exit_code: int = EXIT_FAILED

    def __init__(self, message: str = "", *args: Any, code: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, *args)
        if code is not None:
            self.code = code
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        """The human-readable message (the first argument)."""
        return str(self.args[0]) if self.args else ""

    def to_dict(self) -> dict[str, str]:
        """``{"code", "message", "hint"}``: the JSON form the API and ``--json`` outputs use."""
        out = {"code": self.code, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        return out

    def __str__(self) -> str:
        return self.message


def shown(value: Any, limit: int | None = 80) -> str:
    """``value`` as an error message shows it: its ``repr``, except that bytes are ``0x`` hex.

    Bytes inside lists, tuples and dicts are written as hex too. The result is cut to
    ``limit`` characters (``None``: not cut), as ``f"{value!r:.80}"`` would cut it.
    """
    text = _shown(value, 0)
    return text if limit is None else text[:limit]


def _shown(value: Any, depth: int) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "0x" + bytes(value).hex()
    if depth > 3:
        return "..."
    if isinstance(value, (list, tuple)):
        items = ", ".join(_shown(v, depth + 1) for v in value)
        if isinstance(value, list):
            return f"[{items}]"
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_shown(k, depth + 1)}: {_shown(v, depth + 1)}" for k, v in value.items()) + "}"
    return repr(value)
