"""``credit-ledger audit replay``: replay the whole ledger from the chain and check it.

Mounted by ``credit_ledger.cli`` as ``audit``. Exit codes: 0 every check passed,
1 discrepancies were found (the report says which), 2 the replay could not run
(no node, nothing deployed, unreadable store, bad settings): any error that stops
it is reported as the CLI reports errors, but with status 2, so that 1 always
means discrepancies.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from credit_ledger.common import EXIT_CANNOT_RUN, ReportErrors, console, report_error
from credit_ledger.common import load_settings as _settings
from foundation.errors import CreditLedgerError

audit_app = typer.Typer(
    help="Replay the ledger from the chain and check every root, leaf, input and score.",
    no_args_is_help=True,
    cls=ReportErrors,
)


@audit_app.callback()
def _group() -> None:
    """Replay the ledger from the chain and check every root, leaf, input and score."""


EXIT_DISCREPANCIES = 1


@audit_app.command("replay")
def replay_cmd(
    documents: str = typer.Option(
        None,
        "--documents",
        help="Directory of documents named by hex sha256, or the API's document URL "
        "(e.g. http://127.0.0.1:8000/auditor/documents). Default: $CREDIT_LEDGER_HOME/documents.",
    ),
    token: str = typer.Option(
        None, "--token", envvar="CREDIT_LEDGER_API_TOKEN", help="Bearer token for an API document URL."
    ),
    no_store: bool = typer.Option(
        False, "--no-store", help="Check the chain and documents only (no DB access: no leaves, inputs or re-scoring)."
    ),
    from_round: int = typer.Option(
        None, "--from-round", min=0, help="First round to audit (earlier rounds are read for hash chains only)."
    ),
    to_round: int = typer.Option(None, "--to-round", min=0, help="Last round to audit."),
    no_rescore: bool = typer.Option(False, "--no-rescore", help="Skip re-scoring (commitments are still checked)."),
    exports: Path = typer.Option(
        None,
        "--exports",
        file_okay=False,
        help="Directory of the platform exports rounds scored, one per export hash (as the archive keeps them). "
        "Default: $CREDIT_LEDGER_HOME/exports.",
    ),
    json_out: Path = typer.Option(
        None, "--json", help="Also write the report as JSON to this file ('-' for stdout, tables then go to stderr)."
    ),
    record: bool = typer.Option(
        False, "--record", help="Attest the report on-chain with CreditLedger.recordAudit (auditor key)."
    ),
) -> None:
    """Read every event, fetch every document and batch file, rebuild every root, walk every hash chain,
    compare the store's leaves, recompute every feature commitment, re-score every decision, and
    re-hash, re-validate and re-derive the features of every round's platform export."""
    from audit.replay import record_audit, replay
    from audit.report import render
    from ledger.accounts import RoleAccounts
    from ledger.chain import Chain
    from ledger.deployment import AddressBook, load
    from ledger.documents import document_source
    from ledger.roles import Role
    from ledger.store import Store
    from sources.exports import archive_in

    settings = _settings()
    out = Console(stderr=True, soft_wrap=True) if str(json_out) == "-" else console
    source = document_source(documents or settings.documents_dir, token)
    store = None
    try:
        chain = Chain.connect(settings.rpc_url, expected_chain_id=settings.chain_id)
        contracts = load(chain, AddressBook(settings.address_book_path))
        if not no_store:
            store = Store.open(settings.database_url, migrate=False)
        report = replay(
            contracts,
            source,
            store,
            from_round=from_round,
            to_round=to_round,
            rescore=not no_rescore,
            exports=exports or archive_in(settings.home).root,
            log=lambda m: out.print(f"[dim]{m}[/dim]"),
        )
    except CreditLedgerError as exc:  # no node, nothing deployed, no store...: exit 2, never 1
        report_error(exc, EXIT_CANNOT_RUN)
    finally:
        if store is not None:
            store.close()
    render(report, out)
    if json_out is not None:
        data = report.to_bytes()
        if str(json_out) == "-":
            typer.echo(data.decode())
        else:
            json_out.write_bytes(data)
            out.print(f"report written to {json_out} (sha256 {report.report_hash().hex()})")
    if record:
        from ledger.documents import DocumentStore

        try:
            accounts = RoleAccounts.configured(settings.keys_file)
            recorded = record_audit(
                contracts, accounts[Role.AUDITOR], report, DocumentStore(settings.documents_dir).put
            )
        except CreditLedgerError as exc:
            report_error(exc, EXIT_CANNOT_RUN, context="could not record the audit")
        out.print(
            f"recorded audit of rounds {recorded.from_round}..{recorded.to_round}: report {recorded.uri}, "
            f"tx 0x{recorded.tx_hash.hex()}"
        )
    if not report.ok:
        raise typer.Exit(EXIT_DISCREPANCIES)
