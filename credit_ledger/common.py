"""What every ``credit-ledger`` sub-command shares: the console, settings, failing clearly.

Errors are reported in one place: every command group of the CLI is a
:class:`ReportErrors`, which catches a :class:`~foundation.errors.CreditLedgerError`
escaping any of its commands and prints, to stderr::

    error[invalid_query]: from_block 9 is after to_block 1
    hint: fix the named parameter: blocks and versions are non-negative integers, times ISO-8601

then exits with the error's ``exit_code``: 2 when the request itself must change
(usage, malformed input), 1 when something it relied on failed. Commands raise;
they do not catch errors only to print them.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from foundation.errors import EXIT_FAILED, EXIT_INPUT, CreditLedgerError
from ledger.config import ConfigError, Settings

# siwe 4.4's grammar restates RFC 5234's core rules; abnf warns about it on every import.
warnings.filterwarnings("ignore", message=r"rule '.*' redefines", module="abnf")

#: Wide enough for hashes in tables when piped (rich assumes 80 columns without a terminal).
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)

#: Errors and hints: stderr, so that what a command prints on stdout (JSON, CSV) stays parseable.
err_console = Console(stderr=True, soft_wrap=True, highlight=False)

__all__ = [
    "EXIT_CANNOT_RUN",
    "EXIT_FAILED",
    "ReportErrors",
    "console",
    "err_console",
    "fail",
    "load_settings",
    "report_error",
]

EXIT_CANNOT_RUN = EXIT_INPUT
"""What ``verify`` and ``audit replay`` exit with when they cannot run at all (their documented contract)."""


def load_settings() -> Settings:
    """Settings from the environment, or exit 2 with the reason."""
    try:
        return Settings.from_env()
    except ConfigError as exc:
        err_console.print(Text.assemble(("configuration error:", "red"), " ", str(exc)))
        raise typer.Exit(EXIT_CANNOT_RUN) from None


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print ``error: message`` to stderr and exit with ``code`` (for usage messages that are not exceptions)."""
    err_console.print(Text.assemble(("error:", "bold red"), " ", message))
    raise typer.Exit(code)


def report_error(exc: CreditLedgerError, exit_code: int | None = None, context: str = "") -> NoReturn:
    """Print ``error[code]: message`` and ``hint: hint`` to stderr, then exit.

    The status is the error's ``exit_code`` unless the command documents its own
    (``exit_code``); ``context`` (what was being done, a file name) prefixes the
    message unless the message already names it.
    """
    message = exc.message
    if context and context not in message:
        message = f"{context}: {message}"
    # Text, not markup: messages hold brackets ("[Errno 111]", "error[code]") that rich would parse.
    err_console.print(Text.assemble(("error", "bold red"), f"[{exc.code}]: ", message))
    if exc.hint:
        err_console.print(Text.assemble(("hint", "bold"), ": ", exc.hint))
    raise typer.Exit(exc.exit_code if exit_code is None else exit_code)


class ReportErrors(TyperGroup):
    """A typer command group that reports any :class:`CreditLedgerError` its commands raise (see the module doc).

    Every ``typer.Typer`` of the CLI passes ``cls=ReportErrors``, so the root app
    (``credit-ledger ...``) and each group run on its own (``CliRunner().invoke(audit_app, ...)``)
    report alike; when groups nest, the innermost catches and the others see only the exit.
    """

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CreditLedgerError as exc:
            report_error(exc)
