"""What every ``credit-ledger`` sub-command shares: the console, settings, failing clearly."""

from __future__ import annotations

import sys
import warnings
from typing import NoReturn

import typer
from rich.console import Console

from ledger.config import ConfigError, Settings

# siwe 4.4's grammar restates RFC 5234's core rules; abnf warns about it on every import.
warnings.filterwarnings("ignore", message=r"rule '.*' redefines", module="abnf")

#: Wide enough for hashes in tables when piped (rich assumes 80 columns without a terminal).
console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)

EXIT_FAILED = 1
EXIT_CANNOT_RUN = 2


def load_settings() -> Settings:
    """Settings from the environment, or exit 2 with the reason."""
    try:
        return Settings.from_env()
    except ConfigError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(EXIT_CANNOT_RUN) from None


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print ``error: message`` and exit with ``code``."""
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)
