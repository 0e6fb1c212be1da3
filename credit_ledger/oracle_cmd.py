"""``credit-ledger oracle|model|policy``: run rounds and publish what decides them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from credit_ledger.common import ReportErrors, console, fail, report_error
from credit_ledger.common import load_settings as _settings

if TYPE_CHECKING:
    from sources.platform import CheckedExport

oracle_app = typer.Typer(
    help="Score rounds, anchor them, and inspect their state.", no_args_is_help=True, cls=ReportErrors
)
model_app = typer.Typer(help="Publish model versions to ModelRegistry.", no_args_is_help=True, cls=ReportErrors)
policy_app = typer.Typer(
    help="Propose policy parameter sets to PolicyRegistry (applied after the timelock delay).",
    no_args_is_help=True,
    cls=ReportErrors,
)


@oracle_app.command("run-round")
def run_round(
    round_id: int = typer.Option(
        None, "--round", help="Round number (default: resume an unfinished round, else the next one)."
    ),
    export: Path = typer.Option(
        None,
        "--export",
        file_okay=False,
        help="Score this platform export (a directory: manifest.json + Parquet or CSV tables, "
        "scoring/DATA_FORMAT.md). It is validated and archived before the round is created.",
    ),
    synthetic: bool = typer.Option(
        False,
        "--synthetic",
        help="Score the synthetic platform's week, written to disk as an export first (the default without --export).",
    ),
    merchants: int = typer.Option(1000, min=1, help="Merchants on the synthetic platform."),
    segment: str = typer.Option(None, help="merchant or farmer (default: the export's; merchant for --synthetic)"),
) -> None:
    """Validate and archive the export, score it, build the tree and batch file, store, anchor. Safe to rerun after a crash."""
    from oracle.service import Oracle, store_segment
    from scoring.export import read_manifest
    from sources.exports import archive_in
    from sources.platform import ExportSource, SegmentMismatch, check_export, synthetic_round
    from sources.synthetic import ScoringSource

    if export is not None and synthetic:
        fail("--export and --synthetic exclude each other: score a platform export or the synthetic platform", 2)
    settings = _settings()
    archive = archive_in(settings.home)
    checked: CheckedExport | None = None
    if export is not None:
        # Refused here, before the store, the chain or the model are touched: nothing is written.
        exported = read_manifest(export).segment
        if segment is not None and segment != exported:
            raise SegmentMismatch(f"the export {export} is for segment {exported!r}, not {segment!r}")
        segment = exported
        checked = check_export(export, archive, log=console.print)
    oracle = Oracle(settings, log=console.print)
    try:
        scoring = ScoringSource.prepare(settings.home, merchants, segment=segment or "merchant", log=console.print)
        weekly = store_segment(scoring.segment)
        round_id = round_id if round_id is not None else oracle.resume_or_next(weekly)
        source = (
            ExportSource(scoring, checked)
            if checked is not None
            else synthetic_round(scoring, oracle.week_of(weekly, round_id), archive, log=console.print)
        )
        result = oracle.run_round(source, round_id=round_id)
    finally:
        oracle.close()
    table = Table(show_header=False, title=f"round {result.round_id} ({result.segment})")
    table.add_row("decisions", f"{result.decisions:,}")
    table.add_row("root", "0x" + result.root.hex())
    table.add_row("batch file", f"sha256:{result.batch_hash.hex()}")
    table.add_row("export", source.export.export_hash.hex())
    table.add_row("validation", _validation_line(source.export))
    table.add_row("anchor tx", "0x" + result.tx_hash.hex())
    table.add_row("block", str(result.block_number))
    table.add_row(
        "this run",
        ("built" if result.built_now else "resumed") + ", " + ("anchored" if result.anchored_now else "found anchored"),
    )
    console.print(table)


def _validation_line(checked: CheckedExport) -> str:
    """What validation did to the export, for the round's table."""
    summary = checked.validation.summary
    rejected = int((checked.validation.issues["action"] == "reject").sum())
    return f"{summary['accepted_records']:,} of {summary['input_records']:,} records accepted, {rejected:,} rejected"


@oracle_app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8700, help="Port to listen on."),
    batch_size: int = typer.Option(50, min=1, help="Anchor when this many decisions are queued (N)."),
    max_wait: float = typer.Option(60.0, min=0.1, help="...or when the oldest has waited this many seconds (T)."),
    merchants: int = typer.Option(1000, min=1, help="Merchants on the (synthetic) platform."),
    segment: str = typer.Option("merchant", help="merchant or farmer"),
) -> None:
    """On-demand decisions: POST /applications {"merchant_id"} is scored at once, anchored in the next small batch."""
    import threading

    import uvicorn

    from oracle.ondemand import OnDemandDesk, create_app
    from oracle.service import Oracle
    from sources.synthetic import ScoringSource

    settings = _settings()
    oracle = Oracle(settings, log=console.print)
    desk = OnDemandDesk(
        oracle,
        ScoringSource.prepare(settings.home, merchants, segment=segment, log=console.print),
        batch_size,
        max_wait,
        log=console.print,
    )
    stop = threading.Event()
    flusher = threading.Thread(target=desk.run_forever, args=(stop,), daemon=True)
    flusher.start()
    console.print(f"on-demand desk on http://{host}:{port}: anchoring every {batch_size} decisions or {max_wait:g}s")
    try:
        uvicorn.run(create_app(desk), host=host, port=port, log_level="warning")
    finally:
        stop.set()
        flusher.join(timeout=30)
        oracle.close()


@oracle_app.command("status")
def status(limit: int = typer.Option(20, min=1, help="How many recent rounds.")) -> None:
    """Rounds in the store with their state, next to what the chain holds."""
    from ledger.store import NotFound, Store

    settings = _settings()
    store = Store.open(settings.database_url)
    try:
        table = Table(title="rounds")
        for column in ("round", "segment", "kind", "status", "decisions", "root", "anchor tx", "block"):
            table.add_column(column)
        for r in store.rounds(limit=limit, descending=True):
            try:
                a = store.get_anchor(r.round_id)
                tx, block = "0x" + a.tx_hash.hex()[:12] + "…", str(a.block_number or "-")
            except NotFound:
                tx, block = "-", "-"
            table.add_row(
                str(r.round_id),
                r.segment,
                r.kind,
                r.status,
                f"{r.decision_count:,}",
                ("0x" + r.root.hex()[:12] + "…") if r.root else "-",
                tx,
                block,
            )
        console.print(table)
    finally:
        store.close()


@model_app.command("publish")
def model_publish(
    artifact: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="Model artifact JSON (from `credit-ledger score train`)."
    ),
    activate: bool = typer.Option(True, help="Make it the segment's active version."),
) -> None:
    """Register the artifact's SHA-256 in ModelRegistry and keep the document for auditors."""
    from credit_ledger.demo import connect, role_accounts
    from ledger.deployment import AddressBook, load
    from ledger.documents import DocumentStore, uri_for
    from ledger.roles import Role
    from oracle.publish import publish_model
    from scoring import ArtifactError, load_artifact

    settings = _settings()
    try:
        model = load_artifact(artifact)
    except ArtifactError as exc:
        report_error(exc, context=str(artifact))  # name the file: some messages only say what is wrong in it
    chain = connect(settings, console.print)
    contracts = load(chain, AddressBook(settings.address_book_path))
    digest = DocumentStore(settings.documents_dir).put(model.to_json_bytes())
    version = publish_model(
        contracts,
        role_accounts(settings)[Role.MODEL_ADMIN],
        model.segment,
        digest,
        model.feature_schema_hash(),
        uri_for(digest),
        activate=activate,
        log=console.print,
    )
    console.print(f"model v{version} ({model.segment}) sha256:{digest.hex()}" + (" is active" if activate else ""))


@policy_app.command("propose")
def policy_propose(
    policy_file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Policy parameter set JSON."),
    reason: str = typer.Option(..., help="Why the parameters change (recorded on-chain)."),
    execute: bool = typer.Option(False, help="Also apply it if the delay has passed (anyone may)."),
) -> None:
    """Propose a policy version and schedule its activation behind the timelock delay."""
    import time as _time

    from credit_ledger.demo import connect, role_accounts
    from ledger.deployment import AddressBook, load
    from ledger.documents import DocumentStore, uri_for
    from ledger.roles import Role
    from oracle.publish import execute_policy, propose_policy
    from scoring import PolicyError, load_policy

    settings = _settings()
    try:
        policy = load_policy(policy_file)
    except PolicyError as exc:
        report_error(exc, context=str(policy_file))  # name the file: some messages only say what is wrong in it
    chain = connect(settings, console.print)
    contracts = load(chain, AddressBook(settings.address_book_path))
    accounts = role_accounts(settings)
    digest = DocumentStore(settings.documents_dir).put(policy.to_json_bytes())
    activation = propose_policy(
        contracts, accounts[Role.POLICY_ADMIN], policy.segment, digest, uri_for(digest), reason, log=console.print
    )
    if activation.executed:
        console.print(f"policy v{activation.version} is already active")
        return
    now = chain.w3.eth.get_block("latest")["timestamp"]
    if execute and activation.ready_at <= now:
        execute_policy(contracts, accounts[Role.POLICY_ADMIN], activation.version)
        console.print(f"policy v{activation.version} is active")
    else:
        console.print(
            f"policy v{activation.version} takes effect at {_time.strftime('%Y-%m-%d %H:%M:%S UTC', _time.gmtime(activation.ready_at))} "
            "(chain time); run again with --execute after that"
        )
