"""Merchant routes: a signed-in merchant's own identity, decisions with proof bundles, and disputes.

Every query is keyed by the merchant key the chain binds to the caller's account
(:func:`api.auth.require_merchant`), never by anything in the request, so one
merchant cannot name another's records: a round is looked up only among the
caller's own decisions, and a dispute transaction is relayed only if it was
signed by the caller and disputes the caller's own leaf.

Disputes take two calls, so the merchant's key never leaves its wallet:

1. ``POST /merchant/disputes/prepare`` ``{round, reason}`` answers the unsigned
   ``CreditLedger.fileDispute(leaf, proof, reason)`` transaction (nonce, gas and
   chain id filled in) for the wallet to sign;
2. ``POST /merchant/disputes`` ``{signedTransaction}`` checks it, relays it,
   waits for it to be mined and records the ``DisputeFiled`` event in the store.

Both steps are :class:`ledger.relay.DisputeRelay`'s; the routes parse the request,
call it and map its refusals to HTTP errors (``invalid_transaction`` 400,
``wrong_signer`` and ``not_your_decision`` 403, ``dispute_refused`` and
``transaction_rejected`` 409, ``chain_error`` 503).

A merchant may also broadcast the signed transaction itself; then the dispute
is on-chain at once and appears here when the indexer mirrors it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Depends, Path, status

from api.auth import MerchantPrincipal, require_merchant
from api.deps import Services, get_services
from api.errors import ApiError, BadRequest, Conflict, Forbidden, NotFoundError, ServiceUnavailable, errors
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
    RECEIPT_TIMEOUT_SECONDS,
    DisputeNotRecorded,
    DisputeRefused,
    DisputeRelay,
    InvalidTransaction,
    NotYourDecision,
    RelayError,
    TransactionRejected,
    WrongSigner,
)
from ledger.store import DecisionRow, DisputeRow, NotFound

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


@router.get("/disputes", response_model=list[DisputeModel], summary="The merchant's disputes")
def list_disputes(
    me: MerchantPrincipal = Depends(require_merchant), services: Services = Depends(get_services)
) -> list[DisputeModel]:
    return [_dispute_model(d) for d in services.store().disputes(merchant_key=me.key)]


def _relay(services: Services) -> DisputeRelay:
    return DisputeRelay(services.contracts(), services.store())


#: The HTTP error of each relay refusal (its ``code`` is kept).
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
    return status(exc.message, code=exc.code)


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
    responses=errors(400, 409, 422),
)
def submit_dispute(
    body: DisputeSubmitRequest,
    me: MerchantPrincipal = Depends(require_merchant),
    services: Services = Depends(get_services),
) -> DisputeModel:
    """Relay only a ``fileDispute`` to this ledger, signed by the caller, of the caller's own leaf."""
    raw_hex = body.signedTransaction[2:]
    if len(raw_hex) % 2:
        raise BadRequest("signedTransaction has an odd number of hex digits", code="invalid_transaction")
    try:
        relayed = _relay(services).relay(
            bytes.fromhex(raw_hex),
            signer_must_be=me.principal.address,
            merchant_key=me.key,
            timeout=RECEIPT_TIMEOUT_SECONDS,
        )
    except RelayError as exc:
        raise _http_error(exc) from None
    return _dispute_model(relayed.dispute)
