"""``credit-ledger events sync|query``: follow the chain into the store and query what it holds.

Mounted by ``credit_ledger.cli`` as ``events``. ``sync`` is what the regulator API's
answers are served from; run it from cron or ``--follow`` it.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from credit_ledger.common import ReportErrors, console
from credit_ledger.common import fail as _fail
from credit_ledger.common import load_settings as _settings
from ledger.config import Settings

if TYPE_CHECKING:
    from ledger.deployment import LedgerContracts
    from ledger.store import Store

events_app = typer.Typer(
    help="Index contract events into the store (sync) and query them.", no_args_is_help=True, cls=ReportErrors
)


def _open(settings: Settings) -> tuple[LedgerContracts, Store]:
    from ledger.chain import Chain
    from ledger.deployment import AddressBook, load
    from ledger.store import Store

    chain = Chain.connect(settings.rpc_url, expected_chain_id=settings.chain_id)
    contracts = load(chain, AddressBook(settings.address_book_path))
    return contracts, Store.open(settings.database_url)


@events_app.command("sync")
def sync_cmd(
    chunk: int = typer.Option(2000, min=1, help="Blocks per eth_getLogs page."),
    confirmations: int = typer.Option(0, min=0, help="Stay this many blocks behind the head."),
    repair: bool = typer.Option(
        False,
        "--repair",
        help="If the chain was reset/reorganised under the index, re-index from the deployment block.",
    ),
    follow: bool = typer.Option(False, "--follow", help="Keep syncing every --interval seconds until interrupted."),
    interval: float = typer.Option(5.0, min=0.1, help="Seconds between syncs with --follow."),
) -> None:
    """Index every event of every ledger contract from where the last sync stopped."""
    from ledger.indexer import Indexer

    contracts, store = _open(_settings())
    try:
        indexer = Indexer(store.engine, contracts, chunk_blocks=chunk, confirmations=confirmations)
        while True:
            result = indexer.sync(repair=repair)
            console.print(
                f"chain {result.chain_id}: blocks {result.from_block}..{result.to_block}, "
                f"{result.events_seen} events ({result.events_inserted} new) in {result.seconds:.2f}s"
            )
            if not follow:
                break
            time.sleep(interval)
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        store.close()


def _parse_time(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        _fail(f"--{name}: expected an ISO-8601 time, got {value!r}", 2)
        return None


@events_app.command("query")
def query_cmd(
    contract: list[str] = typer.Option(
        None,
        "--contract",
        help="CreditLedger, ModelRegistry, PolicyRegistry, IdentityRegistry, PolicyTimelock (repeatable).",
    ),
    event: list[str] = typer.Option(None, "--event", help="Event name, e.g. BatchAnchored (repeatable)."),
    from_block: int = typer.Option(None, min=0),
    to_block: int = typer.Option(None, min=0),
    since: str = typer.Option(None, help="ISO-8601 time, inclusive."),
    until: str = typer.Option(None, help="ISO-8601 time, inclusive."),
    round_id: int = typer.Option(None, "--round", min=0),
    model: int = typer.Option(None, min=0, help="Model version."),
    policy: int = typer.Option(None, min=0, help="Policy version."),
    merchant_key: str = typer.Option(None, help="0x-hex merchant key."),
    limit: int = typer.Option(100, min=1, max=1000),
    fmt: str = typer.Option("table", "--format", help="table, json or csv"),
    no_sync: bool = typer.Option(False, "--no-sync", help="Query the index as it is, without syncing first."),
) -> None:
    """Query indexed events (syncs first unless --no-sync)."""
    from ledger.indexer import EventFilter, Indexer, InvalidQuery, query_events

    if fmt not in ("table", "json", "csv"):
        _fail("--format must be table, json or csv", 2)
    settings = _settings()
    try:
        key = bytes.fromhex(merchant_key[2:]) if merchant_key else None
    except ValueError:
        raise InvalidQuery(f"merchant_key: expected 0x and 64 hex digits, got {merchant_key!r:.80}") from None
    filters = EventFilter(  # a malformed filter is an InvalidQuery: the CLI reports it, exit 2
        contracts=tuple(contract or ()),
        events=tuple(event or ()),
        from_block=from_block,
        to_block=to_block,
        from_time=_parse_time(since, "since"),
        to_time=_parse_time(until, "until"),
        round_id=round_id,
        model_version=model,
        policy_version=policy,
        merchant_key=key,
    )
    contracts, store = _open(settings)
    try:
        if not no_sync:
            Indexer(store.engine, contracts).sync()
        filters = EventFilter(**{**filters.__dict__, "chain_id": contracts.chain.chain_id})
        page = query_events(store.engine, filters, limit=limit)
    finally:
        store.close()
    rows = [e.to_json() for e in page.events]
    if fmt == "json":
        typer.echo(json.dumps({"events": rows, "next_cursor": page.next_cursor}, indent=2))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(["block_number", "block_time", "tx_hash", "log_index", "contract", "event", "args"])
        for r in rows:
            writer.writerow(
                [
                    r["block_number"],
                    r["block_time"],
                    r["tx_hash"],
                    r["log_index"],
                    r["contract"],
                    r["event"],
                    json.dumps(r["args"], sort_keys=True),
                ]
            )
    else:
        table = Table(
            title=f"{len(rows)} events" + (" (more: narrow the query or raise --limit)" if page.next_cursor else "")
        )
        for col in ("block", "time", "contract", "event", "args"):
            table.add_column(col, overflow="fold")
        for r in rows:
            args = ", ".join(f"{k}={v}" for k, v in r["args"].items())
            table.add_row(str(r["block_number"]), r["block_time"] or "", r["contract"], r["event"], args)
        console.print(table)
