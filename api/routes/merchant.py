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

A merchant may also broadcast the signed transaction itself; then the dispute
is on-chain at once and appears here when the indexer mirrors it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from eth_account import Account
from fastapi import APIRouter, Depends, Path, status
from web3.exceptions import ContractCustomError, ContractLogicError, ContractPanicError
from web3.logs import DISCARD

from api.auth import MerchantPrincipal, require_merchant
from api.deps import Services, get_services
from api.errors import BadRequest, Conflict, Forbidden, NotFoundError, ServiceUnavailable, errors
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
from ledger.chain import TransactionReverted, describe_revert
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
    return MerchantMe(
        merchantKey=_hex(record.key) or "", account=record.account, kind=record.kind, status=record.status
    )  # type: ignore[arg-type]


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
    store = services.store()
    contracts = services.contracts()
    chain = contracts.chain
    proof = store.proof(row.round_id, me.key)
    fn = contracts.ledger.functions.fileDispute(row.to_leaf().to_abi_tuple(), proof, body.reason)
    sender = me.principal.address
    try:
        chain.call(fn, sender)
    except TransactionReverted as exc:
        raise Conflict(
            f"the ledger would refuse this dispute: {describe_revert(exc.error, exc.args_)}", code="dispute_refused"
        ) from None
    tx = fn.build_transaction(
        {
            "from": sender,
            "chainId": chain.chain_id,
            "nonce": chain.w3.eth.get_transaction_count(sender, "pending"),
            "gasPrice": max(chain.w3.eth.gas_price, 1),
        }
    )
    return DisputePrepareResponse(
        transaction=UnsignedTransaction.model_validate(
            {
                "to": tx["to"],
                "data": tx["data"],
                "chainId": chain.chain_id,
                "nonce": tx["nonce"],
                # headroom over the estimate, as ledger.chain does for its own transactions
                "gas": int(tx["gas"] * 1.2) + 10_000,
                "gasPrice": tx["gasPrice"],
                "value": 0,
                "from": sender,
            }
        ),
        leafHash=_hex(row.leaf_hash) or "",
        round=row.round_id,
    )


def _decode_raw(raw: bytes) -> dict[str, Any]:
    """``to``, ``data`` and the other fields of a signed legacy or typed transaction."""
    import rlp
    from eth_account.typed_transactions import TypedTransaction

    try:
        if raw and raw[0] >= 0xC0:  # legacy: an RLP list
            nonce, gas_price, gas, to, value, data, _v, _r, _s = rlp.decode(raw)
            return {"to": "0x" + bytes(to).hex(), "data": bytes(data), "value": int.from_bytes(value, "big")}
        fields = TypedTransaction.from_bytes(raw).as_dict()
        to = fields.get("to") or b""
        return {
            "to": to if isinstance(to, str) else "0x" + bytes(to).hex(),
            "data": bytes(fields.get("data") or b""),
            "value": int(fields.get("value") or 0),
        }
    except Exception as exc:  # rlp and eth_account raise many types for garbage
        raise BadRequest(f"not a signed transaction: {type(exc).__name__}", code="invalid_transaction") from None


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
    raw = bytes.fromhex(raw_hex)
    try:
        signer = Account.recover_transaction(raw)
    except Exception:
        raise BadRequest("cannot recover the transaction's signer", code="invalid_transaction") from None
    if signer.lower() != me.principal.address.lower():
        raise Forbidden("the transaction is not signed by the signed-in account", code="wrong_signer")
    fields = _decode_raw(raw)
    contracts = services.contracts()
    chain = contracts.chain
    ledger = contracts.ledger
    if fields["to"].lower() != ledger.address.lower() or fields["value"] != 0:
        raise BadRequest("the transaction is not a call to this ledger's CreditLedger", code="invalid_transaction")
    try:
        fn, args = ledger.decode_function_input(fields["data"])
    except ValueError:
        raise BadRequest("the transaction does not call a CreditLedger function", code="invalid_transaction") from None
    if fn.fn_name != "fileDispute":
        raise BadRequest(f"the transaction calls {fn.fn_name}, not fileDispute", code="invalid_transaction")
    leaf = args["leaf"]
    merchant_key = bytes(leaf[0] if isinstance(leaf, (list, tuple)) else leaf["merchantKey"])
    if merchant_key != me.key:
        raise Forbidden("the transaction disputes another merchant's decision", code="not_your_decision")

    # Simulate before broadcasting: a reverting dispute is a 409, not a mined failure.
    try:
        chain.w3.eth.call({"from": signer, "to": ledger.address, "data": "0x" + fields["data"].hex()})
    except (ContractCustomError, ContractLogicError, ContractPanicError) as exc:
        reverted = chain._reverted(exc, "fileDispute")  # decodes the custom error's name
        raise Conflict(
            f"the ledger refuses this dispute: {describe_revert(reverted.error, reverted.args_)}",
            code="dispute_refused",
        ) from None
    try:
        tx_hash = bytes(chain.w3.eth.send_raw_transaction(raw))
    except ValueError as exc:  # node-side rejection: nonce too low, underpriced...
        raise Conflict(f"the node refused the transaction: {exc}", code="transaction_rejected") from None
    receipt = chain.wait(tx_hash, timeout=60)
    if receipt["status"] != 1:
        raise Conflict(f"the dispute transaction 0x{tx_hash.hex()} reverted", code="dispute_refused")
    events = ledger.events.DisputeFiled().process_receipt(receipt, errors=DISCARD)
    if not events:
        raise ServiceUnavailable("the dispute was mined but emitted no DisputeFiled event", code="chain_error")
    event = events[0]["args"]
    row = services.store().add_dispute(
        int(event["disputeId"]),
        int(event["round"]),
        bytes(event["merchantKey"]),
        bytes(event["leafHash"]),
        str(event["reason"]),
        filed_tx=tx_hash,
    )
    return _dispute_model(row)
