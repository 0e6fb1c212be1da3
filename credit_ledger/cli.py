"""``credit-ledger``: run the local chain, deploy, score, anchor and inspect the ledger.

Start with ``credit-ledger demo``; every other command is a step of it that an
operator can run alone. Settings come from environment variables (see
``ledger/config.py``): by default everything lives in ``./.credit-ledger``.

Any :class:`~foundation.errors.CreditLedgerError` a command raises is reported once,
by :class:`credit_ledger.common.ReportErrors`: ``error[code]: message`` and
``hint: ...`` on stderr, exit status 2 for usage and input errors, 1 for failures.
The console script is :func:`main`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from credit_ledger.common import ReportErrors, console
from credit_ledger.common import fail as _fail
from credit_ledger.common import load_settings as _settings
from ledger.config import Settings

if TYPE_CHECKING:
    from ledger.node import LocalNode

app = typer.Typer(
    help=(
        "A verifiable credit ledger for small merchants and farmers.\n\n"
        "Quick start: `credit-ledger demo` starts a local chain, deploys the contracts, "
        "scores merchants, anchors the round and verifies a proof on-chain."
    ),
    no_args_is_help=True,
    add_completion=False,
    cls=ReportErrors,
)
node_app = typer.Typer(
    help="Start, stop and inspect the embedded local chain (anvil).", no_args_is_help=True, cls=ReportErrors
)
app.add_typer(node_app, name="node")


def _local_node(settings: Settings) -> LocalNode:
    from ledger.node import LocalNode

    if not settings.embedded_node:
        _fail(f"CREDIT_LEDGER_RPC_URL is set ({settings.rpc_url}): the node is not managed here")
    return LocalNode(settings.node_dir, port=settings.node_port, chain_id=settings.chain_id or 31337)


@node_app.command("start")
def node_start() -> None:
    """Start anvil in the background, state kept in $CREDIT_LEDGER_HOME/node."""
    status = _local_node(_settings()).start()
    console.print(
        f"node running: {status.url} (pid {status.pid}, chain {status.chain_id}, block {status.block_number})"
    )
    console.print(f"state file: {status.state_file}")


@node_app.command("stop")
def node_stop() -> None:
    """Stop the node; it writes its state so the ledger survives."""
    node = _local_node(_settings())
    if node.stop():
        console.print(f"node stopped; state saved in {node.state_file}")
    else:
        console.print("node was not running")


@node_app.command("status")
def node_status() -> None:
    """Is the node up, at which block."""
    status = _local_node(_settings()).status()
    table = Table(show_header=False)
    table.add_row("running", "yes" if status.running else "no")
    table.add_row("url", status.url)
    table.add_row("pid", str(status.pid or "-"))
    table.add_row("chain id", str(status.chain_id or "-"))
    table.add_row("block", str(status.block_number if status.block_number is not None else "-"))
    table.add_row("state file", str(status.state_file))
    console.print(table)
    if not status.running:
        raise typer.Exit(1)


@app.command()
def deploy(
    force: bool = typer.Option(False, help="Deploy new contracts even if the recorded ones are usable."),
) -> None:
    """Compile and deploy the contracts (idempotent: a rerun finds the deployment)."""
    from credit_ledger.demo import connect, role_accounts
    from ledger.deployment import AddressBook
    from ledger.deployment import deploy as deploy_contracts

    settings = _settings()
    chain = connect(settings, console.print)
    contracts, reused = deploy_contracts(
        chain,
        role_accounts(settings),
        AddressBook(settings.address_book_path),
        settings.policy_delay_seconds,
        force=force,
        log=console.print,
    )
    table = Table(title=f"contracts on chain {chain.chain_id}" + (" (reused)" if reused else ""))
    table.add_column("contract")
    table.add_column("address")
    for name, address in contracts.deployment.addresses.items():
        table.add_row(name, address)
    console.print(table)
    console.print(f"address book: {settings.address_book_path}")


@app.command()
def demo(
    merchants: int = typer.Option(1000, min=1, help="How many merchants to score each round."),
    rounds: int = typer.Option(2, min=1, help="How many weekly rounds to anchor in this run."),
) -> None:
    """Run everything: node, deploy, model and policy, weekly rounds scored and anchored, a proof verified."""
    from credit_ledger.demo import run_demo

    result = run_demo(_settings(), merchants=merchants, rounds=rounds, log=console.print)
    table = Table(title=f"demo: chain {result.chain_id}, deployment {'reused' if result.reused_deployment else 'new'}")
    for column in ("round", "kind", "decisions", "merkle root", "batch file (sha256)", "anchor tx", "block", "gas"):
        table.add_column(column)
    for r in result.rounds:
        table.add_row(
            str(r.round_id),
            r.kind.replace("_", "-"),
            f"{r.decisions:,}",
            "0x" + r.root.hex()[:12] + "…",
            r.batch_hash.hex()[:12] + "…",
            "0x" + r.tx_hash.hex()[:12] + "…",
            str(r.block_number),
            f"{r.gas_used:,}" if r.gas_used else "-",
        )
    console.print(table)
    console.print(
        f"proof of {result.sample_merchant}'s latest decision verified on-chain: "
        + ("[green]yes[/green]" if result.verified_on_chain else "[red]NO[/red]")
    )
    if not result.verified_on_chain:
        raise typer.Exit(1)


def _mount_optional() -> None:
    """Sub-commands of the other packages, mounted here so `--help` lists them all."""
    from credit_ledger.oracle_cmd import model_app, oracle_app, policy_app

    app.add_typer(oracle_app, name="oracle")
    app.add_typer(model_app, name="model")
    app.add_typer(policy_app, name="policy")
    from credit_ledger.audit_cmd import audit_app
    from credit_ledger.events_cmd import events_app

    app.add_typer(audit_app, name="audit")
    app.add_typer(events_app, name="events")
    from credit_ledger import api_cmd, verify_cmd

    app.command("verify")(verify_cmd.verify)
    app.add_typer(api_cmd.app, name="api")
    from credit_ledger import growth_cmd, score_cmd

    app.add_typer(growth_cmd.app, name="growth", help="A merchant's growth plan: four indicators and a diagnosis.")
    app.add_typer(score_cmd.app, name="score", help="Train, run and explain the behaviour scorecard.")


_mount_optional()


def main() -> None:
    """The ``credit-ledger`` console script (``python -m credit_ledger.cli`` runs the same)."""
    app(prog_name="credit-ledger")


if __name__ == "__main__":
    main()
