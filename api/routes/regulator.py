"""Regulator routes: contract events, approval aggregates, the model and policy timeline.

Every route needs ``REGULATOR_ROLE`` on-chain (checked per request by
:func:`api.auth.require_role`).

Events are served from the indexer's tables (:mod:`ledger.indexer`), never by
scanning the chain per request. Freshness: each events/timeline request first runs
an incremental :meth:`Indexer.sync` (from the stored cursor to the head: usually one
``eth_getLogs`` call), serialised by a lock; if the node does not answer, the request
is served from the index as it stands and the response says ``"synced": false``
(header ``X-Index-Synced: false`` on CSV). Pass ``sync=false`` to skip the catch-up.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, StreamingResponse
from web3.exceptions import Web3RPCError

from api.auth import require_role
from api.deps import Services, get_services
from api.errors import BadRequest, ServiceUnavailable, errors
from audit import regulator as aggregates
from ledger.chain import rpc_error_message
from ledger.indexer import (
    MAX_PAGE,
    ChainEvent,
    EventFilter,
    Indexer,
    IndexerError,
    IndexerUnavailable,
    InvalidQuery,
    iter_all,
    query_events,
)
from ledger.roles import Role

router = APIRouter(
    prefix="/regulator",
    tags=["regulator"],
    dependencies=[Depends(require_role(Role.REGULATOR))],
    responses=errors(400, 401, 403, 422, 503),
)

log = logging.getLogger("credit_ledger.api")
_HEX32 = re.compile(r"^0x[0-9a-fA-F]{64}$")
_sync_lock = threading.Lock()
CSV_COLUMNS = ("chain_id", "block_number", "block_time", "tx_hash", "log_index", "contract", "address", "event", "args")


def sync_index(services: Services) -> tuple[bool, str | None]:
    """Catch the index up with the chain; (False, reason) when that is not possible now.

    The reason goes into the response body, so it is the API's own words (or the
    node's, for an RPC error), never a library's message: the details go to the log.
    """
    try:
        contracts = services.contracts()
        with _sync_lock:
            Indexer(services.store().engine, contracts, retries=1).sync()
        return True, None
    except IndexerUnavailable as exc:  # its message carries the connection library's own text
        log.warning("index sync: %s", exc)
        return False, "the chain node does not answer; the events are the index's as last synced"
    except IndexerError as exc:
        return False, exc.message
    except ServiceUnavailable as exc:
        return False, exc.message
    except Web3RPCError as exc:  # the node answered, but not with logs (e.g. a range it refuses)
        return False, f"the node refused to serve events: {rpc_error_message(exc)}"
    except OSError as exc:  # ConnectionError and every requests error
        log.warning("index sync: %s: %s", type(exc).__name__, exc)
        return (
            False,
            f"the chain node does not answer ({type(exc).__name__}); the events are the index's as last synced",
        )


def _chain_id(services: Services) -> int | None:
    """The configured chain id, else the node's; None (all chains) if neither is known now."""
    if services.settings.chain_id is not None:
        return services.settings.chain_id
    try:
        return services.chain().chain_id
    except Exception:  # noqa: BLE001 - node down: the index still answers
        return None


def _filters(
    services: Services,
    contract: list[str] | None,
    event: list[str] | None,
    from_block: int | None,
    to_block: int | None,
    from_time: datetime | None,
    to_time: datetime | None,
    round_id: int | None,
    model_version: int | None,
    policy_version: int | None,
    merchant_key: str | None,
) -> EventFilter:
    if merchant_key is not None and not _HEX32.match(merchant_key):
        raise BadRequest("merchant_key: expected 0x followed by 64 hex digits", code="invalid_parameter")
    chain_id = _chain_id(services)
    try:
        return EventFilter(
            chain_id=chain_id,
            contracts=tuple(contract or ()),
            events=tuple(event or ()),
            from_block=from_block,
            to_block=to_block,
            from_time=from_time,
            to_time=to_time,
            round_id=round_id,
            model_version=model_version,
            policy_version=policy_version,
            merchant_key=bytes.fromhex(merchant_key[2:]) if merchant_key else None,
        )
    except InvalidQuery as exc:
        raise BadRequest(str(exc), code="invalid_parameter") from None


def _csv_lines(events: Iterable[ChainEvent]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for e in events:
        j = e.to_json()
        writer.writerow([j[c] if c != "args" else json.dumps(j["args"], sort_keys=True) for c in CSV_COLUMNS])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


class _Params:
    """The event filter query parameters shared by the page and the export routes."""

    def __init__(
        self,
        contract: list[str] | None = Query(
            None,
            description="Contract name(s): CreditLedger, ModelRegistry, PolicyRegistry, IdentityRegistry, PolicyTimelock",
        ),
        event: list[str] | None = Query(None, description="Event name(s), e.g. BatchAnchored, PolicyActivated"),
        from_block: int | None = Query(None, ge=0, le=2**63 - 1),
        to_block: int | None = Query(None, ge=0, le=2**63 - 1),
        from_time: datetime | None = Query(None, description="ISO-8601, inclusive (block time)"),
        to_time: datetime | None = Query(None, description="ISO-8601, inclusive (block time)"),
        round: int | None = Query(None, ge=0, le=2**63 - 1, description="Round number"),
        model_version: int | None = Query(None, ge=0, le=2**32 - 1),
        policy_version: int | None = Query(None, ge=0, le=2**32 - 1),
        merchant_key: str | None = Query(None, description="0x-hex bytes32 merchant key"),
        sync: bool = Query(True, description="Catch the index up with the chain before answering"),
    ) -> None:
        self.contract = contract
        self.event = event
        self.from_block = from_block
        self.to_block = to_block
        self.from_time = from_time
        self.to_time = to_time
        self.round_id = round
        self.model_version = model_version
        self.policy_version = policy_version
        self.merchant_key = merchant_key
        self.sync = sync

    def filters(self, services: Services) -> EventFilter:
        return _filters(
            services,
            contract=self.contract,
            event=self.event,
            from_block=self.from_block,
            to_block=self.to_block,
            from_time=self.from_time,
            to_time=self.to_time,
            round_id=self.round_id,
            model_version=self.model_version,
            policy_version=self.policy_version,
            merchant_key=self.merchant_key,
        )


@router.get("/events", summary="Contract events, filtered and paginated (JSON or CSV)")
def events(
    params: _Params = Depends(),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    cursor: str | None = Query(None, max_length=200, description="next_cursor of the previous page"),
    format: Literal["json", "csv"] = Query("json"),
    services: Services = Depends(get_services),
) -> Any:
    """One page of events in chain order; follow ``next_cursor`` for the next page."""
    filters = params.filters(services)
    synced, why = sync_index(services) if params.sync else (False, "not requested")
    try:
        page = query_events(services.store().engine, filters, limit=limit, cursor=cursor)
    except InvalidQuery as exc:
        raise BadRequest(str(exc), code="invalid_parameter") from None
    if format == "csv":
        headers = {"X-Index-Synced": str(synced).lower()}
        if page.next_cursor:
            headers["X-Next-Cursor"] = page.next_cursor
        return StreamingResponse(_csv_lines(page.events), media_type="text/csv", headers=headers)
    return JSONResponse(
        {
            "events": [e.to_json() for e in page.events],
            "next_cursor": page.next_cursor,
            "synced": synced,
            **({"sync_error": why} if not synced and params.sync else {}),
        }
    )


@router.get("/events/export", summary="Every matching event at once (CSV or JSON), streamed")
def export_events(
    params: _Params = Depends(),
    format: Literal["json", "csv"] = Query("csv"),
    services: Services = Depends(get_services),
) -> StreamingResponse:
    """All matching events, no pagination: for a regulator's own analysis."""
    filters = params.filters(services)
    synced, _ = sync_index(services) if params.sync else (False, None)
    engine = services.store().engine
    headers = {"X-Index-Synced": str(synced).lower(), "Content-Disposition": f"attachment; filename=events.{format}"}
    if format == "csv":
        return StreamingResponse(_csv_lines(iter_all(engine, filters)), media_type="text/csv", headers=headers)

    def _json_lines() -> Iterator[str]:
        yield "["
        for i, e in enumerate(iter_all(engine, filters)):
            yield ("," if i else "") + json.dumps(e.to_json())
        yield "]"

    return StreamingResponse(_json_lines(), media_type="application/json", headers=headers)


@router.get("/aggregates/approvals", summary="Approvals and limits by round, segment, region, industry")
def approvals(
    group_by: list[Literal["round", "segment", "region", "industry"]] = Query(["round"]),
    from_round: int | None = Query(None, ge=0, le=2**63 - 1),
    to_round: int | None = Query(None, ge=0, le=2**63 - 1),
    segment: Literal["merchant", "farmer"] | None = Query(None),
    services: Services = Depends(get_services),
) -> dict[str, Any]:
    """Counts of approved / declined / unscored decisions, total and mean limit, mean score per group
    (anchored rounds only; no merchant identities)."""
    try:
        rows = aggregates.approvals(
            services.store().engine, group_by, from_round=from_round, to_round=to_round, segment=segment
        )
    except InvalidQuery as exc:
        raise BadRequest(str(exc), code="invalid_parameter") from None
    return {"group_by": list(dict.fromkeys(group_by)), "rows": [r.to_json() for r in rows]}


@router.get("/timeline", summary="Model and policy changes, in chain order")
def timeline(
    segment: Literal["merchant", "farmer"] | None = Query(None),
    sync: bool = Query(True),
    services: Services = Depends(get_services),
) -> dict[str, Any]:
    """Every model registration/activation/retirement and policy proposal/activation/supersession/cancellation."""
    synced, _ = sync_index(services) if sync else (False, None)
    try:
        entries = aggregates.timeline(services.store().engine, _chain_id(services), segment)
    except InvalidQuery as exc:
        raise BadRequest(str(exc), code="invalid_parameter") from None
    return {"timeline": entries, "synced": synced}
