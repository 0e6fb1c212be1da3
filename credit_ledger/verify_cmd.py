"""``credit-ledger verify BUNDLE.json --rpc URL``: check a proof bundle against a chain, without the API.

Mount with ``app.command("verify")(verify_cmd.verify)``; ``app`` here is the same
command as a standalone Typer app. Exit status: 0 all checks passed, 1 a check
failed, 2 the bundle could not be read, a setting is malformed or the node does not answer
(reported as ``error[code]: ...`` and ``hint: ...`` on stderr, like every CLI error).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

console = Console(soft_wrap=True)


def verify(
    bundle: Path = typer.Argument(..., exists=False, dir_okay=False, help="The proof bundle JSON ('-' for stdin)."),
    rpc: str = typer.Option(
        None,
        "--rpc",
        help=(
            "JSON-RPC URL of any node of the ledger's chain"
            " (default: $CREDIT_LEDGER_RPC_URL, else the embedded node, http://127.0.0.1:8545)."
        ),
    ),
    contract: str = typer.Option(
        None, "--contract", help="The CreditLedger address you trust; the bundle must name this one."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Verify a decision's proof bundle against the chain alone: every check printed, exit 1 if any fails."""
    from credit_ledger.common import EXIT_CANNOT_RUN, report_error
    from foundation.errors import CreditLedgerError
    from ledger.bundle import BundleError, verify_bundle
    from ledger.chain import Chain, NodeUnreachable
    from ledger.config import Settings

    # Every way of not getting a verdict exits 2 (the documented contract), whatever the error's own status.
    try:
        text = typer.get_text_stream("stdin").read() if str(bundle) == "-" else bundle.read_text()
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        report_error(BundleError(f"cannot read a JSON bundle from {bundle}: {exc}"), EXIT_CANNOT_RUN)
    url = rpc or Settings.from_env().rpc_url
    try:
        chain = Chain.connect(url, timeout=15.0)
        report = verify_bundle(data, chain, expected_contract=contract)
    except CreditLedgerError as exc:  # the node does not answer, a malformed bundle...
        report_error(exc, EXIT_CANNOT_RUN)
    except Exception as exc:  # noqa: BLE001 - no verdict exits 2 whatever the cause (requests raises several types mid-way)
        report_error(NodeUnreachable(f"the node at {url} failed mid-way ({type(exc).__name__})"), EXIT_CANNOT_RUN)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        for check in report.checks:
            mark = "[green]PASS[/green]" if check.ok else "[red]FAIL[/red]"
            console.print(f"{mark} {check.name:<16} {check.detail}", highlight=False)
        verdict = (
            "[green]VERIFIED[/green]"
            if report.ok
            else f"[red]NOT VERIFIED[/red] (failed: {', '.join(report.failed())})"
        )
        console.print(f"{verdict} against chain {chain.chain_id} at {url}")
        if contract is None and report.ok:
            console.print("note: pass --contract <CreditLedger address> to pin the contract you trust", style="dim")
    if not report.ok:
        raise typer.Exit(1)


app = typer.Typer(add_completion=False, help="Verify proof bundles against the chain.")
app.command("verify")(verify)
