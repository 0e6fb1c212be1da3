"""``credit-ledger verify BUNDLE.json --rpc URL``: check a proof bundle against a chain, without the API.

Mount with ``app.command("verify")(verify_cmd.verify)``; ``app`` here is the same
command as a standalone Typer app. Exit status: 0 all checks passed, 1 a check
failed, 2 the bundle could not be read, a setting is malformed or the node does not answer.
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
    from ledger.bundle import verify_bundle
    from ledger.chain import Chain, ChainError
    from ledger.config import ConfigError, Settings

    try:
        text = typer.get_text_stream("stdin").read() if str(bundle) == "-" else bundle.read_text()
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        console.print(f"[red]error:[/red] cannot read a JSON bundle from {bundle}: {exc}")
        raise typer.Exit(2) from None
    try:
        url = rpc or Settings.from_env().rpc_url
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    try:
        chain = Chain.connect(url, timeout=15.0)
        report = verify_bundle(data, chain, expected_contract=contract)
    except ChainError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except Exception as exc:  # connection dropped mid-way (requests raises several types)
        console.print(f"[red]error:[/red] the node at {url} failed: {type(exc).__name__}: {exc}")
        raise typer.Exit(2) from None
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
