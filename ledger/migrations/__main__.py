"""Developer entry point: ``python -m ledger.migrations <alembic args>`` without an alembic.ini.

Examples::

    python -m ledger.migrations revision -m "add column x"
    python -m ledger.migrations --url sqlite:////tmp/x.db upgrade head
    python -m ledger.migrations --url sqlite:////tmp/x.db history
"""

from __future__ import annotations

import sys

from alembic.config import CommandLine


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    url = None
    if args[:1] == ["--url"] and len(args) >= 2:
        url, args = args[1], args[2:]
    cli = CommandLine(prog="python -m ledger.migrations")
    options = cli.parser.parse_args(args)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    from ledger.store import alembic_config

    cli.run_cmd(alembic_config(url), options)


if __name__ == "__main__":
    main()
