"""Merchant routes: a signed-in merchant's own identity, decisions with proof bundles, and disputes.

Every query is keyed by the merchant key the chain binds to the caller's account
(:func:`api.auth.require_merchant`), never by anything in the request, so one
merchant cannot name another's records: a round is looked up only among the
caller's own decisions, and a dispute transaction is relayed only if it was
signed by the caller and disputes the caller's own leaf.

Disputes take two calls, so the merchant's key never leaves its wallet:

1. ``POST /merchant/disputes/prepare`` ``{round, reason}`` answers the unsigned
   ``CreditLedger.fileDispute(leaf, proof, reason)`` transaction (nonce, gas, gas
   price and chain id filled in) for the wallet to sign;
2. ``POST /merchant/disputes`` ``{signedTransaction}`` checks it (chain id, nonce,
   gas, price, value, a simulated call: what the node would accept but never mine is
   refused), relays it and waits a bounded time for it to be mined: 201 with the
   dispute recorded from its ``DisputeFiled`` event, or 202 with the dispute
   "pending" (no id yet) once ``ApiConfig.relay_receipt_wait_seconds`` have passed.
   ``GET /merchant/disputes`` lists a pending dispute as "pending" until it is mined.

Both steps are :class:`ledger.relay.DisputeRelay`'s; the routes parse the request,
call it and map its refusals to HTTP errors (``_RELAY_STATUS``: 400 a malformed or
wrong transaction, 403 someone else's, 409 refused by the chain's state, each with
its code and hint). The relay route is ``async`` and bounded by
:class:`api.relay_gate.RelayGate`: its wait holds no thread, one relay per merchant
at a time (429) and a few in all (503), so relays can never starve other routes.

A merchant may also broadcast the signed transaction itself; then the dispute
is on-chain at once and appears here when the indexer mirrors it.
"""

from __future__ import annotations

from functools import lru_cache, partial
from typing import Any

from fastapi import APIRouter, Depends, Path, Response, status

from api.auth import MerchantPrincipal, require_merchant
from api.deps import Services, get_services
from api.errors import ApiError, BadRequest, Conflict, Forbidden, NotFoundError, ServiceUnavailable, errors
from api.relay_gate import RelayGate, relay_gate
from api.schemas import (
    DecisionModel,
    DisputeModel,
    DisputePrepareRequest,
    DisputePrepareResponse,
    DisputeSubmitRequest,
    HistoryResponse,
    MerchantMe,
    Names,
    ReasonModel,
    UnsignedTransaction,
)
from ledger.bundle import BundleError, bundle_from_store
from ledger.relay import (
    DisputeNotRecorded,
    DisputeRefused,
    DisputeRelay,
    InvalidTransaction,
    NotYourDecision,
    RelayError,
    TransactionRejected,
    WrongSigner,
)
from ledger.store import DecisionRow, DisputeRow, NotFound, PendingDisputeRow

router = APIRouter(prefix="/merchant", tags=["merchant"], responses=errors(401, 403, 503))

#: Round ids are int64 in the store; larger ones cannot name a decision.
MAX_ROUND = 2**63 - 1
RoundPath = Path(ge=0, le=MAX_ROUND, description="Round number", examples=[1])


def _hex(b: bytes | None) -> str | None:
    return None if b is None else "0x" + b.hex()


@lru_cache(maxsize=1)
def _texts() -> tuple[Any, Any]:
    # Imported on first use: the scoring package is heavy to import and only
    # its name tables are needed here.
    from scoring.policy import product_names
    from scoring.reasons import describe

    return product_names, describe


def _decision_model(services: Services, row: DecisionRow) -> DecisionModel:
    product_names, describe = _texts()
    contracts = services.contracts()
    try:
        bundle: dict[str, Any] | None = bundle_from_store(
            services.store(),
            row.round_id,
            row.merchant_key,
            chain_id=contracts.chain.chain_id,
            contract=contracts.ledger.address,
        )
    except BundleError:
        bundle = None  # built but not anchored yet
    reasons = [describe(code) for code in row.reason_codes if code != 0]
    return DecisionModel(
        round=row.round_id,
        score=row.score,
        limitCny=row.limit_cny,
        productMask=row.product_mask,
        products=Names(zh=product_names(row.product_mask, "zh"), en=product_names(row.product_mask, "en")),
        reasons=[ReasonModel(code=r.code, zh=r.zh, en=r.en) for r in reasons],
        modelVersion=row.model_version,
        policyVersion=row.policy_version,
        leafHash=_hex(row.leaf_hash) or "",
        prevLeafHash=_hex(row.prev_leaf_hash) or "",
        anchored=bundle is not None,
        bundle=bundle,
    )


def _own_decision(services: Services, me: MerchantPrincipal, round_id: int) -> DecisionRow:
    try:
        return services.store().decision(round_id, me.key)
    except NotFound:
        raise NotFoundError(f"you have no decision in round {round_id}") from None


@router.get("/me", response_model=MerchantMe, summary="The signed-in merchant's on-chain identity")
def me(me: MerchantPrincipal = Depends(require_merchant)) -> MerchantMe:
    record = me.record
    # kind and status are the chain enums' labels: validated into the schema's literals
    return MerchantMe.model_validate(
        {"merchantKey": _hex(record.key) or "", "account": record.account, "kind": record.kind, "status": record.status}
    )


@router.get(
    "/history", response_model=HistoryResponse, summary="Every decision, oldest first, each with its proof bundle"
)
def history(
    me: MerchantPrincipal = Depends(require_merchant), services: Services = Depends(get_services)
) -> HistoryResponse:
    """The merchant's decisions in hash-chain order: each leaf's ``prevLeafHash`` is the previous one's ``leafHash``."""
    rows = services.store().decisions_for_merchant(me.key)
    return HistoryResponse(merchantKey=_hex(me.key) or "", decisions=[_decision_model(services, r) for r in rows])


@router.get(
    "/decisions/{round}",
    response_model=DecisionModel,
    summary="One decision and its proof bundle",
    responses=errors(404, 422),
)
def decision(
    round: int = RoundPath,
    me: MerchantPrincipal = Depends(require_merchant),
    services: Services = Depends(get_services),
) -> DecisionModel:
    """404 when the signed-in merchant has no decision in that round (whoever else may have one)."""
    return _decision_model(services, _own_decision(services, me, round))


# -- disputes ------------------------------------------------------------------


def _dispute_model(row: DisputeRow) -> DisputeModel:
    return DisputeModel(
        disputeId=row.dispute_id,
        round=row.round_id,
        merchantKey=_hex(row.merchant_key) or "",
        leafHash=_hex(row.leaf_hash) or "",
        reason=row.reason,
        status=row.status,
        filedTx=_hex(row.filed_tx),
    )


def _pending_model(row: PendingDisputeRow) -> DisputeModel:
    return DisputeModel(
        disputeId=None,  # the contract numbers a dispute when its transaction is mined
        round=row.round_id,
        merchantKey=_hex(row.merchant_key) or "",
        leafHash=_hex(row.leaf_hash) or "",
        reason=row.reason,
        status="pending",
        filedTx=_hex(row.tx_hash),
    )


@router.get("/disputes", response_model=list[DisputeModel], summary="The merchant's disputes")
def list_disputes(
    me: MerchantPrincipal = Depends(require_merchant), services: Services = Depends(get_services)
) -> list[DisputeModel]:
    """The merchant's disputes by id, then its relayed ones not mined yet (status "pending", no id).

    A pending one is looked up on the chain first: once mined, it is recorded and listed
    with its id; one that reverted, or whose nonce another transaction took, is no
    longer listed (it filed nothing).
    """
    waiting = _relay(services).settle_pending(me.key)
    filed = services.store().disputes(merchant_key=me.key)
    return [_dispute_model(d) for d in filed] + [_pending_model(p) for p in waiting]


def _relay(services: Services) -> DisputeRelay:
    return DisputeRelay(services.contracts(), services.store())


#: The HTTP error of each relay refusal (its ``code`` and hint are kept); the first match
#: wins, and the subclasses (wrong_chain_id, insufficient_gas...; stale_nonce,
#: future_nonce, underpriced) take their family's status.
_RELAY_STATUS: tuple[tuple[type[RelayError], type[ApiError]], ...] = (
    (InvalidTransaction, BadRequest),
    (WrongSigner, Forbidden),
    (NotYourDecision, Forbidden),
    (DisputeRefused, Conflict),
    (TransactionRejected, Conflict),
    (DisputeNotRecorded, ServiceUnavailable),
)


def _http_error(exc: RelayError) -> ApiError:
    status = next((api for relay, api in _RELAY_STATUS if isinstance(exc, relay)), ServiceUnavailable)
    return status(exc.message, code=exc.code, hint=exc.hint)


@router.post(
    "/disputes/prepare",
    response_model=DisputePrepareResponse,
    summary="Step 1: the unsigned fileDispute transaction to sign",
    responses=errors(404, 409, 422),
)
def prepare_dispute(
    body: DisputePrepareRequest,
    me: MerchantPrincipal = Depends(require_merchant),
    services: Services = Depends(get_services),
) -> DisputePrepareResponse:
    """Build ``CreditLedger.fileDispute(leaf, proof, reason)`` from the caller's account.

    The call is simulated first, so a dispute the contract would refuse (one
    already open, a suspended merchant) is a 409 here rather than a wasted transaction.
    """
    if body.round > MAX_ROUND:
        raise NotFoundError(f"you have no decision in round {body.round}")
    row = _own_decision(services, me, body.round)
    proof = services.store().proof(row.round_id, me.key)
    try:
        tx = _relay(services).prepare(row.to_leaf(), proof, body.reason, sender=me.principal.address)
    except RelayError as exc:
        raise _http_error(exc) from None
    return DisputePrepareResponse(
        transaction=UnsignedTransaction.model_validate(tx),
        leafHash=_hex(row.leaf_hash) or "",
        round=row.round_id,
    )


@router.post(
    "/disputes",
    response_model=DisputeModel,
    status_code=status.HTTP_201_CREATED,
    summary="Step 2: relay the signed fileDispute transaction and record the dispute",
    responses={
        status.HTTP_202_ACCEPTED: {
            "model": DisputeModel,
            "description": 'Relayed but not mined within the wait: the dispute is "pending" (no id yet)',
        },
        **errors(400, 409, 422, 429),
    },
)
async def submit_dispute(
    body: DisputeSubmitRequest,
    response: Response,
    me: MerchantPrincipal = Depends(require_merchant),
    services: Services = Depends(get_services),
    gate: RelayGate = Depends(relay_gate),
) -> DisputeModel:
    """Relay only a ``fileDispute`` to this ledger, signed by the caller, of the caller's own leaf.

    201 once it is mined and recorded; 202 ("pending") if it is not mined within the
    server's wait; 429 while another relay of the caller is in flight, 503 when the
    server relays as many as it will at once (both with ``Retry-After``).
    """
    raw_hex = body.signedTransaction[2:]
    if len(raw_hex) % 2:
        raise BadRequest("signedTransaction has an odd number of hex digits", code="invalid_transaction")
    with gate.admit(me.key) as deadline:
        try:
            relay = await gate.run(partial(_relay, services))
            pending = await gate.run(
                partial(relay.relay, bytes.fromhex(raw_hex), signer_must_be=me.principal.address, merchant_key=me.key)
            )
            dispute = await gate.poll(partial(relay.settle, pending), deadline)
        except RelayError as exc:
            raise _http_error(exc) from None
    if dispute is None:
        response.status_code = status.HTTP_202_ACCEPTED
        return _pending_model(pending)
    return _dispute_model(dispute)
