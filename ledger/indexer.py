"""The chain-event indexer: every event of every ledger contract, copied into the store.

Regulators query contract events by type, block or time range, version and merchant;
scanning the chain per request would be slow and would load the node, so
:class:`Indexer` follows the chain into two tables of the store (created by the
Alembic revision ``0002_chain_events``; described with the store's other tables in
:mod:`ledger.store.schema`; only this module writes them):

* ``chain_events``  one row per log: chain id, block, block time, tx, log index,
  contract, event, decoded args as JSON, and the merchant key / round / model
  version / policy version pulled out into indexed columns for filtering;
* ``chain_cursors`` per chain and deployment, the last block indexed and its hash.

:meth:`Indexer.sync` resumes at the cursor, pages through blocks in chunks (each
chunk's events and the cursor move in ONE transaction, so a crash never loses or
doubles a chunk), is idempotent (unique ``(chain_id, tx_hash, log_index)``, inserts
that hit it are skipped), retries RPC failures with exponential backoff (a node
restart is survived; a node that stays down ends in :class:`IndexerUnavailable`),
and notices a chain that was reset or reorganised under it
(:class:`ChainReorganised`; ``repair=True`` re-indexes from the deployment block).

:class:`EventDecoder` and :func:`read_events` are also used without the store, by
the audit replay, which reads the chain itself rather than trusting any index.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

import sqlalchemy as sa
from eth_typing import ChecksumAddress
from eth_utils.abi import event_abi_to_log_topic
from sqlalchemy.engine import Connection, Engine
from web3.contract import Contract
from web3.contract.contract import ContractEvent
from web3.types import FilterParams, LogReceipt

from foundation.errors import EXIT_INPUT, CreditLedgerError, shown
from ledger.deployment import CONTRACTS, LedgerContracts
from ledger.retry import RetryPolicy
from ledger.store.bulk import upsert_statement
from ledger.store.schema import chain_cursors, chain_events

__all__ = [
    "ChainEvent",
    "ChainReorganised",
    "EventDecoder",
    "EventFilter",
    "EventPage",
    "Indexer",
    "IndexerError",
    "IndexerUnavailable",
    "InvalidQuery",
    "SyncResult",
    "decode_cursor",
    "encode_cursor",
    "query_events",
    "read_events",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_CHUNK_BLOCKS = 2_000
DEFAULT_RETRIES = 5
DEFAULT_BACKOFF_SECONDS = 0.5
MAX_PAGE = 1_000


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------


class IndexerError(CreditLedgerError, RuntimeError):
    """Base class of the indexer's deliberate failures."""

    code = "indexer_error"
    hint = "run `credit-ledger events sync` again; the index resumes where it stopped"


class IndexerUnavailable(IndexerError):
    """The node kept failing after every retry."""

    code = "indexer_unavailable"
    hint = "check that the node at CREDIT_LEDGER_RPC_URL answers, then sync again"


class ChainReorganised(IndexerError):
    """The block the cursor points at is no longer on the chain (reset or reorg)."""

    code = "chain_reorganised"
    hint = "re-index from the deployment block with `credit-ledger events sync --repair`"


class InvalidQuery(IndexerError, ValueError):
    """An event query parameter is malformed (the API turns this into a 4xx)."""

    code = "invalid_query"
    hint = "fix the named parameter: blocks and versions are non-negative integers, times ISO-8601"
    exit_code = EXIT_INPUT


# ---------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainEvent:
    """One decoded contract event (JSON-friendly ``args``: bytes as ``0x`` hex)."""

    chain_id: int
    block_number: int
    block_hash: bytes
    tx_hash: bytes
    log_index: int
    contract: str
    address: str
    event: str
    args: dict[str, Any]
    block_time: datetime | None = None

    @property
    def merchant_key(self) -> bytes | None:
        value = self.args.get("merchantKey")
        return bytes.fromhex(value[2:]) if isinstance(value, str) else None

    @property
    def round_id(self) -> int | None:
        value = self.args.get("round")
        return int(value) if value is not None else None

    @property
    def model_version(self) -> int | None:
        if self.event.startswith("Model"):
            return int(self.args["version"])
        value = self.args.get("modelVersion")
        return int(value) if value is not None else None

    @property
    def policy_version(self) -> int | None:
        if self.event.startswith("Policy") and "version" in self.args:
            return int(self.args["version"])
        value = self.args.get("policyVersion")
        return int(value) if value is not None else None

    def to_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "block_number": self.block_number,
            "block_hash": "0x" + self.block_hash.hex(),
            "block_time": self.block_time.isoformat() if self.block_time else None,
            "tx_hash": "0x" + self.tx_hash.hex(),
            "log_index": self.log_index,
            "contract": self.contract,
            "address": self.address,
            "event": self.event,
            "args": self.args,
        }


def _jsonable(value: Any) -> Any:
    """ABI-decoded values -> JSON: bytes to 0x-hex, tuples to lists, big ints stay ints."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str, float)):
        return value
    return str(value)


class EventDecoder:
    """Decodes raw logs of the five ledger contracts by (address, topic0)."""

    def __init__(self, contracts: LedgerContracts) -> None:
        self.chain_id = contracts.chain.chain_id
        self.addresses: list[ChecksumAddress] = [contracts.by_name(n).address for n in CONTRACTS]
        self._events: dict[tuple[str, bytes], tuple[str, ContractEvent]] = {}
        for name in CONTRACTS:
            contract: Contract = contracts.by_name(name)
            for item in contract.abi:
                if item["type"] != "event" or item.get("anonymous"):  # solc writes "type" on every ABI item
                    continue
                event = contract.events[item["name"]]()
                topic = event_abi_to_log_topic(item)
                self._events[(contract.address.lower(), topic)] = (name, event)

    def decode(self, raw: LogReceipt, block_time: datetime | None = None) -> ChainEvent | None:
        """The event of one ``eth_getLogs`` entry, or None if it is not one of ours."""
        topics = raw.get("topics") or []
        if not topics:
            return None
        key = (str(raw["address"]).lower(), bytes(topics[0]))
        found = self._events.get(key)
        if found is None:
            return None
        contract_name, event = found
        processed = event.process_log(raw)
        return ChainEvent(
            chain_id=self.chain_id,
            block_number=int(raw["blockNumber"]),
            block_hash=bytes(raw["blockHash"]),
            tx_hash=bytes(raw["transactionHash"]),
            log_index=int(raw["logIndex"]),
            contract=contract_name,
            address=str(processed["address"]),
            event=str(processed["event"]),
            args=_jsonable(dict(processed["args"])),
            block_time=block_time,
        )


def retrying(
    fn: Callable[[], T],
    what: str,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF_SECONDS,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """``fn()`` under the ledger's retry policy (:mod:`ledger.retry`), ``retries`` times at most.

    Retries what means the node went away (connection and timeout errors of requests,
    urllib3, aiohttp and web3, ``OSError``); a node that stays down ends in
    :class:`IndexerUnavailable`. ``sleep`` defaults to ``time.sleep``, looked up per
    pause, so tests can patch it.
    """
    policy = RetryPolicy(attempts=retries + 1, first_delay=backoff)
    return policy.call(
        fn, what, log=log.warning, sleep=sleep, error=lambda exhausted: IndexerUnavailable(exhausted.explained())
    )


def read_events(
    contracts: LedgerContracts,
    from_block: int | None = None,
    to_block: int | None = None,
    chunk_blocks: int = DEFAULT_CHUNK_BLOCKS,
    with_times: bool = True,
    retries: int = DEFAULT_RETRIES,
) -> Iterator[ChainEvent]:
    """Every event of every ledger contract in ``[from_block, to_block]``, in chain order.

    Defaults: from the deployment block to the current head.
    """
    for _start, _end, events in _read_chunks(contracts, from_block, to_block, chunk_blocks, with_times, retries):
        yield from events


def _read_chunks(
    contracts: LedgerContracts,
    from_block: int | None,
    to_block: int | None,
    chunk_blocks: int,
    with_times: bool,
    retries: int,
) -> Iterator[tuple[int, int, list[ChainEvent]]]:
    w3 = contracts.chain.w3
    decoder = EventDecoder(contracts)
    start = contracts.deployment.deployment_block if from_block is None else from_block
    end = retrying(lambda: w3.eth.block_number, "eth_blockNumber", retries) if to_block is None else to_block
    chunk_blocks = max(1, chunk_blocks)
    while start <= end:
        stop = min(end, start + chunk_blocks - 1)
        params: FilterParams = {"address": decoder.addresses, "fromBlock": start, "toBlock": stop}
        logs = retrying(partial(w3.eth.get_logs, params), f"eth_getLogs {start}..{stop}", retries)
        times: dict[int, datetime] = {}
        events: list[ChainEvent] = []
        for raw in sorted(logs, key=lambda r: (int(r["blockNumber"]), int(r["logIndex"]))):
            number = int(raw["blockNumber"])
            if with_times and number not in times:
                block = retrying(partial(w3.eth.get_block, number), f"eth_getBlockByNumber {number}", retries)
                times[number] = datetime.fromtimestamp(int(block["timestamp"]), UTC)
            event = decoder.decode(raw, times.get(number))
            if event is not None:
                events.append(event)
        yield start, stop, events
        start = stop + 1


# ---------------------------------------------------------------------------
# the indexer
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncResult:
    chain_id: int
    from_block: int
    to_block: int
    events_seen: int
    events_inserted: int
    chunks: int
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Indexer:
    """Copies the ledger contracts' events into the store, resumably and idempotently."""

    def __init__(
        self,
        engine: Engine,
        contracts: LedgerContracts,
        *,
        chunk_blocks: int = DEFAULT_CHUNK_BLOCKS,
        confirmations: int = 0,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        self.engine = engine
        self.contracts = contracts
        self.chain_id = contracts.chain.chain_id
        self.ledger_address = contracts.ledger.address
        self.chunk_blocks = chunk_blocks
        self.confirmations = confirmations
        self.retries = retries

    # -- cursor ---------------------------------------------------------------

    def cursor(self) -> int | None:
        """The last block indexed for this chain and deployment (None: never synced)."""
        with self.engine.connect() as conn:
            row = self._cursor_row(conn)
        return None if row is None else int(row.last_block)

    def _cursor_row(self, conn: Connection) -> sa.Row[Any] | None:
        return conn.execute(
            sa.select(chain_cursors).where(
                chain_cursors.c.chain_id == self.chain_id,
                chain_cursors.c.ledger_address == self.ledger_address,
            )
        ).first()

    def _check_cursor(self, last_block: int, last_hash: bytes | None, repair: bool) -> int | None:
        """``last_block`` if it is still on the chain; else repair or raise."""
        w3 = self.contracts.chain.w3
        head = retrying(lambda: w3.eth.block_number, "eth_blockNumber", self.retries)
        still_there = False
        if last_block <= head and last_hash is not None:
            block = retrying(lambda: w3.eth.get_block(last_block), f"eth_getBlockByNumber {last_block}", self.retries)
            still_there = bytes(block["hash"]) == last_hash
        if still_there:
            return last_block
        if not repair:
            raise ChainReorganised(
                f"chain {self.chain_id}: block {last_block} indexed earlier is no longer on the chain "
                f"(head {head}); the node was reset or reorganised. Re-index with `credit-ledger events sync --repair`."
            )
        log.warning("chain %s reorganised under the index: re-indexing from the deployment block", self.chain_id)
        with self.engine.begin() as conn:
            conn.execute(sa.delete(chain_events).where(chain_events.c.chain_id == self.chain_id))
            conn.execute(
                sa.delete(chain_cursors).where(
                    chain_cursors.c.chain_id == self.chain_id,
                    chain_cursors.c.ledger_address == self.ledger_address,
                )
            )
        return None

    # -- sync -------------------------------------------------------------------

    def sync(self, to_block: int | None = None, *, repair: bool = False) -> SyncResult:
        """Index from the cursor (or the deployment block) to ``to_block`` (default: head - confirmations)."""
        started = time.perf_counter()
        with self.engine.connect() as conn:
            row = self._cursor_row(conn)
        last = None
        if row is not None:
            last = self._check_cursor(int(row.last_block), row.last_block_hash and bytes(row.last_block_hash), repair)
        deployment_block = self.contracts.deployment.deployment_block
        start = deployment_block if last is None else last + 1
        w3 = self.contracts.chain.w3
        if to_block is None:
            head = retrying(lambda: w3.eth.block_number, "eth_blockNumber", self.retries)
            to_block = head - self.confirmations
        seen = inserted = chunks = 0
        for _chunk_start, chunk_end, events in _read_chunks(
            self.contracts, start, to_block, self.chunk_blocks, True, self.retries
        ):
            end_block = retrying(
                partial(w3.eth.get_block, chunk_end), f"eth_getBlockByNumber {chunk_end}", self.retries
            )
            end_hash = bytes(end_block["hash"])
            inserted += self._store_chunk(events, chunk_end, end_hash, deployment_block)
            seen += len(events)
            chunks += 1
        return SyncResult(
            self.chain_id, start, max(to_block, start - 1), seen, inserted, chunks, time.perf_counter() - started
        )

    def _store_chunk(
        self, events: Sequence[ChainEvent], last_block: int, last_hash: bytes, deployment_block: int
    ) -> int:
        rows = [_event_row(e) for e in events]
        with self.engine.connect() as conn:
            # SQLite: take the write lock up front (the store's engine honours this option).
            conn = conn.execution_options(credit_ledger_write=True)
            with conn.begin():
                inserted = 0
                if rows:
                    # RETURNING counts what was really inserted: executemany's rowcount is
                    # not reliable across drivers (psycopg 3 reports 0 with insertmanyvalues).
                    stmt = (
                        upsert_statement(conn, chain_events)
                        .on_conflict_do_nothing(index_elements=["chain_id", "tx_hash", "log_index"])
                        .returning(chain_events.c.id)
                    )
                    inserted = len(conn.execute(stmt, rows).all())
                values = {
                    "deployment_block": deployment_block,
                    "last_block": last_block,
                    "last_block_hash": last_hash,
                    "updated_at": datetime.now(UTC),
                }
                cursor = upsert_statement(conn, chain_cursors).values(
                    chain_id=self.chain_id, ledger_address=self.ledger_address, **values
                )
                conn.execute(cursor.on_conflict_do_update(index_elements=["chain_id", "ledger_address"], set_=values))
        return inserted


def _event_row(event: ChainEvent) -> dict[str, Any]:
    return {
        "chain_id": event.chain_id,
        "block_number": event.block_number,
        "block_hash": event.block_hash,
        "block_time": event.block_time,
        "tx_hash": event.tx_hash,
        "log_index": event.log_index,
        "contract": event.contract,
        "address": event.address,
        "event": event.event,
        "args": event.args,
        "merchant_key": event.merchant_key,
        "round_id": event.round_id,
        "model_version": event.model_version,
        "policy_version": event.policy_version,
    }


# ---------------------------------------------------------------------------
# queries
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EventFilter:
    """Filters of :func:`query_events`; every field optional, all ANDed."""

    chain_id: int | None = None
    contracts: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    from_block: int | None = None
    to_block: int | None = None
    from_time: datetime | None = None
    to_time: datetime | None = None
    round_id: int | None = None
    model_version: int | None = None
    policy_version: int | None = None
    merchant_key: bytes | None = None

    def __post_init__(self) -> None:
        for name in ("from_block", "to_block", "round_id", "model_version", "policy_version"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise InvalidQuery(f"{name}: expected a non-negative integer, got {shown(value, None)}")
        if self.from_block is not None and self.to_block is not None and self.from_block > self.to_block:
            raise InvalidQuery(f"from_block {self.from_block} is after to_block {self.to_block}")
        for name in ("from_time", "to_time"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                object.__setattr__(self, name, value.replace(tzinfo=UTC))
        if self.from_time and self.to_time and self.from_time > self.to_time:
            raise InvalidQuery("from_time is after to_time")
        unknown = set(self.contracts) - set(CONTRACTS)
        if unknown:
            raise InvalidQuery(f"unknown contract(s) {sorted(unknown)}; expected some of {list(CONTRACTS)}")
        if self.merchant_key is not None and len(self.merchant_key) != 32:
            raise InvalidQuery("merchant_key: expected 32 bytes")


@dataclass(frozen=True)
class EventPage:
    """One page of events; ``next_cursor`` is None on the last page."""

    events: list[ChainEvent]
    next_cursor: str | None = None
    filters: dict[str, Any] = field(default_factory=dict)


def encode_cursor(block_number: int, log_index: int) -> str:
    """An opaque keyset cursor: the position after which the next page starts."""
    return base64.urlsafe_b64encode(f"{block_number}:{log_index}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        block, index = base64.urlsafe_b64decode(padded.encode()).decode().split(":")
        return int(block), int(index)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidQuery(f"cursor {shown(cursor, 60)} is not a cursor this API issued") from exc


def query_events(engine: Engine, filters: EventFilter, *, limit: int = 100, cursor: str | None = None) -> EventPage:
    """Events matching ``filters`` in chain order, keyset-paginated by (block, log index)."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidQuery(f"limit: expected 1..{MAX_PAGE}, got {limit}")
    c = chain_events.c
    stmt = sa.select(chain_events)
    if filters.chain_id is not None:
        stmt = stmt.where(c.chain_id == filters.chain_id)
    if filters.contracts:
        stmt = stmt.where(c.contract.in_(filters.contracts))
    if filters.events:
        stmt = stmt.where(c.event.in_(filters.events))
    if filters.from_block is not None:
        stmt = stmt.where(c.block_number >= filters.from_block)
    if filters.to_block is not None:
        stmt = stmt.where(c.block_number <= filters.to_block)
    if filters.from_time is not None:
        stmt = stmt.where(c.block_time >= filters.from_time)
    if filters.to_time is not None:
        stmt = stmt.where(c.block_time <= filters.to_time)
    if filters.round_id is not None:
        stmt = stmt.where(c.round_id == filters.round_id)
    if filters.model_version is not None:
        stmt = stmt.where(c.model_version == filters.model_version)
    if filters.policy_version is not None:
        stmt = stmt.where(c.policy_version == filters.policy_version)
    if filters.merchant_key is not None:
        stmt = stmt.where(c.merchant_key == filters.merchant_key)
    if cursor:
        block, index = decode_cursor(cursor)
        stmt = stmt.where(sa.or_(c.block_number > block, sa.and_(c.block_number == block, c.log_index > index)))
    stmt = stmt.order_by(c.block_number, c.log_index, c.chain_id).limit(limit + 1)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    events = [_row_event(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = events[-1]
        next_cursor = encode_cursor(last.block_number, last.log_index)
    return EventPage(events, next_cursor)


def _row_event(row: sa.Row[Any]) -> ChainEvent:
    m = row._mapping
    args = m["args"]
    if isinstance(args, str):  # some drivers hand JSON back as text
        args = json.loads(args)
    return ChainEvent(
        chain_id=int(m["chain_id"]),
        block_number=int(m["block_number"]),
        block_hash=bytes(m["block_hash"]),
        tx_hash=bytes(m["tx_hash"]),
        log_index=int(m["log_index"]),
        contract=m["contract"],
        address=m["address"],
        event=m["event"],
        args=args,
        block_time=m["block_time"],
    )


def count_events(engine: Engine, chain_id: int | None = None) -> dict[str, int]:
    """Indexed events per event name (for status pages and tests)."""
    stmt = sa.select(chain_events.c.event, sa.func.count()).group_by(chain_events.c.event)
    if chain_id is not None:
        stmt = stmt.where(chain_events.c.chain_id == chain_id)
    with engine.connect() as conn:
        return {str(name): int(n) for name, n in conn.execute(stmt)}


def iter_all(engine: Engine, filters: EventFilter, page_size: int = MAX_PAGE) -> Iterable[ChainEvent]:
    """Every matching event, page by page (for exports)."""
    cursor: str | None = None
    while True:
        page = query_events(engine, filters, limit=page_size, cursor=cursor)
        yield from page.events
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
